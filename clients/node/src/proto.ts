// The generated code (ts-proto, from proto/ at build time), one namespace per proto file:
// proto.event.Event, proto.verdict.Verdict, proto.sink.PolicySinkClient, ...
export * as event from "./gen/smtpbridge/v1/event";
export * as verdict from "./gen/smtpbridge/v1/verdict";
export * as binding from "./gen/smtpbridge/v1/binding";
export * as sink from "./gen/smtpbridge/v1/sink";
export * as dispatcher from "./gen/smtpbridge/v1/dispatcher";
export * as duration from "./gen/google/protobuf/duration";
