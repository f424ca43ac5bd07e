// A small, sensible policy written with the Node SDK:
//  - RCPT: reject recipients listed in the binding's `blocked_recipients` property
//    (comma-separated, case-insensitive), caching the answer per recipient;
//  - MAIL: tempfail senders whose domain is in `tempfail_sender_domains`;
//  - _EOD: stamp the message with a header (`header_name`, default X-Smtpbridge-Policy).
// Flags: --listen HOST:PORT (default 127.0.0.1:50051), --ready-file PATH, --log-level LEVEL.
import { CacheScope, EventType, Verdict, Worker } from "../src";
import { parseServeFlags, stderrLogger, writeReadyFile } from "./cli";

export function buildWorker(options: ConstructorParameters<typeof Worker>[0] = {}): Worker {
  return new Worker(options)
    .on(EventType.INBOUND_COMMAND, "RCPT", (ev) => {
      const rcpt = ev.recipient.toLowerCase();
      if (ev.propertyList("blocked_recipients").some((b) => b.toLowerCase() === rcpt)) {
        return Verdict.reject(550, "5.7.1", `recipient ${ev.recipient} does not accept mail`)
          .reason("blocked recipient")
          .tag("blocked-recipient")
          .cacheFor(60_000, CacheScope.RECIPIENT);
      }
      return Verdict.continue();
    })
    .on(EventType.INBOUND_COMMAND, "MAIL", (ev) => {
      const domain = ev.sender.split("@")[1]?.toLowerCase() ?? "";
      if (domain && ev.propertyList("tempfail_sender_domains").some((d) => d.toLowerCase() === domain)) {
        return Verdict.tempfail(451, "4.7.1", `sender domain ${domain} is greylisted, try later`)
          .reason("greylisted sender domain")
          .tag("greylist");
      }
      return Verdict.continue();
    })
    .on(EventType.INBOUND_COMMAND, "_EOD", (ev) =>
      Verdict.continue().addHeader(
        ev.property("header_name", "X-Smtpbridge-Policy"),
        `checked by node example-worker; ${ev.recipients.length} recipient(s)`,
      ),
    );
}

if (require.main === module) {
  const flags = parseServeFlags("127.0.0.1:50051");
  buildWorker({ logger: stderrLogger(flags.logLevel) })
    .listen(flags.listen)
    .then((address) => writeReadyFile(flags.readyFile, address))
    .catch((err: unknown) => {
      console.error("example-worker:", err instanceof Error ? err.message : err);
      process.exit(1);
    });
}
