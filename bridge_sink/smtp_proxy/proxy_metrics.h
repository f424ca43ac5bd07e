// Proxy counters, declared once (Prometheus, exposed by main on --metrics-listen).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <memory>

namespace smtpbridge::proxy {

struct ProxyMetrics {
  explicit ProxyMetrics(std::shared_ptr<prometheus::Registry> registry);

  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Counter& sessions;
  prometheus::Counter& sessions_refused;  // max_sessions reached
  prometheus::Gauge& sessions_active;
  prometheus::Counter& commands;
  prometheus::Counter& events_fired;
  prometheus::Counter& events_skipped;     // Sink::Wants said nobody listens
  prometheus::Counter& sink_overdue;       // the sink broke its budget; the proxy continued
  prometheus::Counter& verdicts_enforced;  // a verdict changed what the proxy did
  prometheus::Counter& messages_relayed;   // next hop said 2xx at end of data
  prometheus::Counter& messages_refused;   // refused by the proxy or policy before the next hop
  prometheus::Counter& next_hop_failures;
  prometheus::Counter& timeouts;
  prometheus::Counter& write_timeouts;    // writes the client did not take in time (also timeouts)
  prometheus::Counter& edits_refused;     // message edits that were invalid, or came before _EOD
  prometheus::Counter& verdicts_refused;  // verdict parts the proxy cannot apply (verdict_text.h)
};

}  // namespace smtpbridge::proxy
