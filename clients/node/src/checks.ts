// What a verdict may carry: checked when it is built, so a mistake fails in the author's own
// tests instead of being dropped (or injected) downstream.
import { Action } from "./types";

/** A verdict the host could not send as built. */
export class VerdictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VerdictError";
  }
}

const ENHANCED = /^([245])\.\d{1,3}\.\d{1,3}$/;
// RFC 5322 field-name: printable US-ASCII except the colon.
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

export function checkNoLineBreak(what: string, text: string): void {
  if (/[\r\n\0]/.test(text)) throw new VerdictError(`${what} must not contain CR, LF or NUL: ${JSON.stringify(text)}`);
}

export function checkHeader(name: string, value?: string): void {
  if (!FIELD_NAME.test(name)) {
    throw new VerdictError(`header name ${JSON.stringify(name)} is not an RFC 5322 field name (printable ASCII, no colon or space)`);
  }
  if (value !== undefined) checkNoLineBreak(`header ${name} value`, value);
}

/** Reply classes each action allows (CONTINUE and RESPOND: any). */
const CLASSES: Partial<Record<Action, number[]>> = {
  [Action.ACTION_REJECT]: [5],
  [Action.ACTION_TEMPFAIL]: [4],
  [Action.ACTION_DROP_SESSION]: [4, 5],
};

export function checkReply(action: Action, code: number, enhanced: string, lines: readonly string[]): void {
  if (!Number.isInteger(code) || code < 200 || code > 599) throw new VerdictError(`reply code ${code} is not in 200..599`);
  const cls = Math.floor(code / 100);
  const allowed = CLASSES[action];
  if (allowed && !allowed.includes(cls)) {
    throw new VerdictError(`${Action[action]} needs a ${allowed.map((c) => `${c}xx`).join(" or ")} reply, got ${code}`);
  }
  if (action === Action.ACTION_SKIP_RECIPIENT) throw new VerdictError("skipRecipient takes no reply");
  if (enhanced !== "") {
    const m = ENHANCED.exec(enhanced);
    if (!m) throw new VerdictError(`enhanced code ${JSON.stringify(enhanced)} is not CLASS.SUBJECT.DETAIL`);
    if (Number(m[1]) !== cls) throw new VerdictError(`enhanced code ${enhanced} does not fit reply code ${code}`);
  }
  for (const line of lines) checkNoLineBreak("reply text", line);
}
