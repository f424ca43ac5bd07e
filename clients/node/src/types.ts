// Short, idiomatic names for the proto enums (EventType.INBOUND_COMMAND rather than
// EventType.EVENT_TYPE_INBOUND_COMMAND). The values are the proto's, so they mix freely.
import * as ev from "./gen/smtpbridge/v1/event";
import * as vd from "./gen/smtpbridge/v1/verdict";

export const EventType = {
  INBOUND_COMMAND: ev.EventType.EVENT_TYPE_INBOUND_COMMAND,
  SESSION_START: ev.EventType.EVENT_TYPE_SESSION_START,
  MESSAGE_START: ev.EventType.EVENT_TYPE_MESSAGE_START,
  PER_RECIPIENT: ev.EventType.EVENT_TYPE_PER_RECIPIENT,
  BEFORE_DATA: ev.EventType.EVENT_TYPE_BEFORE_DATA,
  SESSION_END: ev.EventType.EVENT_TYPE_SESSION_END,
  OUTBOUND_COMMAND: ev.EventType.EVENT_TYPE_OUTBOUND_COMMAND,
  SERVER_RESPONSE: ev.EventType.EVENT_TYPE_SERVER_RESPONSE,
  CONNECT: ev.EventType.EVENT_TYPE_CONNECT,
} as const;
export type EventType = ev.EventType;

/** Every event type, in proto order. */
export const ALL_EVENT_TYPES: readonly EventType[] = Object.values(EventType);

/** "INBOUND_COMMAND" for EventType.INBOUND_COMMAND. */
export function eventName(type: EventType): string {
  return (ev.EventType[type] ?? "EVENT_TYPE_UNSPECIFIED").replace(/^EVENT_TYPE_/, "");
}

export const CacheScope = {
  /** The same command keyword and argument, from any client (the proto default). */
  COMMAND: vd.CacheScope.CACHE_SCOPE_UNSPECIFIED,
  CLIENT_ADDRESS: vd.CacheScope.CACHE_SCOPE_CLIENT_ADDRESS,
  SENDER: vd.CacheScope.CACHE_SCOPE_SENDER,
  RECIPIENT: vd.CacheScope.CACHE_SCOPE_RECIPIENT,
  SESSION: vd.CacheScope.CACHE_SCOPE_SESSION,
} as const;
export type CacheScope = vd.CacheScope;

export const OutboundState = {
  DEFAULT: ev.OutboundState.OUTBOUND_STATE_UNSPECIFIED,
  SESSION_START: ev.OutboundState.OUTBOUND_STATE_SESSION_START,
  MESSAGE_START: ev.OutboundState.OUTBOUND_STATE_MESSAGE_START,
  PER_RECIPIENT: ev.OutboundState.OUTBOUND_STATE_PER_RECIPIENT,
  DATA_OR_BDAT: ev.OutboundState.OUTBOUND_STATE_DATA_OR_BDAT,
  SESSION_END: ev.OutboundState.OUTBOUND_STATE_SESSION_END,
} as const;
export type OutboundState = ev.OutboundState;

export const Action = vd.Action;
export type Action = vd.Action;
