import { strict as assert } from "node:assert";
import { test } from "node:test";
import { Action, CacheScope, OutboundState, Verdict, proto } from "../src";

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
    .cacheFor(1500, CacheScope.SENDER)
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

test("validate refuses replies the host cannot send", () => {
  for (const v of [
    Verdict.reject(451, "", "x"),
    Verdict.tempfail(550, "", "x"),
    Verdict.respond(999),
    Verdict.reject(550, "4.7.1"),
    Verdict.respond(250, "2.0"),
  ]) {
    assert.notEqual(v.validate(), undefined, JSON.stringify(v.toProto()));
  }
  for (const v of [Verdict.reject(554, "5.7.0"), Verdict.tempfail(421, "4.4.2"), Verdict.dropSession(421)]) {
    assert.equal(v.validate(), undefined);
  }
});
