import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Action, EventType, EventContext, proto } from "../src";
import { decide, echo, parseReply } from "../examples/conformance-policy";

function event(props: Record<string, string>): EventContext {
  return new EventContext(
    proto.sink.SinkRequest.fromPartial({
      event: {
        type: EventType.INBOUND_COMMAND,
        command: { keyword: "RCPT", argument: "TO:<b@y>" },
        session: { instance: 1, heloName: "h.example", client: { address: "192.0.2.7" } },
        envelope: { sender: "a@x", recipient: "b@y", recipients: ["c@y"] },
      },
      binding: { name: "conf", sinkProperties: props },
    }),
  );
}

test("parseReply reads code, optional enhanced code and |-separated lines", () => {
  assert.deepEqual(parseReply("250 2.0.0 a|b"), { code: 250, enhanced: "2.0.0", lines: ["a", "b"] });
  assert.deepEqual(parseReply("421 closing"), { code: 421, enhanced: "", lines: ["closing"] });
  assert.deepEqual(parseReply("451"), { code: 451, enhanced: "", lines: [] });
  assert.deepEqual(parseReply("550 5.1.1"), { code: 550, enhanced: "5.1.1", lines: [] });
  assert.throws(() => parseReply("x50 no"));
});

test("decide builds every part from properties; the last edit field keeps its colons", () => {
  const p = decide(
    event({
      verdict: "reject", reply: "550 5.7.1 no|thanks", set_command: "RCPT TO:<z@y>", append: " X=1",
      next_state: "SESSION_END", edits: "add_header:X-Url:http://a;insert_header:0:X-B:v;change_header:Subject:2:;discard",
      cache_ttl_ms: "1500", cache_scope: "recipient", tags: "a,b", reason: "literal",
    }),
  ).toProto();
  assert.equal(p.action, Action.ACTION_REJECT);
  assert.deepEqual(p.reply, { code: 550, enhancedCode: "5.7.1", lines: ["no", "thanks"] });
  assert.deepEqual(p.command, { setCommand: "RCPT TO:<z@y>", append: " X=1" });
  assert.deepEqual(p.edits[0].addHeader, { name: "X-Url", value: "http://a" });
  assert.deepEqual(p.edits[2].changeHeader, { name: "Subject", occurrence: 2, value: "" });
  assert.deepEqual(p.cacheTtl, { seconds: 1, nanos: 500_000_000 });
  assert.deepEqual(p.tags, ["a", "b"]);
  assert.equal(p.reason, "literal");
});

test("decide fails when asked to or when properties are malformed", () => {
  const bad: Record<string, string>[] = [{ fail: "1" }, { verdict: "maybe" }, { next_state: "NOWHERE" }, { edits: "explode" }, { cache_ttl_ms: "soon" }];
  for (const props of bad) {
    assert.throws(() => decide(event(props)), JSON.stringify(props));
  }
});

test("echo is canonical", () => {
  assert.equal(
    echo(event({})),
    "type=INBOUND_COMMAND;keyword=RCPT;arg=TO:<b@y>;sender=a@x;rcpt=b@y;rcpts=1;client=192.0.2.7;helo=h.example;headers=0;body=0;binding=conf;instance=1",
  );
});

test("the compiled conformance worker writes its ready file, answers, and exits 0 on SIGTERM", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sbx-node-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ready = join(dir, "ready");
  const child = spawn(process.execPath, [join(__dirname, "..", "examples", "conformance-worker.js"), "--listen", "127.0.0.1:0", "--ready-file", ready, "--log-level", "off"], { stdio: "inherit" });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  t.after(() => child.kill("SIGKILL"));

  const deadline = Date.now() + 20_000;
  while (!existsSync(ready) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const address = readFileSync(ready, "utf8");
  assert.match(address, /^127\.0\.0\.1:\d+\n$/);

  const client = new proto.sink.PolicySinkClient(address.trim(), grpc.credentials.createInsecure());
  const v = await new Promise<proto.verdict.Verdict>((resolve, reject) =>
    client.onEvent(
      proto.sink.SinkRequest.fromPartial({
        event: { type: EventType.CONNECT },
        binding: { sinkProperties: { verdict: "tempfail", reply: "421 4.3.2 busy" } },
      }),
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
  client.close();
  assert.equal(v.action, Action.ACTION_TEMPFAIL);
  assert.equal(v.reply?.code, 421);

  child.kill("SIGTERM");
  assert.equal(await exited, 0);
});
