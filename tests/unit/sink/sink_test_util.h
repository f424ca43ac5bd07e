// Shared pieces of the sink's unit tests: events, verdicts, a callback recorder and a SinkCore
// wired to the fake dispatcher client and simulated time.
#pragma once

#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/sink_core.h"
#include "fake_dispatcher_client.h"
#include "manual_timers.h"

namespace smtpbridge::sink::testing {

inline v1::Event MakeEvent(v1::EventType type, const std::string& keyword = "",
                           const std::string& argument = "",
                           const std::string& client = "192.0.2.10", uint32_t instance = 1) {
  v1::Event e;
  e.set_event_id("ev-1");
  e.set_type(type);
  e.mutable_session()->set_session_id("s-1");
  e.mutable_session()->set_instance(instance);
  e.mutable_session()->mutable_client()->set_address(client);
  e.mutable_command()->set_keyword(keyword);
  e.mutable_command()->set_argument(argument);
  e.mutable_command()->set_line(keyword + (argument.empty() ? "" : " " + argument));
  return e;
}

inline v1::Event Rcpt(const std::string& to, const std::string& client = "192.0.2.10") {
  return MakeEvent(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", "TO:<" + to + ">", client);
}

inline v1::Verdict MakeVerdict(v1::Action action, uint32_t code = 0, const std::string& text = "") {
  v1::Verdict v;
  v.set_action(action);
  if (code != 0) {
    v.mutable_reply()->set_code(code);
    if (!text.empty()) v.mutable_reply()->add_lines(text);
  }
  return v;
}

// Collects every evaluation a sink hands back, from any thread.
class Recorder {
 public:
  EvaluationCallback Callback() {
    return [this](Evaluation e) {
      std::lock_guard lock(mu_);
      got_.push_back(std::move(e));
    };
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return got_.size();
  }
  Evaluation at(std::size_t i) const {
    std::lock_guard lock(mu_);
    return got_.at(i);
  }

 private:
  mutable std::mutex mu_;
  std::vector<Evaluation> got_;
};

inline SinkOptions QuietOptions() {
  SinkOptions o;
  o.interests.enabled = false;  // tests that want interests turn them on
  o.metrics_registry = std::make_shared<prometheus::Registry>();
  return o;
}

// A SinkCore over the fake client and simulated time.
struct Harness {
  explicit Harness(SinkOptions options = QuietOptions(), LocalRules rules = {}) {
    auto fake_client = std::make_unique<FakeDispatcherClient>();
    fake = fake_client.get();
    timers = std::make_shared<ManualTimers>();
    sink = std::make_unique<SinkCore>(std::move(options), std::move(fake_client), timers,
                                      std::move(rules));
  }

  FakeDispatcherClient* fake;
  std::shared_ptr<ManualTimers> timers;
  std::unique_ptr<SinkCore> sink;
};

}  // namespace smtpbridge::sink::testing
