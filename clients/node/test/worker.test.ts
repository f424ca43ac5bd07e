import { strict as assert } from "node:assert";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Action, EventType, EventContext, Verdict, Worker, WorkerError, proto } from "../src";

type SinkRequest = proto.sink.SinkRequest;

function request(type: EventType, keyword: string, props: Record<string, string> = {}): SinkRequest {
  return proto.sink.SinkRequest.fromPartial({
    event: { type, command: { keyword } },
    binding: { name: "test", sinkProperties: props },
  });
}

const reason = (r: string) => () => Verdict.continue().reason(r);

test("dispatch prefers the exact keyword, then '*', then the fallback, else continues", async () => {
  const w = new Worker({ fallback: reason("fallback") })
    .on(EventType.INBOUND_COMMAND, "rcpt", reason("rcpt"))
    .on(EventType.INBOUND_COMMAND, "*", reason("any inbound"))
    .on(EventType.CONNECT, "", reason("connect"));
  const cases: [EventType, string, string][] = [
    [EventType.INBOUND_COMMAND, "RCPT", "rcpt"],
    [EventType.INBOUND_COMMAND, "MAIL", "any inbound"],
    [EventType.CONNECT, "", "connect"],
    [EventType.SERVER_RESPONSE, "", "fallback"],
  ];
  for (const [type, kw, want] of cases) {
    assert.equal((await w.dispatch(request(type, kw))).reason, want, `${type} ${kw}`);
  }
  const bare = new Worker().on(EventType.INBOUND_COMMAND, "MAIL", () => undefined);
  assert.equal((await bare.dispatch(request(EventType.INBOUND_COMMAND, "MAIL"))).action, Action.ACTION_CONTINUE);
  assert.equal((await bare.dispatch(request(EventType.INBOUND_COMMAND, "RCPT"))).action, Action.ACTION_CONTINUE);
});

test("registering the same event and keyword twice throws", () => {
  const w = new Worker().on(EventType.INBOUND_COMMAND, "RCPT", reason("a"));
  assert.throws(() => w.on(EventType.INBOUND_COMMAND, "rcpt", reason("b")), /already registered/);
});

test("the event wrapper reads the request and never throws on absent parts", () => {
  const empty = new EventContext(proto.sink.SinkRequest.fromPartial({}));
  assert.equal(empty.recipient, "");
  assert.equal(empty.headers.length, 0);
  assert.equal(empty.body.length, 0);
  assert.equal(empty.property("x"), "");
  assert.equal(empty.header("Subject"), undefined);
  const ev = new EventContext(
    proto.sink.SinkRequest.fromPartial({
      event: {
        type: EventType.INBOUND_COMMAND,
        command: { keyword: "_EOD" },
        session: { instance: 3, heloName: "h", client: { address: "192.0.2.1" }, auth: { authenticated: true, username: "u" } },
        envelope: { sender: "a@x", recipients: ["b@y"], mailParameters: { SIZE: "9" } },
        message: { headers: [{ name: "Subject", value: "hi" }], body: Buffer.from("abc") },
      },
      binding: { name: "b", sinkProperties: { list: " a, ,b", n: " 42 " } },
      timeLeft: { seconds: 0, nanos: 20_000_000 },
    }),
  );
  assert.equal(ev.typeName, "INBOUND_COMMAND");
  assert.ok(ev.isEndOfData);
  assert.equal(ev.instance, 3);
  assert.equal(ev.authUser, "u");
  assert.equal(ev.mailParameter("size"), "9");
  assert.equal(ev.header("SUBJECT"), "hi");
  assert.equal(ev.body.toString(), "abc");
  assert.deepEqual(ev.propertyList("list"), ["a", "b"]);
  assert.equal(ev.timeLeftMs, 20);
  assert.equal(ev.timeLeft, 0.02);
  assert.equal(ev.propertyInt("n", 0), 42);
  assert.equal(ev.propertyInt("missing", 7), 7);
  assert.throws(() => ev.propertyInt("list", 0), /list/);
});

// A real server on port 0, called with a raw grpc-js client stub built from the generated service.
test("a real server answers a raw client, maps errors to statuses and drains on shutdown", async (t) => {
  const w = new Worker({ gracePeriod: 5 })
    .on(EventType.INBOUND_COMMAND, "RCPT", (ev, ctx) => {
      assert.ok(ctx.deadline instanceof Date, "handler gets the caller's deadline");
      return ev.recipient === ev.property("blocked")
        ? Verdict.reject(550, "5.7.1", `blocked ${ev.recipient}`).tag("blocked")
        : Verdict.continue();
    })
    .on(EventType.INBOUND_COMMAND, "DATA", () => {
      throw new WorkerError(grpc.status.UNAVAILABLE, "scanner down");
    })
    .on(EventType.INBOUND_COMMAND, "MAIL", async () => {
      throw new Error("boom");
    })
    .on(EventType.INBOUND_COMMAND, "VRFY", () => Verdict.reject(250, "", "not a rejection"));
  const address = await w.listen("127.0.0.1:0", { handleSignals: false });
  t.after(() => w.shutdown());
  assert.match(address, /^127\.0\.0\.1:\d+$/);

  const client = new proto.sink.PolicySinkClient(address, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const call = (req: SinkRequest) =>
    new Promise<proto.verdict.Verdict>((resolve, reject) =>
      client.onEvent(req, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, v) => (err ? reject(err) : resolve(v))),
    );

  const blocked = request(EventType.INBOUND_COMMAND, "RCPT", { blocked: "bad@example.com" });
  blocked.event!.envelope = proto.event.Envelope.fromPartial({ recipient: "bad@example.com" });
  const v = await call(blocked);
  assert.equal(v.action, Action.ACTION_REJECT);
  assert.deepEqual(v.reply, { code: 550, enhancedCode: "5.7.1", lines: ["blocked bad@example.com"] });
  assert.deepEqual(v.tags, ["blocked"]);

  await assert.rejects(call(request(EventType.INBOUND_COMMAND, "DATA")), { code: grpc.status.UNAVAILABLE });
  await assert.rejects(call(request(EventType.INBOUND_COMMAND, "MAIL")), { code: grpc.status.INTERNAL, details: "boom" });
  await assert.rejects(call(request(EventType.INBOUND_COMMAND, "VRFY")), { code: grpc.status.INTERNAL });

  await w.shutdown();
  await assert.rejects(call(request(EventType.INBOUND_COMMAND, "RCPT")), { code: grpc.status.UNAVAILABLE });
});

test("listen accepts a unix socket and reports it as the bound address", async (t) => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "sbx-node-unix-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const w = new Worker().on(EventType.CONNECT, "*", () => Verdict.reject(554, "", "unix"));
  const address = await w.listen(`unix:${join(dir, "w.sock")}`, { handleSignals: false });
  t.after(() => w.shutdown());
  assert.equal(address, `unix:${join(dir, "w.sock")}`);
  const client = new proto.sink.PolicySinkClient(address, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const v = await new Promise<proto.verdict.Verdict>((resolve, reject) =>
    client.onEvent(request(EventType.CONNECT, ""), (err, res) => (err ? reject(err) : resolve(res))),
  );
  assert.deepEqual(v.reply?.lines, ["unix"]);
});
