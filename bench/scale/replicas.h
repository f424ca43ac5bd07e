// The replica half of bench_scale: what adding dispatcher processes buys on this machine, how
// evenly the sinks spread over them, and what a replica killed under load costs. See
// bench/README.md ("scale") and docs/scaling.md.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "measure.h"
#include "smtpbridge/sink/sink.h"

namespace smtpbridge::bench {

// Sends each event through the next of `sinks` in turn; the answer counts when it came from a
// dispatcher (not the sink's fallback), and a fallback is named by its reason.
Submit SinkSubmit(std::vector<sink::Sink*> sinks, std::chrono::microseconds budget);

struct ReplicaBenchOptions {
  std::string bin_dir;
  std::string budget_text = "20ms";
  std::chrono::microseconds budget{20000};
  size_t events = 20000;  // per dispatcher count, answered, at `in_flight`
  size_t in_flight = 64;  // over all sinks
  double seconds = 3;     // each phase of the kill measurement
  bool smoke = false;
};

// 1, 2 and 3 dispatchers (one target listing them, four sinks on streams) in front of two replicas
// of the example worker: events/s, CPU and context switches per event and the spread over the
// dispatchers (from their metrics), as ratios to one dispatcher; then, at half the 3-dispatcher
// rate, open-loop latency before, during and after `kill -9` of one dispatcher and one worker.
// Throws std::runtime_error when a process does not start.
void RunReplicaBench(const ReplicaBenchOptions& options);

}  // namespace smtpbridge::bench
