// A Sink for host tests: configurable interests, a verdict function, every event recorded.
// Answers inline by default, or from its own thread (as the real sink does) when asked.
#pragma once

#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "smtpbridge/sink/sink.h"

namespace smtpbridge::testing {

class FakeSink : public sink::Sink {
 public:
  using Decide = std::function<v1::Verdict(const v1::Event&)>;

  // Wanted "TYPE:KEYWORD" pairs, e.g. "INBOUND_COMMAND:RCPT", "CONNECT:"; "*" wants everything.
  std::set<std::string> wanted{"*"};
  uint32_t body_limit = 0;
  bool answer_on_thread = false;
  sink::FallbackReason reason = sink::FallbackReason::kNone;
  Decide decide = [](const v1::Event&) { return v1::Verdict(); };

  void Evaluate(v1::Event event, std::chrono::microseconds budget,
                sink::EvaluationCallback done) override {
    sink::Evaluation e;
    {
      std::lock_guard lock(mu_);
      events_.push_back(event);
      budgets_.push_back(budget);
    }
    e.verdict = decide(event);
    e.reason = reason;
    if (reason != sink::FallbackReason::kNone) e.source = sink::VerdictSource::kDefault;
    if (answer_on_thread) {
      // Kept, not detached: a completion must never outlive the executor it posts to, so the
      // threads are joined (Shutdown, destructor) before a fixture's io_context goes away.
      std::lock_guard lock(mu_);
      threads_.emplace_back(
          [done = std::move(done), e = std::move(e)]() mutable { done(std::move(e)); });
    } else {
      done(std::move(e));
    }
  }

  bool Wants(uint32_t, v1::EventType type, std::string_view keyword) const override {
    if (wanted.count("*")) return true;
    const std::string t = type == v1::EVENT_TYPE_CONNECT ? "CONNECT" : "INBOUND_COMMAND";
    if (keyword.empty()) {
      for (const auto& w : wanted)
        if (w.rfind(t + ":", 0) == 0) return true;
      return false;
    }
    return wanted.count(t + ":" + std::string(keyword)) > 0;
  }

  uint32_t BodyLimit(uint32_t) const override { return body_limit; }
  // Like the real sink: once Shutdown returns, every callback has run.
  void Shutdown() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }
  ~FakeSink() override { Shutdown(); }

  std::vector<v1::Event> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<std::chrono::microseconds> budgets() const {
    std::lock_guard lock(mu_);
    return budgets_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<v1::Event> events_;
  std::vector<std::chrono::microseconds> budgets_;
  std::vector<std::thread> threads_;
};

inline v1::Verdict MakeVerdict(v1::Action action, uint32_t code = 0, std::string enhanced = "",
                               std::vector<std::string> lines = {}) {
  v1::Verdict v;
  v.set_action(action);
  if (code) {
    v.mutable_reply()->set_code(code);
    v.mutable_reply()->set_enhanced_code(enhanced);
    for (auto& l : lines) v.mutable_reply()->add_lines(l);
  }
  return v;
}

}  // namespace smtpbridge::testing
