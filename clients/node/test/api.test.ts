// The API every SDK shares (docs/sdk.md): traceparent on the event and in the log lines, handler
// errors logged with their stack, main() from the environment, "stopped" after a drain.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Action, EventContext, EventType, type Logger, Verdict, Worker, parseServeArgs, proto } from "../src";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

function call(address: string, req: proto.sink.SinkRequest, md = new grpc.Metadata()): Promise<proto.verdict.Verdict> {
  const client = new proto.sink.PolicySinkClient(address, grpc.credentials.createInsecure());
  return new Promise<proto.verdict.Verdict>((resolve, reject) =>
    client.onEvent(req, md, { deadline: Date.now() + 10_000 }, (err, v) => (err ? reject(err) : resolve(v))),
  ).finally(() => client.close());
}

test("traceparent reaches the handler and every log line; errors are logged with their stack", async (t) => {
  const lines: string[] = [];
  const rec = (level: string) => (...args: unknown[]) => lines.push(`${level} ${args.map(String).join(" ")}`);
  const logger: Logger = { debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") };
  let seen = "";
  const w = new Worker({ logger })
    .on(EventType.INBOUND_COMMAND, "RCPT", (ev) => {
      seen = ev.traceparent;
      return Verdict.continue();
    })
    .on(EventType.INBOUND_COMMAND, "MAIL", () => Verdict.continue().addHeader("Bad Name", "v"));
  const address = await w.listen("127.0.0.1:0", { handleSignals: false });
  t.after(() => w.shutdown());
  const md = new grpc.Metadata();
  md.set("traceparent", TRACEPARENT);
  const req = (keyword: string) => proto.sink.SinkRequest.fromPartial({ event: { type: EventType.INBOUND_COMMAND, command: { keyword } } });
  assert.equal((await call(address, req("RCPT"), md)).action, Action.ACTION_CONTINUE);
  await assert.rejects(call(address, req("MAIL"), md), { code: grpc.status.INTERNAL });
  await w.shutdown();

  assert.equal(seen, TRACEPARENT);
  assert.ok(lines.some((l) => l.startsWith("debug ") && l.includes(" event ") && l.includes(`trace_id=${TRACE_ID}`)), lines.join("\n"));
  const failed = lines.find((l) => l.startsWith("error ") && l.includes("handler failed"));
  assert.ok(failed?.includes(`trace_id=${TRACE_ID}`) && failed.includes("VerdictError") && failed.includes("api.test.js"), failed);
  assert.ok(lines.some((l) => l.includes("stopped")), lines.join("\n"));
  assert.equal(new EventContext(req("RCPT"), "junk").traceparent, "");
  assert.equal(new EventContext(req("RCPT"), TRACEPARENT).traceId, TRACE_ID);
});

test("serve flags fall back to the environment; TLS needs all three files", () => {
  const env = { SMTPBRIDGE_LISTEN: "127.0.0.1:0", SMTPBRIDGE_LOG_LEVEL: "debug", SMTPBRIDGE_READY_FILE: "/x" };
  assert.deepEqual(parseServeArgs([], env), { listen: "127.0.0.1:0", readyFile: "/x", logLevel: "debug", tls: undefined });
  assert.equal(parseServeArgs(["--listen", "127.0.0.1:7"], env).listen, "127.0.0.1:7");
  assert.equal(parseServeArgs([], {}).listen, "127.0.0.1:50051");
  assert.throws(() => parseServeArgs(["--tls-cert", "c"], {}), /all of/);
  assert.deepEqual(parseServeArgs(["--tls-cert", "c", "--tls-key", "k"], { SMTPBRIDGE_TLS_CLIENT_CA: "ca" }).tls, { cert: "c", key: "k", clientCa: "ca" });
});

test("the example worker runs from the environment, logs each event at debug, says stopped, exits 0", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sbx-node-api-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ready = join(dir, "ready");
  const child = spawn(process.execPath, [join(__dirname, "..", "examples", "example-worker.js")], {
    env: { ...process.env, SMTPBRIDGE_LISTEN: "127.0.0.1:0", SMTPBRIDGE_READY_FILE: ready, SMTPBRIDGE_LOG_LEVEL: "debug" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  t.after(() => child.kill("SIGKILL"));
  const deadline = Date.now() + 20_000;
  while (!existsSync(ready) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const address = readFileSync(ready, "utf8").trim();
  const props = { blocked: "blocked@example.com, other@example.com" };
  const v = await call(address, proto.sink.SinkRequest.fromPartial({
    event: { type: EventType.INBOUND_COMMAND, command: { keyword: "RCPT" }, envelope: { recipient: "Blocked@Example.COM" } },
    binding: { sinkProperties: props },
  }));
  assert.equal(v.action, Action.ACTION_REJECT);
  assert.equal(v.reply?.code, 550);
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.match(stderr, /debug example-worker: event .*keyword=RCPT.*action=ACTION_REJECT/);
  assert.match(stderr, /example-worker: stopped/);
});
