export { Worker, ANY_KEYWORD, DEFAULT_GRACE_PERIOD, type Handler, type HandlerContext, type WorkerOptions } from "./worker";
export { Verdict } from "./verdict";
export { VerdictError } from "./checks";
export { EventContext, SmtpEvent } from "./event";
export { addressIn, sameAddress } from "./address";
export { type Logger, stderrLogger, LOG_LEVELS } from "./log";
export { type ServeArgs, parseServeArgs, writeReadyFile, DEFAULT_LISTEN } from "./main";
export { type TlsFiles, tlsServerCredentials } from "./tls";
export { WorkerError, toServiceError } from "./errors";
export { EventType, CacheScope, OutboundState, Action, ALL_EVENT_TYPES, eventName } from "./types";
/** The generated protobuf messages and gRPC service definitions, for anything the wrappers don't cover. */
export * as proto from "./proto";
