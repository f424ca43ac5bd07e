#include "proxy_metrics.h"

namespace smtpbridge::proxy {
namespace {

prometheus::Counter& MakeCounter(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

}  // namespace

ProxyMetrics::ProxyMetrics(std::shared_ptr<prometheus::Registry> r)
    : registry(r ? std::move(r) : std::make_shared<prometheus::Registry>()),
      sessions(
          MakeCounter(*registry, "smtpbridge_proxy_sessions_total", "Client sessions accepted")),
      sessions_refused(MakeCounter(*registry, "smtpbridge_proxy_sessions_refused_total",
                                   "Client sessions refused with 421 at max_sessions")),
      sessions_active(prometheus::BuildGauge()
                          .Name("smtpbridge_proxy_sessions_active")
                          .Help("Client sessions open now")
                          .Register(*registry)
                          .Add({})),
      commands(
          MakeCounter(*registry, "smtpbridge_proxy_commands_total", "Client command lines read")),
      events_fired(
          MakeCounter(*registry, "smtpbridge_proxy_events_fired_total", "Events sent to the sink")),
      events_skipped(MakeCounter(*registry, "smtpbridge_proxy_events_skipped_total",
                                 "Events not sent because no binding wants them")),
      sink_overdue(MakeCounter(*registry, "smtpbridge_proxy_sink_overdue_total",
                               "Evaluations the sink did not answer within budget plus grace")),
      verdicts_enforced(MakeCounter(*registry, "smtpbridge_proxy_verdicts_enforced_total",
                                    "Verdicts that changed the dialogue")),
      messages_relayed(MakeCounter(*registry, "smtpbridge_proxy_messages_relayed_total",
                                   "Messages the next hop accepted")),
      messages_refused(MakeCounter(*registry, "smtpbridge_proxy_messages_refused_total",
                                   "Messages refused before reaching the next hop")),
      next_hop_failures(MakeCounter(*registry, "smtpbridge_proxy_next_hop_failures_total",
                                    "Next-hop connect, I/O, timeout or protocol failures")),
      timeouts(MakeCounter(*registry, "smtpbridge_proxy_client_timeouts_total",
                           "Client idle or session timeouts")),
      write_timeouts(MakeCounter(*registry, "smtpbridge_proxy_client_write_timeouts_total",
                                 "Writes to the client that missed the idle timeout (nothing more "
                                 "is written to that client)")),
      edits_refused(MakeCounter(*registry, "smtpbridge_proxy_edits_refused_total",
                                "Message edits refused: invalid, or on an event before _EOD")),
      verdicts_refused(MakeCounter(*registry, "smtpbridge_proxy_verdicts_refused_total",
                                   "Verdict parts the proxy cannot apply (DEFER_IF_REJECT, filter, "
                                   "redirect, unknown actions, replies breaking the contract)")) {}

}  // namespace smtpbridge::proxy
