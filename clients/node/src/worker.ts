import * as grpc from "@grpc/grpc-js";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";

import { PolicySinkService, type SinkAnswers, type SinkRequest, type SinkRequests } from "./gen/smtpbridge/v1/sink";
import type { Verdict as VerdictProto } from "./gen/smtpbridge/v1/verdict";
import { toServiceError } from "./errors";
import { EventContext } from "./event";
import { type Logger, stderrLogger } from "./log";
import { parseServeArgs, writeReadyFile } from "./main";
import { EventStream, type Outcome } from "./stream";
import { tlsReady, tlsServerCredentials } from "./tls";
import { Action, EventType, eventName } from "./types";
import { Verdict } from "./verdict";

export type { Logger } from "./log";

/** What a handler gets besides the event. */
export interface HandlerContext {
  /** Aborted when the dispatcher stops waiting (deadline or cancellation). */
  signal: AbortSignal;
  /** When the dispatcher stops waiting; undefined when the call has no deadline. */
  deadline: Date | undefined;
}

/**
 * Decides on one event. Return (or resolve to) a Verdict; undefined means continue. A thrown
 * error makes the dispatcher apply the binding's on_error (see WorkerError for the status code).
 */
export type Handler = (ev: EventContext, ctx: HandlerContext) => Verdict | undefined | Promise<Verdict | undefined>;

export interface WorkerOptions {
  /** Names the worker in its log lines (default "smtpbridge-worker"). */
  name?: string;
  /** Default: stderrLogger() (stderr, level from SMTPBRIDGE_LOG_LEVEL, info when unset). */
  logger?: Logger;
  /** Seconds shutdown() lets in-flight calls finish before cancelling them (default 10). */
  gracePeriod?: number;
  /** @deprecated use gracePeriod (seconds). */
  gracePeriodMs?: number;
  /** Serve grpc.reflection (default true). */
  reflection?: boolean;
  /** Handles events no registered handler matches (default: continue). */
  fallback?: Handler;
  /** Passed to the grpc-js Server (limits, keepalive). */
  serverOptions?: grpc.ServerOptions;
  /** Credentials for listen() (default insecure). */
  credentials?: grpc.ServerCredentials;
}

/** Registers a handler for every keyword of an event type, and for events without a command. */
export const ANY_KEYWORD = "*";

const SINK_SERVICE = "smtpbridge.v1.PolicySink";

/** How long a drain waits for in-flight calls by default, in seconds (the same in every SDK). */
export const DEFAULT_GRACE_PERIOD = 10;

/** Where the build copies proto/ for the reflection service (dist/proto). */
const PROTO_ROOT = join(__dirname, "..", "proto");

/**
 * A policy worker: routes PolicySink calls to handlers by event type and command keyword, and
 * serves them over gRPC with health checking and reflection.
 */
export class Worker {
  private readonly handlers = new Map<string, Handler>();
  private logger: Logger;
  private readonly gracePeriodMs: number;
  readonly name: string;
  private server: grpc.Server | undefined;
  private health: HealthImplementation | undefined;
  private shuttingDown: Promise<void> | undefined;
  private readonly signalHandler = () => void this.shutdown();

  constructor(private readonly options: WorkerOptions = {}) {
    this.logger = options.logger ?? stderrLogger();
    this.name = options.name ?? "smtpbridge-worker";
    this.gracePeriodMs =
      options.gracePeriod !== undefined ? options.gracePeriod * 1000 : (options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD * 1000);
  }

  /**
   * Register `handler` for events of `type` whose command keyword is `keyword` (case-insensitive,
   * e.g. "RCPT", "_EOD"), or for every keyword with "*" (ANY_KEYWORD) or "". An exact keyword
   * wins over "*". Registering the same pair twice throws: it is a programming error.
   */
  on(type: EventType, keyword: string, handler: Handler): this {
    const key = Worker.key(type, Worker.normalize(keyword));
    if (this.handlers.has(key)) {
      throw new Error(`a handler for ${eventName(type)} "${Worker.normalize(keyword)}" is already registered`);
    }
    this.handlers.set(key, handler);
    return this;
  }

  private static normalize(keyword: string): string {
    const k = keyword.trim().toUpperCase();
    return k === "" ? ANY_KEYWORD : k;
  }
  private static key(type: EventType, keyword: string): string {
    return `${type}/${keyword}`;
  }

