// The conformance worker's policy (tests/vectors/SPEC.md): a verdict built with the SDK's own
// builder from the binding's sink_properties.
import { CacheScope, OutboundState, EventContext, Verdict } from "../src";

const OUTBOUND_STATES: Record<string, OutboundState> = {
  SESSION_START: OutboundState.SESSION_START,
  MESSAGE_START: OutboundState.MESSAGE_START,
  PER_RECIPIENT: OutboundState.PER_RECIPIENT,
  DATA_OR_BDAT: OutboundState.DATA_OR_BDAT,
  SESSION_END: OutboundState.SESSION_END,
};

const CACHE_SCOPES: Record<string, CacheScope> = {
  "": CacheScope.COMMAND,
  command: CacheScope.COMMAND,
  client_address: CacheScope.CLIENT_ADDRESS,
  sender: CacheScope.SENDER,
  recipient: CacheScope.RECIPIENT,
  session: CacheScope.SESSION,
};

export interface ParsedReply {
  code: number;
  enhanced: string;
  lines: string[];
}

/** "CODE[ ENHANCED][ TEXT]", TEXT lines separated by "|". */
export function parseReply(spec: string): ParsedReply | undefined {
  if (spec === "") return undefined;
  const space = spec.indexOf(" ");
  const codeText = space < 0 ? spec : spec.slice(0, space);
  let rest = space < 0 ? "" : spec.slice(space + 1);
  if (!/^\d{3}$/.test(codeText)) throw new Error(`reply "${spec}" does not start with a 3-digit code`);
  let enhanced = "";
  const next = rest.indexOf(" ");
  const first = next < 0 ? rest : rest.slice(0, next);
  if (/^\d\.\d{1,3}\.\d{1,3}$/.test(first)) {
    enhanced = first;
    rest = next < 0 ? "" : rest.slice(next + 1);
  }
  return { code: Number(codeText), enhanced, lines: rest === "" ? [] : rest.split("|") };
}

function baseVerdict(ev: EventContext): Verdict {
  const r = parseReply(ev.property("reply"));
  const [code, enhanced, lines] = r ? [r.code, r.enhanced, r.lines] : [0, "", []];
  let v: Verdict;
  switch (ev.property("verdict", "continue")) {
    case "continue":
      v = Verdict.continue();
      break;
    case "respond":
      return Verdict.respond(code, enhanced, ...lines);
    case "reject":
      return Verdict.reject(code, enhanced, ...lines);
    case "tempfail":
      return Verdict.tempfail(code, enhanced, ...lines);
    case "drop_session":
      return Verdict.dropSession(code, enhanced, ...lines);
    case "skip_recipient":
      v = Verdict.skipRecipient();
      break;
    default:
      throw new Error(`unknown verdict "${ev.property("verdict")}"`);
  }
  return r ? v.withReply(code, enhanced, ...lines) : v;
}

/** Split an op into `count` fields; the last takes the rest, colons included. */
function fields(op: string, count: number): string[] {
  const parts = op.split(":");
  if (parts.length < count) throw new Error(`edit "${op}" needs ${count} fields`);
  return [...parts.slice(0, count - 1), parts.slice(count - 1).join(":")];
}

function nonNegativeInt(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`${what} "${text}" is not a non-negative integer`);
  return Number(text);
}

function applyEdits(v: Verdict, spec: string): void {
  if (spec === "") return;
  for (const op of spec.split(";")) {
    const name = op.split(":")[0];
    switch (name) {
      case "add_header": {
        const [, n, value] = fields(op, 3);
        v.addHeader(n, value);
        break;
      }
      case "insert_header": {
        const [, index, n, value] = fields(op, 4);
        v.insertHeader(nonNegativeInt(index, "insert_header index"), n, value);
        break;
      }
      case "change_header": {
        const [, n, occurrence, value] = fields(op, 4);
        v.changeHeader(n, nonNegativeInt(occurrence, "change_header occurrence"), value);
        break;
      }
      case "change_sender":
        v.changeSender(fields(op, 2)[1]);
        break;
      case "add_recipient":
        v.addRecipient(fields(op, 2)[1]);
        break;
      case "delete_recipient":
        v.deleteRecipient(fields(op, 2)[1]);
        break;
      case "quarantine":
        v.quarantine(fields(op, 2)[1]);
        break;
      case "discard":
        v.discard();
        break;
      case "replace_body":
        v.replaceBody(fields(op, 2)[1]);
        break;
      default:
        throw new Error(`unknown edit "${op}"`);
    }
  }
}

/** The canonical echo of the event as this SDK exposes it (reason "@echo"). */
export function echo(ev: EventContext): string {
  return (
    `type=${ev.typeName};keyword=${ev.keyword};arg=${ev.argument};sender=${ev.sender};rcpt=${ev.recipient};` +
    `rcpts=${ev.recipients.length};client=${ev.clientAddress};helo=${ev.heloName};headers=${ev.headers.length};` +
    `body=${ev.body.length};binding=${ev.bindingName};instance=${ev.instance}`
  );
}

export function decide(ev: EventContext): Verdict {
  if (ev.property("fail") === "1") throw new Error("conformance: failure requested by the binding (fail=1)");
  const v = baseVerdict(ev);
  if (ev.hasProperty("set_command")) v.withCommand(ev.property("set_command"));
  if (ev.hasProperty("append")) v.appendCommand(ev.property("append"));
  const state = ev.property("next_state");
  if (state !== "") {
    const s = OUTBOUND_STATES[state.toUpperCase()];
    if (s === undefined) throw new Error(`unknown next_state "${state}"`);
    v.withNextState(s);
  }
  applyEdits(v, ev.property("edits"));
  const ttl = ev.property("cache_ttl_ms");
  if (ttl !== "") {
    const scope = CACHE_SCOPES[ev.property("cache_scope").toLowerCase()];
    if (scope === undefined) throw new Error(`unknown cache_scope "${ev.property("cache_scope")}"`);
    v.cacheFor(nonNegativeInt(ttl, "cache_ttl_ms") / 1000, scope);
  }
  const tags = ev.propertyList("tags");
  if (tags.length > 0) v.tag(...tags);
  const reason = ev.property("reason");
  if (reason === "@echo") v.reason(echo(ev));
  else if (reason !== "") v.reason(reason);
  return v;
}
