// Decision logs (what OPA calls them): one JSON object per line for each dispatcher decision,
// to stdout or a file, sampled and capped, with the ids that join the processes' logs (event,
// session, trace) and every matching binding's outcome. No message body, no AUTH data, no
// command argument; envelope addresses are written as they are or, with hash_addresses, as
// "sha256:<16 hex>" of the lower-cased address. Hooked in through the Recorder
// (DispatchObserver::OnDecisionDetail). Format in docs/security.md.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dispatch/fanout.h"

namespace smtpbridge::dispatcher {

struct DecisionLogOptions {
  std::string path;             // empty: off; "-": stdout; else a file, appended to
  double sample_rate = 1.0;     // fraction of decisions written, 0..1
  uint32_t max_per_second = 0;  // lines per second at most (0: no cap); the rest are counted
  bool hash_addresses = false;  // envelope sender/recipient as sha256 prefixes
};

class DecisionLog {
 public:
  // nullptr with `error` when the file cannot be opened or an option is out of range.
  static std::unique_ptr<DecisionLog> Open(const DecisionLogOptions& options, std::string* error);
  DecisionLog(DecisionLogOptions options, std::FILE* out, bool owns_out);
  ~DecisionLog();
  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;

  // Writes the decision's line unless sampled out or over the cap. Thread-safe.
  void Write(const EventInfo& event, const v1::EvaluateResponse& response,
             const std::vector<DecisionOutcome>& outcomes);

  // The line's object (also what tests check).
  static nlohmann::json ToJson(const EventInfo& event, const v1::EvaluateResponse& response,
                               const std::vector<DecisionOutcome>& outcomes, bool hash_addresses);

  // Counts lines by result in `registry` too: smtpbridge_dispatcher_decision_log_lines_total
  // {result="written"|"sampled_out"|"over_cap"}. Before the first Write().
  void ExportTo(prometheus::Registry& registry);

  uint64_t written() const;
  uint64_t sampled_out() const;
  uint64_t over_cap() const;

 private:
  DecisionLogOptions options_;
  std::FILE* out_;
  bool owns_out_;
  mutable std::mutex mu_;
  std::chrono::steady_clock::time_point window_{};
  uint32_t in_window_ = 0;
  uint64_t written_ = 0;
  uint64_t sampled_out_ = 0;
  uint64_t over_cap_ = 0;
  prometheus::Counter* written_counter_ = nullptr;
  prometheus::Counter* sampled_out_counter_ = nullptr;
  prometheus::Counter* over_cap_counter_ = nullptr;
};

// "sha256:" + the first 16 hex digits of SHA-256(lower-cased address); "" stays "".
std::string HashAddress(const std::string& address);

}  // namespace smtpbridge::dispatcher
