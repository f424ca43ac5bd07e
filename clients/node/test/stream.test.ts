// OnEvents, the batched stream, on a real server over loopback with the raw generated client.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Action, EventType, Verdict, Worker, WorkerError, proto } from "../src";

type SinkRequest = proto.sink.SinkRequest;
type SinkAnswer = proto.sink.SinkAnswer;
type Stream = grpc.ClientDuplexStream<proto.sink.SinkRequests, proto.sink.SinkAnswers>;

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function request(streamId: number, keyword: string, extra: Partial<SinkRequest> = {}): SinkRequest {
  return proto.sink.SinkRequest.fromPartial({
    event: { type: EventType.INBOUND_COMMAND, command: { keyword }, envelope: { recipient: `r${streamId}@example.net` } },
    binding: { name: "test" },
    streamId,
    ...extra,
  });
}

/** Reads answers as they come; next(n) resolves with the next n, keyed by stream_id. */
class Reader {
  private answers: SinkAnswer[] = [];
  private waiting: (() => void) | undefined;
  ended = false;
  status: grpc.StatusObject | undefined;

  constructor(readonly stream: Stream) {
    stream.on("data", (m: proto.sink.SinkAnswers) => {
      this.answers.push(...m.answers);
      this.waiting?.();
    });
    stream.on("end", () => {
      this.ended = true;
      this.waiting?.();
    });
    stream.on("status", (s: grpc.StatusObject) => {
      this.status = s;
      this.waiting?.();
    });
    stream.on("error", () => this.waiting?.());
  }

