// Load shapes and the figures they produce: closed loop (one event in flight), a fixed number of
// events in flight (the concurrency sweep), and open loop (a fixed offered rate, latency counted
// from the scheduled send time so a stall is not hidden). Each also measures what the path's
// processes spent (bench/common/proc_cost.h): CPU and context switches per decision.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "proc_cost.h"
#include "smtpbridge/v1/event.pb.h"

namespace smtpbridge::bench {

// Sends one event; calls `done(answered, why)` exactly once, from any thread. `answered` is
// false when the answer did not come from the far end; `why` then names the error or fallback.
using Done = std::function<void(bool answered, std::string_view why)>;
using Submit = std::function<void(v1::Event event, Done done)>;

struct Figures {
  std::string label;
  size_t sent = 0;
  size_t answered = 0;
  size_t dropped = 0;  // errors, fallbacks and (open loop) answers that never came
  std::map<std::string, size_t> drop_reasons;
  double seconds = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
  double events_per_s = 0;
  // Per decision (event sent), every process of the path, this one included.
  double cpu_us_per_event = 0;
  double ctxt_per_event = 0;  // voluntary + involuntary context switches, all threads
  // The middle process alone (the last one of the path: forwarder or dispatcher).
  double mid_cpu_us_per_event = 0;
  double mid_ctxt_per_event = 0;

  // Raw material, so rounds of the same measurement can be merged before the figures are made.
  std::vector<double> samples_us;
  PathCost cost;
};

// Adds `round` (same label) into `total`; then Finalize() computes the percentiles and rates.
void Merge(Figures& total, const Figures& round);
void Finalize(Figures& f);

v1::Event BenchEvent(uint64_t n, std::chrono::microseconds budget);

// The benches' bindings file: one RCPT binding (instance 1) to `sink_target` (e.g.
// "ipv4:127.0.0.1:5000,127.0.0.1:5001") with `timeout` and on_error: continue.
std::string RcptBindingYaml(const std::string& sink_target, const std::string& timeout);

// Whether the runs below also count what each thread of the path spent (Figures::cost.PerThread).
void CountPerThread(bool on);

// `path`: the processes whose cost to count (pid 0: this one), the middle process last.
Figures RunClosedLoop(const std::string& label, const Submit& submit, size_t events, size_t warmup,
                      std::chrono::microseconds budget, const std::vector<PathProcess>& path);

// `in_flight` events outstanding at all times (the next one sent as each answer comes back)
// until `events` were answered, after `warmup` events the same way; latency from each send.
Figures RunInFlight(const std::string& label, const Submit& submit, size_t in_flight, size_t events,
                    size_t warmup, std::chrono::microseconds budget,
                    const std::vector<PathProcess>& path);

Figures RunOpenLoop(const std::string& label, const Submit& submit, double rate,
                    std::chrono::milliseconds duration, std::chrono::microseconds budget,
                    const std::vector<PathProcess>& path);

}  // namespace smtpbridge::bench