  private lookup(ev: EventContext): Handler | undefined {
    const kw = ev.keyword.toUpperCase();
    return (
      (kw !== "" ? this.handlers.get(Worker.key(ev.type, kw)) : undefined) ??
      this.handlers.get(Worker.key(ev.type, ANY_KEYWORD)) ??
      this.options.fallback
    );
  }

  /**
   * Decide on one request: what the gRPC service does, callable directly (tests, other
   * transports). Rejects with the error the handler threw, or an Error for an invalid verdict.
   */
  async dispatch(request: SinkRequest, ctx?: Partial<HandlerContext> & { traceparent?: string }): Promise<VerdictProto> {
    return this.decide(new EventContext(request, ctx?.traceparent), ctx);
  }

  private async decide(ev: EventContext, ctx?: Partial<HandlerContext>): Promise<VerdictProto> {
    const handler = this.lookup(ev);
    if (!handler) return Verdict.continue().toProto();
    const verdict =
      (await handler(ev, { signal: ctx?.signal ?? new AbortController().signal, deadline: ctx?.deadline })) ??
      Verdict.continue();
    if (!(verdict instanceof Verdict)) {
      throw new Error(`handler for ${ev.typeName} ${ev.keyword} returned ${typeof verdict}, not a Verdict`);
    }
    const invalid = verdict.validate();
    if (invalid) throw new Error(invalid);
    return verdict.toProto();
  }

  /**
   * One event's whole path, shared by OnEvent and OnEvents: the handler, the verdict checks, the
   * log line and the error mapping (the status a unary call would return).
   */
  private async outcome(ev: EventContext, ctx: HandlerContext): Promise<Outcome> {
    const fields = () =>
      `event_id=${ev.id} event=${ev.typeName} keyword=${ev.keyword} binding=${ev.bindingName} trace_id=${ev.traceId || "-"}`;
    try {
      const verdict = await this.decide(ev, ctx);
      this.logger.debug(`${this.name}: event ${fields()} action=${Action[verdict.action]}`);
      return { verdict };
    } catch (err) {
      // The stack goes with it: the author finds the line without reproducing the event.
      this.logger.error(`${this.name}: handler failed ${fields()}:`, err instanceof Error ? (err.stack ?? err.message) : String(err));
      const { code, details } = toServiceError(err);
      return { error: { code: code ?? grpc.status.INTERNAL, message: details ?? "" } };
    }
  }

  private readonly onEvent: grpc.handleUnaryCall<SinkRequest, VerdictProto> = (call, callback) => {
    const request = call.request;
    const ev = new EventContext(request, String(call.metadata.get("traceparent")[0] ?? ""));
    const abort = new AbortController();
    // The gRPC deadline has millisecond resolution and may be absent; time_left is the
    // dispatcher's own figure.
    const callDeadline = call.getDeadline();
    let deadline: Date | undefined;
    if (callDeadline instanceof Date) deadline = callDeadline;
    else if (Number.isFinite(callDeadline)) deadline = new Date(callDeadline);
    else {
      if (ev.timeLeftMs > 0) deadline = new Date(Date.now() + ev.timeLeftMs);
    }
    const timer = deadline ? setTimeout(() => abort.abort(new Error("deadline exceeded")), Math.max(0, deadline.getTime() - Date.now())) : undefined;
    timer?.unref();
    call.on("cancelled", () => abort.abort(new Error("cancelled by the caller")));

    void this.outcome(ev, { signal: abort.signal, deadline }).then(({ verdict, error }) => {
      clearTimeout(timer);
      if (verdict) callback(null, verdict);
      else callback({ code: error?.code ?? grpc.status.INTERNAL, details: error?.message ?? "", message: error?.message ?? "", metadata: new grpc.Metadata() });
    });
  };

  private readonly streams = new Set<EventStream>();

  private readonly onEvents: grpc.handleBidiStreamingCall<SinkRequests, SinkAnswers> = (call) => {
    const stream = new EventStream(call, (request, ctx) => this.outcome(new EventContext(request, request.traceparent), ctx));
    this.streams.add(stream);
    stream.done.then(() => this.streams.delete(stream));
    if (this.shuttingDown) stream.drain();
  };

