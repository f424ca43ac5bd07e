// OnEvents, the batched dispatcher -> worker stream: each request is its own promise through the
// same path as a unary OnEvent, so a slow handler holds back no other; answers that complete
// while a write is in flight go out together in the next message (never waiting to fill a batch).
import * as grpc from "@grpc/grpc-js";

import { SinkAnswers, type SinkAnswer, type SinkRequest, type SinkRequests } from "./gen/smtpbridge/v1/sink";
import type { Verdict as VerdictProto } from "./gen/smtpbridge/v1/verdict";
import type { HandlerContext } from "./worker";

/** One event's result: the verdict, or the status a unary OnEvent would have returned. */
export interface Outcome {
  verdict?: VerdictProto;
  error?: { code: number; message: string };
}

type Decide = (request: SinkRequest, ctx: HandlerContext) => Promise<Outcome>;

interface InFlight {
  abort: AbortController;
  timer: NodeJS.Timeout | undefined;
}

/**
 * One OnEvents call. Ends the call with OK once the dispatcher half-closed (or drain() was
 * called) and every request read so far has its answer written.
 */
export class EventStream {
  private readonly inflight = new Map<number, InFlight>();
  private pending: SinkAnswer[] = [];
  private writing = false;
  private readDone = false;
  private draining = false;
  private closed = false;
  private resolveDone!: () => void;
  /** Resolves when the call ended, either way. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(
    private readonly call: grpc.ServerDuplexStream<SinkRequests, SinkAnswers>,
    private readonly decide: Decide,
  ) {
    call.on("data", (message: SinkRequests) => this.receive(message));
    call.on("end", () => {
      this.readDone = true;
      this.maybeEnd();
    });
    const fail = () => this.close();
    call.on("cancelled", fail);
    call.on("error", fail);
    call.on("close", fail);
  }

  drain(): void {
    this.draining = true;
    this.maybeEnd();
  }

  private receive(message: SinkRequests): void {
    for (const id of message.cancel) {
      const running = this.inflight.get(id);
      if (running) {
        running.abort.abort(new Error("cancelled by the dispatcher"));
        this.answer({ streamId: id, verdict: undefined, errorCode: grpc.status.CANCELLED, errorMessage: "cancelled by the dispatcher" });
      }
    }
    for (const request of message.requests) this.start(request);
  }

  private start(request: SinkRequest): void {
    const id = request.streamId;
    if (this.draining) {
      // As a unary call arriving during a drain: refused, so the dispatcher retries elsewhere.
      this.push({ streamId: id, verdict: undefined, errorCode: grpc.status.UNAVAILABLE, errorMessage: "worker is draining" });
      return;
    }
    if (this.inflight.has(id)) {
      this.push({ streamId: id, verdict: undefined, errorCode: grpc.status.INVALID_ARGUMENT, errorMessage: "stream_id already in flight on this stream" });
      return;
    }
    // No per-request gRPC deadline on a stream: time_left is the handler's deadline, as the
    // unary call's deadline is; when it runs out the signal aborts and the answer goes at once.
    const abort = new AbortController();
    const ms = request.timeLeft ? Number(request.timeLeft.seconds) * 1000 + request.timeLeft.nanos / 1e6 : 0;
    const deadline = ms > 0 ? new Date(Date.now() + ms) : undefined;
    const timer = deadline
      ? setTimeout(() => {
          abort.abort(new Error("deadline exceeded"));
          this.answer({ streamId: id, verdict: undefined, errorCode: grpc.status.DEADLINE_EXCEEDED, errorMessage: "deadline exceeded (time_left)" });
        }, ms)
      : undefined;
    timer?.unref();
    this.inflight.set(id, { abort, timer });
    void this.decide(request, { signal: abort.signal, deadline }).then(({ verdict, error }) =>
      this.answer({ streamId: id, verdict, errorCode: error?.code ?? 0, errorMessage: error?.message ?? "" }),
    );
  }

  /** The request's one answer: later ones (a handler finishing after its cancel) are dropped. */
  private answer(answer: SinkAnswer): void {
    const running = this.inflight.get(answer.streamId);
    if (!running) return;
    clearTimeout(running.timer);
    this.inflight.delete(answer.streamId);
    this.push(answer);
  }

  private push(answer: SinkAnswer): void {
    this.pending.push(answer);
    this.flush();
  }

  private flush(): void {
    if (this.closed || this.writing || this.pending.length === 0) return;
    const answers = this.pending;
    this.pending = [];
    this.writing = true;
    this.call.write(SinkAnswers.fromPartial({ answers }), () => {
      this.writing = false;
      this.flush(); // what completed during the write goes out now, together
      this.maybeEnd();
    });
  }

  private maybeEnd(): void {
    if (this.closed || !(this.readDone || this.draining)) return;
    if (this.inflight.size > 0 || this.pending.length > 0 || this.writing) return;
    this.closed = true;
    this.call.end();
    this.resolveDone();
  }

  private close(): void {
    if (this.closed && this.inflight.size === 0) {
      this.resolveDone();
      return;
    }
    this.closed = true;
    for (const { abort, timer } of this.inflight.values()) {
      clearTimeout(timer);
      abort.abort(new Error("stream ended"));
    }
    this.inflight.clear();
    this.resolveDone();
  }
}
