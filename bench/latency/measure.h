// Load shapes and the figures they produce: closed loop (one event in flight) and open loop
// (a fixed offered rate, latency counted from the scheduled send time so a stall is not hidden).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "smtpbridge/v1/event.pb.h"

namespace smtpbridge::bench {

// Sends one event; calls `done(answered)` exactly once, from any thread. `answered` is false
// when the answer did not come from the far end (error, fallback).
using Submit = std::function<void(v1::Event event, std::function<void(bool answered)> done)>;

struct Figures {
  std::string label;
  size_t sent = 0;
  size_t answered = 0;
  size_t dropped = 0;  // errors, fallbacks and (open loop) answers that never came
  double seconds = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
  double events_per_s = 0;
  double cpu_us_per_event = 0;  // this process plus the listed children
};

// CPU seconds used so far by this process and by `children` (from /proc/<pid>/stat).
double CpuSeconds(const std::vector<pid_t>& children);

v1::Event BenchEvent(uint64_t n, std::chrono::microseconds budget);

Figures RunClosedLoop(const std::string& label, const Submit& submit, size_t events, size_t warmup,
                      std::chrono::microseconds budget, const std::vector<pid_t>& children);

Figures RunOpenLoop(const std::string& label, const Submit& submit, double rate,
                    std::chrono::milliseconds duration, std::chrono::microseconds budget,
                    const std::vector<pid_t>& children);

}  // namespace smtpbridge::bench
