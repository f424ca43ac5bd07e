import { strict as assert } from "node:assert";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Action, EventType, proto } from "../src";
import { buildWorker } from "../examples/example-worker";

const req = (keyword: string, envelope: object, props: Record<string, string>) =>
  proto.sink.SinkRequest.fromPartial({
    event: { type: EventType.INBOUND_COMMAND, command: { keyword }, envelope },
    binding: { sinkProperties: props },
  });

test("example worker: blocked recipients, greylisted sender domains, a stamp at _EOD", async () => {
  const w = buildWorker();
  const blocked = { blocked: "spam@example.com, Trap@example.com" };
  const r = await w.dispatch(req("RCPT", { recipient: "trap@EXAMPLE.com" }, blocked));
  assert.equal(r.action, Action.ACTION_REJECT);
  assert.equal(r.reply?.code, 550);
  assert.equal((await w.dispatch(req("RCPT", { recipient: "ok@example.com" }, blocked))).action, Action.ACTION_CONTINUE);

  const grey = { tempfail_sender_domains: "slow.example" };
  assert.equal((await w.dispatch(req("MAIL", { sender: "a@SLOW.example" }, grey))).action, Action.ACTION_TEMPFAIL);
  assert.equal((await w.dispatch(req("MAIL", { sender: "" }, grey))).action, Action.ACTION_CONTINUE);

  const eod = await w.dispatch(req("_EOD", { recipients: ["a@x", "b@x"] }, { header_name: "X-Checked" }));
  assert.deepEqual(eod.edits[0].addHeader, { name: "X-Checked", value: "checked by node example-worker; 2 recipient(s)" });
});

test("a handler's signal aborts when the caller's deadline passes", async (t) => {
  let aborted!: () => void;
  const sawAbort = new Promise<void>((resolve) => (aborted = resolve));
  const w = buildWorker().on(EventType.CONNECT, "*", (_ev, ctx) =>
    new Promise((resolve) => ctx.signal.addEventListener("abort", () => { aborted(); resolve(undefined); })),
  );
  const address = await w.listen("127.0.0.1:0", { handleSignals: false });
  t.after(() => w.shutdown());
  const client = new proto.sink.PolicySinkClient(address, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const call = new Promise((resolve, reject) =>
    client.onEvent(
      proto.sink.SinkRequest.fromPartial({ event: { type: EventType.CONNECT } }),
      new grpc.Metadata(),
      { deadline: Date.now() + 300 },
      (err, v) => (err ? reject(err) : resolve(v)),
    ),
  );
  await assert.rejects(call, { code: grpc.status.DEADLINE_EXCEEDED });
  await sawAbort;
});
