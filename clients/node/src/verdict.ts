import type { MessageEdit, Verdict as VerdictProto } from "./gen/smtpbridge/v1/verdict";
import { checkHeader, checkNoLineBreak, checkReply, VerdictError } from "./checks";
import { Action, CacheScope, OutboundState } from "./types";

/**
 * A chainable builder for the answer to one event:
 *
 *   Verdict.reject(550, "5.7.1", "no thanks").reason("blocklisted").tag("spam")
 *   Verdict.continue().addHeader("X-Scanned", "yes").cacheFor(60, CacheScope.SENDER)
 *
 * Builder methods modify and return the same object. A handler returning nothing continues.
 * Every method checks what it is given and throws a VerdictError for what the host could not
 * send (a 2xx reject, CR/LF in a reply or header, a header name with a space...), so the
 * mistake fails the author's unit test rather than the SMTP session.
 */
export class Verdict {
  private readonly v: VerdictProto;

  private constructor(action: Action) {
    this.v = {
      action,
      reply: undefined,
      command: undefined,
      nextState: OutboundState.DEFAULT,
      edits: [],
      cacheTtl: undefined,
      cacheScope: CacheScope.COMMAND,
      reason: "",
      tags: [],
    };
  }

  private static withReply(action: Action, code: number, enhanced: string, lines: string[]): Verdict {
    const v = new Verdict(action);
    // Code 0 leaves the reply to the host's default for the action.
    return code === 0 ? v : v.withReply(code, enhanced, ...lines);
  }

  /** Let the host proceed (S_OK); rewrites, edits and tags still apply. */
  static continue(): Verdict {
    return new Verdict(Action.ACTION_CONTINUE);
  }
  /** Answer with this reply and consume the command (any class, e.g. a 250 that swallows it). */
  static respond(code: number, enhanced = "", ...lines: string[]): Verdict {
    return Verdict.withReply(Action.ACTION_RESPOND, code, enhanced, lines);
  }
  /** Permanent failure, 5xx; code 0 (or no arguments) leaves the default 550 5.7.1. */
  static reject(code = 0, enhanced = "", ...lines: string[]): Verdict {
    return Verdict.withReply(Action.ACTION_REJECT, code, enhanced, lines);
  }
  /** Transient failure, 4xx; code 0 (or no arguments) leaves the default 451 4.7.1. */
  static tempfail(code = 0, enhanced = "", ...lines: string[]): Verdict {
    return Verdict.withReply(Action.ACTION_TEMPFAIL, code, enhanced, lines);
  }
  /** Say 421 (this reply, or the default) and close the session. */
  static dropSession(code = 0, enhanced = "", ...lines: string[]): Verdict {
    return Verdict.withReply(Action.ACTION_DROP_SESSION, code, enhanced, lines);
  }
  /** PER_RECIPIENT: keep this recipient from the next hop. */
  static skipRecipient(): Verdict {
    return new Verdict(Action.ACTION_SKIP_RECIPIENT);
  }

  /** Set the reply; on a CONTINUE for SERVER_RESPONSE it replaces the reply relayed. */
  withReply(code: number, enhanced = "", ...lines: string[]): this {
    checkReply(this.v.action, code, enhanced, lines);
    this.v.reply = { code, enhancedCode: enhanced, lines };
    return this;
  }
  /** Replace the outbound command line (SEO SetCommand), without CRLF. */
  withCommand(line: string): this {
    checkNoLineBreak("command", line);
    this.rewrite().setCommand = line;
    return this;
  }
  /** Append to the outbound command line (SEO AppendCommand), e.g. " NOTIFY=NEVER". */
  appendCommand(text: string): this {
    checkNoLineBreak("command", text);
    this.rewrite().append = text;
    return this;
  }
  private rewrite() {
    this.v.command ??= { setCommand: "", append: "" };
    return this.v.command;
  }
  /** Where the host's outbound state goes next (SEO SetNextEventState). */
  withNextState(state: OutboundState): this {
    this.v.nextState = state;
    return this;
  }

  private edit(e: MessageEdit): this {
    this.v.edits.push(e);
    return this;
  }
  /** Append a header field at `_EOD` (name: RFC 5322 field name; value: no CR/LF). */
  addHeader(name: string, value: string): this {
    checkHeader(name, value);
    return this.edit({ addHeader: { name, value } });
  }
  /** Insert at a 0-based position (0 = top). */
  insertHeader(index: number, name: string, value: string): this {
    checkHeader(name, value);
    if (!Number.isInteger(index) || index < 0) throw new VerdictError(`header index ${index} is not a non-negative integer`);
    return this.edit({ insertHeader: { index, name, value } });
  }
  /** Change the occurrence-th (1-based; 0 = first) field with this name; "" deletes it. */
  changeHeader(name: string, occurrence: number, value: string): this {
    checkHeader(name, value);
    if (!Number.isInteger(occurrence) || occurrence < 0) throw new VerdictError(`occurrence ${occurrence} is not a non-negative integer`);
    return this.edit({ changeHeader: { name, occurrence, value } });
  }
  deleteHeader(name: string, occurrence = 0): this {
    return this.changeHeader(name, occurrence, "");
  }
  changeSender(address: string, parameters = ""): this {
    checkNoLineBreak("sender", address + parameters);
    return this.edit({ changeSender: { address, parameters } });
  }
  addRecipient(address: string, parameters = ""): this {
    checkNoLineBreak("recipient", address + parameters);
    return this.edit({ addRecipient: { address, parameters } });
  }
  deleteRecipient(address: string): this {
    checkNoLineBreak("recipient", address);
    return this.edit({ deleteRecipient: { address } });
  }
  quarantine(reason: string): this {
    checkNoLineBreak("quarantine reason", reason);
    return this.edit({ quarantine: { reason } });
  }
  /** Accept the message towards the client, then silently drop it. */
  discard(): this {
    return this.edit({ discard: {} });
  }
  /** Replace the body (CRLF line ends, no dot-stuffing); strings are UTF-8. */
  replaceBody(body: Buffer | string): this {
    return this.edit({ replaceBody: { body: Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8") } });
  }
  /**
   * Let the dispatcher reuse this verdict for `ttlSeconds` (seconds, fractions allowed, as in
   * every SDK) for events equivalent under scope.
   */
  cacheFor(ttlSeconds: number, scope: CacheScope = CacheScope.COMMAND): this {
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) throw new VerdictError(`cache ttl ${ttlSeconds} is not a non-negative number of seconds`);
    const nanos = Math.round(ttlSeconds * 1e9);
    this.v.cacheTtl = { seconds: Math.floor(nanos / 1e9), nanos: nanos % 1e9 };
    this.v.cacheScope = scope;
    return this;
  }
  /** Free text for logs and the test-event output. */
  reason(text: string): this {
    this.v.reason = text;
    return this;
  }
  /** Labels for metrics and logs. */
  tag(...tags: string[]): this {
    this.v.tags.push(...tags);
    return this;
  }

  get action(): Action {
    return this.v.action;
  }
  /** The wire form (not a copy). */
  toProto(): VerdictProto {
    return this.v;
  }

  /**
   * Why the host could not send this verdict, or undefined when it can. The builder already
   * refuses such verdicts; this re-checks the reply of one that was changed through toProto().
   */
  validate(): string | undefined {
    const r = this.v.reply;
    if (!r) return undefined;
    try {
      checkReply(this.v.action, r.code, r.enhancedCode, r.lines);
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  }
}
