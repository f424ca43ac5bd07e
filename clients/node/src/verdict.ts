import type { MessageEdit, Verdict as VerdictProto } from "./gen/smtpbridge/v1/verdict";
import { Action, CacheScope, OutboundState } from "./types";

/**
 * A chainable builder for the answer to one event:
 *
 *   Verdict.reject(550, "5.7.1", "no thanks").reason("blocklisted").tag("spam")
 *   Verdict.continue().addHeader("X-Scanned", "yes").cacheFor(60_000, CacheScope.SENDER)
 *
 * Builder methods modify and return the same object. A handler returning nothing continues.
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
    this.v.reply = { code, enhancedCode: enhanced, lines };
    return this;
  }
  /** Replace the outbound command line (SEO SetCommand), without CRLF. */
  withCommand(line: string): this {
    this.rewrite().setCommand = line;
    return this;
  }
  /** Append to the outbound command line (SEO AppendCommand), e.g. " NOTIFY=NEVER". */
  appendCommand(text: string): this {
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
  addHeader(name: string, value: string): this {
    return this.edit({ addHeader: { name, value } });
  }
  /** Insert at a 0-based position (0 = top). */
  insertHeader(index: number, name: string, value: string): this {
    return this.edit({ insertHeader: { index, name, value } });
  }
  /** Change the occurrence-th (1-based; 0 = first) field with this name; "" deletes it. */
  changeHeader(name: string, occurrence: number, value: string): this {
    return this.edit({ changeHeader: { name, occurrence, value } });
  }
  deleteHeader(name: string, occurrence = 0): this {
    return this.changeHeader(name, occurrence, "");
  }
  changeSender(address: string, parameters = ""): this {
    return this.edit({ changeSender: { address, parameters } });
  }
  addRecipient(address: string, parameters = ""): this {
    return this.edit({ addRecipient: { address, parameters } });
  }
  deleteRecipient(address: string): this {
    return this.edit({ deleteRecipient: { address } });
  }
  quarantine(reason: string): this {
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
  /** Let the dispatcher reuse this verdict for ttlMs for events equivalent under scope. */
  cacheFor(ttlMs: number, scope: CacheScope = CacheScope.COMMAND): this {
    const ms = Math.max(0, Math.round(ttlMs));
    this.v.cacheTtl = { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
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
   * Why the host could not send this verdict's reply, or undefined when it can: a code outside
   * 200..599, a reject that is not 5xx, a tempfail that is not 4xx, an enhanced code of another
   * class. The worker checks every verdict before sending it.
   */
  validate(): string | undefined {
    const r = this.v.reply;
    if (!r) return undefined;
    const { code, enhancedCode } = r;
    if (!Number.isInteger(code) || code < 200 || code > 599) return `reply code ${code} is not in 200..599`;
    const cls = Math.floor(code / 100);
    if (this.v.action === Action.ACTION_REJECT && cls !== 5) return `reject needs a 5xx reply, got ${code}`;
    if (this.v.action === Action.ACTION_TEMPFAIL && cls !== 4) return `tempfail needs a 4xx reply, got ${code}`;
    if (enhancedCode && (!/^[245]\.\d{1,3}\.\d{1,3}$/.test(enhancedCode) || Number(enhancedCode[0]) !== cls)) {
      return `enhanced code ${enhancedCode} does not fit reply code ${code}`;
    }
    return undefined;
  }
}
