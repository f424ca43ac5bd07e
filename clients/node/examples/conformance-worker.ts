// The Node SDK's worker for the shared conformance suite (tests/vectors/SPEC.md): one handler
// for every event type, whose verdict the binding's sink_properties describe.
// Flags: --listen HOST:PORT (port 0 allowed), --ready-file PATH, --log-level LEVEL (Worker.main).
import { ALL_EVENT_TYPES, ANY_KEYWORD, Worker } from "../src";
import { decide } from "./conformance-policy";

const worker = new Worker({ name: "conformance-worker" });
for (const type of ALL_EVENT_TYPES) worker.on(type, ANY_KEYWORD, (ev) => decide(ev));
void worker.main(["--listen", "127.0.0.1:0", ...process.argv.slice(2)]);