  async next(n: number): Promise<Map<number, SinkAnswer>> {
    while (this.answers.length < n) {
      assert.ok(!this.ended, `stream ended with ${this.answers.length} of ${n} answers`);
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
    const got = new Map<number, SinkAnswer>();
    for (const a of this.answers.splice(0, n)) {
      assert.ok(!got.has(a.streamId), `two answers for ${a.streamId}`);
      got.set(a.streamId, a);
    }
    return got;
  }

  /** Waits for the end of the stream and checks it ended OK with no further answer. */
  async endsOk(): Promise<void> {
    while (!(this.ended && this.status)) await new Promise<void>((resolve) => (this.waiting = resolve));
    assert.equal(this.answers.length, 0, "answers after the owed ones");
    assert.equal(this.status.code, grpc.status.OK);
  }
}

async function start(t: { after: (fn: () => unknown) => void }) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  let wasAborted!: () => void;
  const aborted = new Promise<void>((resolve) => (wasAborted = resolve));
  const seen: { traceId: string; deadline: Date | undefined }[] = [];
  const w = new Worker({ gracePeriod: 10 })
    .on(EventType.INBOUND_COMMAND, "RCPT", (ev, ctx) => {
      seen.push({ traceId: ev.traceId, deadline: ctx.deadline });
      return Verdict.reject(550, "5.7.1", `no ${ev.recipient}`).tag("blocked").reason(ev.traceId || "-");
    })
    .on(EventType.INBOUND_COMMAND, "DATA", async () => {
      started();
      await released;
      return Verdict.tempfail(451, "4.3.0", "slow");
    })
    .on(EventType.INBOUND_COMMAND, "VRFY", () => {
      throw new WorkerError(grpc.status.UNAVAILABLE, "scanner down");
    })
    .on(EventType.INBOUND_COMMAND, "MAIL", async () => {
      throw new Error("boom");
    })
    .on(EventType.INBOUND_COMMAND, "NOOP", (_ev, ctx) => {
      started();
      return new Promise<Verdict>((_resolve, reject) =>
        ctx.signal.addEventListener("abort", () => {
          wasAborted();
          reject(ctx.signal.reason);
        }),
      );
    });
  const address = await w.listen("127.0.0.1:0", { handleSignals: false });
  t.after(() => w.shutdown());
  const client = new proto.sink.PolicySinkClient(address, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const open = () => new Reader(client.onEvents());
  return { w, client, open, release, running, seen, aborted };
}

const send = (r: Reader, m: Partial<proto.sink.SinkRequests>) => r.stream.write(proto.sink.SinkRequests.fromPartial(m));

test("OnEvents answers every request of a batch, matched by stream_id", async (t) => {
  const { open } = await start(t);
  const r = open();
  const ids = Array.from({ length: 20 }, (_, i) => (i + 1) * 7);
  send(r, { requests: ids.map((id) => request(id, "RCPT")) });
  const got = await r.next(ids.length);
  for (const id of ids) {
    assert.equal(got.get(id)?.errorCode, 0);
    assert.deepEqual(got.get(id)?.verdict?.reply?.lines, [`no r${id}@example.net`]);
  }
  r.stream.end();
  await r.endsOk();
});

test("OnEvents: a slow handler holds back no other answer", async (t) => {
  const { open, release } = await start(t);
  const r = open();
  // The slow one comes first in the batch; the others complete before it, out of order.
  send(r, { requests: [request(1, "DATA"), ...[2, 3, 4, 5].map((id) => request(id, "RCPT"))] });
  const fast = await r.next(4); // hangs (the test times out) if the slow handler held them back
  assert.ok(!fast.has(1));
  for (const a of fast.values()) assert.equal(a.verdict?.action, Action.ACTION_REJECT);
  release();
  const slow = await r.next(1);
  assert.equal(slow.get(1)?.verdict?.action, Action.ACTION_TEMPFAIL);
  r.stream.end();
  await r.endsOk();
});

test("OnEvents: handler errors become error codes", async (t) => {
  const { open } = await start(t);
  const r = open();
  send(r, { requests: [request(1, "VRFY"), request(2, "MAIL")] });
  const got = await r.next(2);
  assert.equal(got.get(1)?.errorCode, grpc.status.UNAVAILABLE);
  assert.equal(got.get(1)?.errorMessage, "scanner down");
  assert.equal(got.get(1)?.verdict, undefined);
  assert.equal(got.get(2)?.errorCode, grpc.status.INTERNAL);
  assert.equal(got.get(2)?.errorMessage, "boom");
  r.stream.end();
  await r.endsOk();
});

test("OnEvents: cancel aborts the handler's signal and answers CANCELLED", async (t) => {
  const { open, running } = await start(t);
  const r = open();
  send(r, { requests: [request(9, "NOOP")] });
  await running;
  send(r, { cancel: [9] });
  const got = await r.next(1);
  assert.equal(got.get(9)?.errorCode, grpc.status.CANCELLED);
  r.stream.end();
  await r.endsOk();
});

test("OnEvents: time_left is the handler's deadline", async (t) => {
  const { open, seen } = await start(t);
  const r = open();
  const before = Date.now();
  send(r, { requests: [request(1, "RCPT", { timeLeft: { seconds: 3600, nanos: 0 } }), request(2, "NOOP", { timeLeft: { seconds: 0, nanos: 50_000_000 } })] });
  const got = await r.next(2);
  assert.equal(got.get(2)?.errorCode, grpc.status.DEADLINE_EXCEEDED);
  const deadline = seen[0].deadline?.getTime() ?? 0;
  assert.ok(deadline >= before + 3_600_000 && deadline <= Date.now() + 3_600_000, `deadline ${seen[0].deadline}`);
  r.stream.end();
  await r.endsOk();
});

test("the same event gets the same verdict over OnEvent and OnEvents", async (t) => {
  const { open, client } = await start(t);
  const req = request(0, "RCPT", { timeLeft: { seconds: 2, nanos: 0 } });
  const metadata = new grpc.Metadata();
  metadata.set("traceparent", TRACEPARENT);
  const unary = await new Promise<proto.verdict.Verdict>((resolve, reject) =>
    client.onEvent(req, metadata, { deadline: Date.now() + 10_000 }, (err, v) => (err ? reject(err) : resolve(v))),
  );
  const r = open();
  send(r, { requests: [{ ...req, streamId: 1, traceparent: TRACEPARENT }] });
  const got = await r.next(1);
  assert.deepEqual(got.get(1)?.verdict, unary);
  assert.equal(unary.reason, "4bf92f3577b34da6a3ce929d0e0e4736");
  r.stream.end();
  await r.endsOk();
});

test("OnEvents: a drain answers what is owed, then ends the stream OK", async (t) => {
  const { w, open, running, release } = await start(t);
  const r = open();
  send(r, { requests: [request(1, "DATA")] });
  await running;
  const stopped = w.shutdown(); // NOT_SERVING, then the stream drains (no half-close from this side)
  release();
  const got = await r.next(1);
  assert.equal(got.get(1)?.verdict?.action, Action.ACTION_TEMPFAIL);
  await r.endsOk();
  await stopped;
});

test("OnEvents: answers completed during a write go out together", async () => {
  // EventStream without a network: a fake call whose write completes only when the test says.
  const { EventEmitter } = await import("node:events");
  const { EventStream } = await import("../src/stream");
  const sent: proto.sink.SinkAnswers[] = [];
  const pendingWrites: (() => void)[] = [];
  const call = Object.assign(new EventEmitter(), {
    write: (m: proto.sink.SinkAnswers, cb: () => void) => {
      sent.push(m);
      pendingWrites.push(cb);
      return true;
    },
    end: () => call.emit("ended"),
  });
  const ended = new Promise((resolve) => call.once("ended", resolve));
  const decided: number[] = [];
  new EventStream(call as unknown as grpc.ServerDuplexStream<proto.sink.SinkRequests, proto.sink.SinkAnswers>, async (req) => {
    decided.push(req.streamId);
    return { verdict: proto.verdict.Verdict.fromPartial({ reason: String(req.streamId) }) };
  });
  // Every promise callback queued so far runs before a setImmediate callback.
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  call.emit("data", proto.sink.SinkRequests.fromPartial({ requests: [request(1, "RCPT")] }));
  await settle();
  assert.deepEqual(sent.map((m) => m.answers.map((a) => a.streamId)), [[1]]); // at once, alone
  call.emit("data", proto.sink.SinkRequests.fromPartial({ requests: [request(2, "RCPT"), request(3, "RCPT")] }));
  await settle();
  assert.deepEqual(decided, [1, 2, 3]);
  assert.equal(sent.length, 1, "no second write while the first is in flight");
  pendingWrites.shift()!(); // the first write completes; both queued answers go in the next one
  assert.deepEqual(sent.map((m) => m.answers.map((a) => a.streamId).sort()), [[1], [2, 3]]);
  pendingWrites.shift()!();
  call.emit("end");
  await ended;
});

test("OnEvents: a cancelled stream aborts its handlers' signals", async (t) => {
  const { open, running, aborted } = await start(t);
  const r = open();
  r.stream.on("error", () => undefined); // the client's own CANCELLED
  send(r, { requests: [request(1, "NOOP")] });
  await running;
  r.stream.cancel();
  await aborted; // the test times out if the handler's signal outlives its stream
});
