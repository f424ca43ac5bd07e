export { Worker, ANY_KEYWORD, type Handler, type HandlerContext, type Logger, type WorkerOptions } from "./worker";
export { Verdict } from "./verdict";
export { SmtpEvent } from "./event";
export { WorkerError, toServiceError } from "./errors";
export { EventType, CacheScope, OutboundState, Action, ALL_EVENT_TYPES, eventName } from "./types";
/** The generated protobuf messages and gRPC service definitions, for anything the wrappers don't cover. */
export * as proto from "./proto";
