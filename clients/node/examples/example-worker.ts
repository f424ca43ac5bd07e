// A small, sensible policy written with the Node SDK (the same policy as every SDK's example):
//  - RCPT: reject recipients listed in the binding's `blocked` property (comma-separated,
//    compared case-insensitively with addressIn), caching the answer per recipient;
//  - MAIL: tempfail senders whose domain is in `tempfail_sender_domains`;
//  - _EOD: stamp the message with a header (`header_name`, default X-Smtpbridge-Policy).
// Flags (or SMTPBRIDGE_* environment): --listen HOST:PORT (default 127.0.0.1:50051),
// --ready-file PATH, --log-level LEVEL, --tls-cert/--tls-key/--tls-client-ca FILE.
import { CacheScope, EventType, Verdict, Worker, type WorkerOptions, addressIn } from "../src";

export function buildWorker(options: WorkerOptions = {}): Worker {
  return new Worker({ name: "example-worker", ...options })
    .on(EventType.INBOUND_COMMAND, "RCPT", (ev) => {
      if (addressIn(ev.recipient, ev.propertyList("blocked"))) {
        return Verdict.reject(550, "5.7.1", `recipient ${ev.recipient} does not accept mail`)
          .reason("blocked recipient")
          .tag("blocked")
          .cacheFor(60, CacheScope.RECIPIENT);
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

if (require.main === module) void buildWorker().main();
