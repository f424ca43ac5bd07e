import { strict as assert } from "node:assert";
import { test } from "node:test";
import { Action, CacheScope, OutboundState, Verdict, VerdictError, addressIn, proto, sameAddress } from "../src";

test("constructors set the action and the reply; code 0 leaves the default reply", () => {
  assert.deepEqual(Verdict.reject(550, "5.7.1", "no", "thanks").toProto().reply, {
    code: 550,
    enhancedCode: "5.7.1",
    lines: ["no", "thanks"],
  });
  assert.equal(Verdict.reject().toProto().reply, undefined);
  assert.equal(Verdict.tempfail().action, Action.ACTION_TEMPFAIL);
  assert.equal(Verdict.respond(250, "", "ok").action, Action.ACTION_RESPOND);
  assert.equal(Verdict.dropSession().action, Action.ACTION_DROP_SESSION);
  assert.equal(Verdict.skipRecipient().action, Action.ACTION_SKIP_RECIPIENT);
  assert.equal(Verdict.continue().action, Action.ACTION_CONTINUE);
});

test("every builder method lands in the wire form, edits in order, and it round-trips", () => {
  const v = Verdict.continue()
    .withCommand("RCPT TO:<x@y>")
    .appendCommand(" NOTIFY=NEVER")
    .withNextState(OutboundState.SESSION_END)
    .withReply(250, "2.1.5", "fine")
    .addHeader("X-A", "1")
    .insertHeader(0, "X-B", "2")
    .changeHeader("Subject", 2, "new")
    .deleteHeader("X-C")
    .changeSender("s@x", "SIZE=1")
    .addRecipient("r@x")
    .deleteRecipient("old@x")
    .quarantine("suspicious")
    .discard()
    .replaceBody("body\r\n")
    .cacheFor(1.5, CacheScope.SENDER)
    .reason("because")
    .tag("a")
    .tag("b", "c");
  const p = v.toProto();
  assert.deepEqual(p.command, { setCommand: "RCPT TO:<x@y>", append: " NOTIFY=NEVER" });
  assert.equal(p.nextState, OutboundState.SESSION_END);
  assert.deepEqual(
    p.edits.map((e) => Object.keys(e)[0]),
    ["addHeader", "insertHeader", "changeHeader", "changeHeader", "changeSender", "addRecipient",
     "deleteRecipient", "quarantine", "discard", "replaceBody"],
  );
  assert.deepEqual(p.edits[3].changeHeader, { name: "X-C", occurrence: 0, value: "" });
  assert.deepEqual(p.cacheTtl, { seconds: 1, nanos: 500_000_000 });
  assert.equal(p.cacheScope, CacheScope.SENDER);
  assert.deepEqual(p.tags, ["a", "b", "c"]);
  assert.equal(v.validate(), undefined);

  const decoded = proto.verdict.Verdict.decode(proto.verdict.Verdict.encode(p).finish());
  assert.equal(decoded.edits[9].replaceBody?.body.toString(), "body\r\n");
  assert.equal(decoded.reason, "because");
});

test("the builder throws for what the host could not send, when the verdict is built", () => {
  const bad: Array<[string, () => unknown]> = [
    ["2xx reject", () => Verdict.reject(250, "2.0.0", "ok")],
    ["4xx reject", () => Verdict.reject(451, "", "x")],
    ["5xx tempfail", () => Verdict.tempfail(550, "", "x")],
    ["2xx drop", () => Verdict.dropSession(250)],
    ["code 999", () => Verdict.respond(999)],
    ["enhanced class", () => Verdict.reject(550, "4.7.1")],
    ["enhanced syntax", () => Verdict.respond(250, "2.0")],
    ["CRLF in reply", () => Verdict.reject(550, "5.7.1", "no\r\n250 ok")],
    ["CRLF in header value", () => Verdict.continue().addHeader("X-A", "v\r\nX-Injected: yes")],
    ["space in header name", () => Verdict.continue().addHeader("Bad Name", "v")],
    ["colon in header name", () => Verdict.continue().insertHeader(0, "X-A:", "v")],
    ["empty header name", () => Verdict.continue().changeHeader("", 0, "v")],
    ["LF in command", () => Verdict.continue().withCommand("RCPT TO:<a@b>\nRSET")],
    ["CR in sender", () => Verdict.continue().changeSender("a@b\r")],
    ["negative ttl", () => Verdict.continue().cacheFor(-1)],
  ];
  for (const [what, build] of bad) assert.throws(build, VerdictError, what);
  for (const v of [Verdict.reject(554, "5.7.0"), Verdict.tempfail(421, "4.4.2"), Verdict.dropSession(421),
                   Verdict.dropSession(554), Verdict.respond(250, "2.1.5", "ok"), Verdict.continue().addHeader("X-Folded", "a\tb")]) {
    assert.equal(v.validate(), undefined);
  }
});

test("addressIn and sameAddress ignore case and angle brackets", () => {
  assert.ok(addressIn("Blocked@Example.COM", ["a@x", " blocked@example.com "]));
  assert.ok(sameAddress("<A@B>", "a@b"));
  assert.ok(!addressIn("", [""]));
  assert.ok(!addressIn("a@b", ["a@c"]));
});
