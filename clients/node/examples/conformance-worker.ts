// The Node SDK's worker for the shared conformance suite (tests/vectors/SPEC.md): one handler
// for every event type, whose verdict the binding's sink_properties describe.
// Flags: --listen HOST:PORT (port 0 allowed), --ready-file PATH, --log-level LEVEL.
import { ALL_EVENT_TYPES, ANY_KEYWORD, Worker } from "../src";
import { decide } from "./conformance-policy";
import { parseServeFlags, stderrLogger, writeReadyFile } from "./cli";

async function main(): Promise<void> {
  const flags = parseServeFlags("127.0.0.1:0");
  const worker = new Worker({ logger: stderrLogger(flags.logLevel) });
  for (const type of ALL_EVENT_TYPES) worker.on(type, ANY_KEYWORD, (ev) => decide(ev));
  writeReadyFile(flags.readyFile, await worker.listen(flags.listen));
}

main().catch((err: unknown) => {
  console.error("conformance-worker:", err instanceof Error ? err.message : err);
  process.exit(1);
});
