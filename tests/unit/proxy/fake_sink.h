// A scripted Sink for proxy tests: records every event, answers with a scripted verdict either
// inline or from its own thread after a delay, or never (to prove the proxy does not stall).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "smtpbridge/sink/sink.h"

namespace smtpbridge::testing {

class FakeSink : public sink::Sink {
 public:
  using Script = std::function<v1::Verdict(const v1::Event&)>;

  FakeSink();
  ~FakeSink() override;

  void Evaluate(v1::Event event, std::chrono::microseconds budget,
                sink::EvaluationCallback done) override;
  bool Wants(uint32_t instance, v1::EventType type, std::string_view keyword) const override;
  uint32_t BodyLimit(uint32_t instance) const override { return body_limit_; }
  void Shutdown() override {}

  void set_script(Script script);
  // Only these (type, keyword) pairs are wanted; keyword "" wants the type for any keyword.
  // Not calling it wants everything.
  void WantOnly(std::vector<std::pair<v1::EventType, std::string>> wanted);
  void set_body_limit(uint32_t limit) { body_limit_ = limit; }
  // Answer from a separate thread after `delay` (0: inline).
  void set_delay(std::chrono::milliseconds delay) { delay_ = delay; }
  // Never call back (breaks the Sink's promise; the proxy must still continue).
  void set_never_answer(bool never) { never_answer_ = never; }

  std::vector<v1::Event> events() const;
  // "INBOUND_COMMAND:EHLO", "SESSION_START:EHLO", "SERVER_RESPONSE:EHLO", "CONNECT:" ...
  std::vector<std::string> trace() const;
  // True once `n` events were seen: a session fires its last events (SERVER_RESPONSE:QUIT) on its
  // own thread, possibly after the client and the next hop are done.
  bool WaitForEvents(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Script script_;
  bool want_all_ = true;
  std::set<std::pair<int, std::string>> wanted_;
  std::atomic<uint32_t> body_limit_{1024};
  std::chrono::milliseconds delay_{0};
  bool never_answer_ = false;
  std::vector<v1::Event> events_;
  std::vector<sink::EvaluationCallback> never_called_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::function<void()>>> delayed_;
  bool stopping_ = false;
  std::thread worker_;
};

// Verdict helpers.
v1::Verdict Continue();
v1::Verdict Reply(v1::Action action, uint32_t code, const std::string& enhanced,
                  const std::string& text);

}  // namespace smtpbridge::testing
