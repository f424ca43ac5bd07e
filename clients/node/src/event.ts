import type { Header, SmtpReply } from "./gen/smtpbridge/v1/event";
import type { SinkRequest } from "./gen/smtpbridge/v1/sink";
import { EventType, OutboundState, eventName } from "./types";

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

function durationMs(d: { seconds: number; nanos: number } | undefined): number {
  return d ? d.seconds * 1000 + d.nanos / 1e6 : 0;
}

/**
 * One protocol event as a handler sees it: the event, the binding that matched and its
 * sink_properties. Accessors never throw on absent parts of the message; they return empty
 * values, so handlers need no undefined checks.
 */
export class EventContext {
  /** The W3C trace context of this call (gRPC metadata `traceparent`), "" when absent or malformed. */
  readonly traceparent: string;

  constructor(
    readonly request: SinkRequest,
    traceparent = "",
  ) {
    this.traceparent = TRACEPARENT.test(traceparent) ? traceparent : "";
  }

  /** The trace id part of traceparent (32 hex digits), "" without one. */
  get traceId(): string {
    return this.traceparent === "" ? "" : this.traceparent.slice(3, 35);
  }

  private get event() {
    return this.request.event;
  }

  get type(): EventType {
    return this.event?.type ?? 0;
  }
  /** "INBOUND_COMMAND", "CONNECT", ... */
  get typeName(): string {
    return eventName(this.type);
  }
  get id(): string {
    return this.event?.eventId ?? "";
  }
  /** Upper-case command verb ("RCPT", "_EOD"); empty for events without a command. */
  get keyword(): string {
    return this.event?.command?.keyword ?? "";
  }
  /** Everything after the verb, verbatim. */
  get argument(): string {
    return this.event?.command?.argument ?? "";
  }
  get commandLine(): string {
    return this.event?.command?.line ?? "";
  }
  /** True for the `_EOD` pseudo-command, which carries the message. */
  get isEndOfData(): boolean {
    return this.type === EventType.INBOUND_COMMAND && this.keyword === "_EOD";
  }
  get sessionId(): string {
    return this.event?.session?.sessionId ?? "";
  }
  get instance(): number {
    return this.event?.session?.instance ?? 0;
  }
  get clientAddress(): string {
    return this.event?.session?.client?.address ?? "";
  }
  get clientPort(): number {
    return this.event?.session?.client?.port ?? 0;
  }
  get clientHostname(): string {
    return this.event?.session?.client?.hostname ?? "";
  }
  get heloName(): string {
    return this.event?.session?.heloName ?? "";
  }
  get tlsActive(): boolean {
    return this.event?.session?.tls?.active ?? false;
  }
  /** SMTP AUTH identity; empty when not authenticated. */
  get authUser(): string {
    const auth = this.event?.session?.auth;
    return auth?.authenticated ? auth.username : "";
  }
  /** A host attribute (milter macro, Postfix policy attribute). */
  attribute(name: string): string {
    return this.event?.session?.attributes?.[name] ?? "";
  }
  /** MAIL FROM address without angle brackets; empty for the null sender. */
  get sender(): string {
    return this.event?.envelope?.sender ?? "";
  }
  /** Whether MAIL FROM was accepted (tells "no transaction" from `<>`). */
  get hasSender(): boolean {
    return this.event?.envelope?.hasSender ?? false;
  }
  /** An ESMTP parameter of MAIL FROM, e.g. "SIZE" (key case-insensitive). */
  mailParameter(key: string): string {
    return this.event?.envelope?.mailParameters?.[key.toUpperCase()] ?? "";
  }
  /** Recipients accepted so far, in order. */
  get recipients(): readonly string[] {
    return this.event?.envelope?.recipients ?? [];
  }
  /** The recipient a RCPT or PER_RECIPIENT event is about. */
  get recipient(): string {
    return this.event?.envelope?.recipient ?? "";
  }
  get recipientIndex(): number {
    return this.event?.envelope?.recipientIndex ?? 0;
  }
  /** Header fields at `_EOD`. */
  get headers(): readonly Header[] {
    return this.event?.message?.headers ?? [];
  }
  /** Value of the first header field with this name (case-insensitive). */
  header(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.headers.find((h) => h.name.toLowerCase() === lower)?.value;
  }
  /** Body at `_EOD`, up to the binding's body limit. */
  get body(): Buffer {
    return this.event?.message?.body ?? Buffer.alloc(0);
  }
  get bodyTruncated(): boolean {
    return this.event?.message?.bodyTruncated ?? false;
  }
  /** The host's native reply (inbound) or the next hop's reply (SERVER_RESPONSE). */
  get response(): SmtpReply | undefined {
    return this.event?.response;
  }
  /** SERVER_RESPONSE: the outbound state the host goes to next. */
  get nextState(): OutboundState {
    return this.event?.nextState ?? 0;
  }
  get budgetMs(): number {
    return durationMs(this.event?.budget);
  }
  /** Seconds left of the binding's time when the dispatcher sent the call (0: no budget sent). */
  get timeLeft(): number {
    return this.timeLeftMs / 1000;
  }
  /** @deprecated timeLeft is in seconds, as in every SDK. */
  get timeLeftMs(): number {
    return durationMs(this.request.timeLeft);
  }
  get bindingName(): string {
    return this.request.binding?.name ?? "";
  }
  /** One of the binding's sink_properties; `fallback` (default "") when absent. */
  property(key: string, fallback = ""): string {
    return this.properties[key] ?? fallback;
  }
  hasProperty(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.properties, key);
  }
  /** A property split on commas, trimmed, without empty items. */
  propertyList(key: string): string[] {
    return this.property(key)
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  }
  /** An integer property: `fallback` when absent; throws (naming the key) when not an integer. */
  propertyInt(key: string, fallback: number): number {
    const text = this.property(key).trim();
    if (text === "") return fallback;
    if (!/^[+-]?\d+$/.test(text)) throw new Error(`sink property ${key}="${this.property(key)}" is not an integer`);
    return Number(text);
  }
  get properties(): Readonly<Record<string, string>> {
    return this.request.binding?.sinkProperties ?? {};
  }
}

/** @deprecated the event object is EventContext in every SDK. */
export const SmtpEvent = EventContext;
/** @deprecated the event object is EventContext in every SDK. */
export type SmtpEvent = EventContext;