  /**
   * Listen on `address` ("127.0.0.1:0", "0.0.0.0:50051", "unix:/run/policy.sock") and serve. Resolves to the bound
   * "host:port". Unless `handleSignals` is false, SIGTERM and SIGINT call shutdown().
   */
  async listen(address: string, { handleSignals = true }: { handleSignals?: boolean } = {}): Promise<string> {
    if (this.server) throw new Error("worker is already listening");
    const server = new grpc.Server(this.options.serverOptions);
    server.addService(PolicySinkService, { onEvent: this.onEvent, onEvents: this.onEvents });
    this.health = new HealthImplementation({ "": "SERVING", [SINK_SERVICE]: "SERVING" });
    this.health.addToServer(server);
    if (this.options.reflection ?? true) this.addReflection(server);

    const credentials = this.options.credentials ?? grpc.ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, credentials, (err, p) =>
        err ? reject(new Error(`listen on ${address}: ${err.message}`)) : resolve(p),
      ),
    );
    this.server = server;
    await tlsReady(credentials).catch(async (err: Error) => {
      server.forceShutdown();
      this.server = undefined;
      throw err;
    });
    // "unix:/path" has no port; host:0 becomes host:<the port the system chose>.
    const bound = address.startsWith("unix:") ? address : `${address.slice(0, address.lastIndexOf(":"))}:${port}`;
    if (handleSignals) {
      process.once("SIGTERM", this.signalHandler);
      process.once("SIGINT", this.signalHandler);
    }
    this.logger.info(`${this.name}: listening on ${bound}`);
    return bound;
  }

  private addReflection(server: grpc.Server): void {
    const dir = join(PROTO_ROOT, "smtpbridge", "v1");
    if (!existsSync(dir)) {
      this.logger.warn(`reflection off: no proto files in ${dir}`);
      return;
    }
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".proto"))
      .map((f) => join("smtpbridge", "v1", f));
    const definition = protoLoader.loadSync(files, { includeDirs: [PROTO_ROOT] });
    new ReflectionService(definition).addToServer(server);
  }

  /**
   * Drain: health turns NOT_SERVING, new calls are refused, in-flight calls get the grace
   * period, then whatever is left is cancelled. Safe to call more than once.
   */
  shutdown(): Promise<void> {
    this.shuttingDown ??= this.drain();
    return this.shuttingDown;
  }

  private async drain(): Promise<void> {
    process.removeListener("SIGTERM", this.signalHandler);
    process.removeListener("SIGINT", this.signalHandler);
    const server = this.server;
    if (!server) return;
    this.logger.info(`${this.name}: draining (grace period ${this.gracePeriodMs / 1000} s)`);
    this.health?.setStatus("", "NOT_SERVING");
    this.health?.setStatus(SINK_SERVICE, "NOT_SERVING");
    // Open OnEvents streams answer what they owe, then end with OK (tryShutdown waits for them).
    for (const stream of this.streams) stream.drain();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.logger.warn("grace period over, cancelling in-flight calls");
        server.forceShutdown();
        resolve();
      }, this.gracePeriodMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.server = undefined;
    this.logger.info(`${this.name}: stopped`);
    this.stopped?.();
  }

  private stopped: (() => void) | undefined;

  /**
   * The usual worker command line: --listen HOST:PORT (default 127.0.0.1:50051), --ready-file
   * PATH, --log-level LEVEL, --tls-cert/--tls-key/--tls-client-ca FILE (mutual TLS, reloaded on
   * change); each also from the environment (SMTPBRIDGE_LISTEN, SMTPBRIDGE_READY_FILE,
   * SMTPBRIDGE_LOG_LEVEL, SMTPBRIDGE_TLS_CERT, SMTPBRIDGE_TLS_KEY, SMTPBRIDGE_TLS_CLIENT_CA).
   * Serves until SIGTERM/SIGINT, drains, resolves. Sets process.exitCode to 1 on a startup error.
   */
  async main(argv: string[] = process.argv.slice(2)): Promise<void> {
    try {
      const args = parseServeArgs(argv, process.env);
      if (!this.options.logger) this.logger = stderrLogger(args.logLevel);
      if (args.tls) this.options.credentials = tlsServerCredentials(args.tls);
      const done = new Promise<void>((resolve) => (this.stopped = resolve));
      const address = await this.listen(args.listen);
      writeReadyFile(args.readyFile, address);
      await done;
    } catch (err) {
      this.logger.error(`${this.name}: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
      await this.shutdown();
    }
  }
}
