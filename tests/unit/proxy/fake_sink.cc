#include "fake_sink.h"

#include <thread>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::testing {

FakeSink::FakeSink() {
  worker_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (delayed_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto due = delayed_.front().first;
      if (std::chrono::steady_clock::now() < due) {
        cv_.wait_until(lock, due);
        continue;
      }
      auto fn = std::move(delayed_.front().second);
      delayed_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  });
}

FakeSink::~FakeSink() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void FakeSink::Evaluate(v1::Event event, std::chrono::microseconds budget,
                        sink::EvaluationCallback done) {
  v1::Verdict verdict;
  std::chrono::milliseconds delay;
  {
    std::lock_guard lock(mu_);
    events_.push_back(event);
    if (script_) verdict = script_(event);
    delay = delay_;
    if (never_answer_) {
      never_called_.push_back(std::move(done));
      return;
    }
  }
  sink::Evaluation evaluation;
  evaluation.verdict = std::move(verdict);
  if (delay.count() == 0) {
    done(std::move(evaluation));
    return;
  }
  {
    std::lock_guard lock(mu_);
    delayed_.emplace_back(
        std::chrono::steady_clock::now() + delay,
        [done = std::move(done), evaluation]() mutable { done(std::move(evaluation)); });
  }
  cv_.notify_all();
}

bool FakeSink::Wants(uint32_t, v1::EventType type, std::string_view keyword) const {
  std::lock_guard lock(mu_);
  if (want_all_) return true;
  return wanted_.count({type, std::string(keyword)}) > 0 || wanted_.count({type, ""}) > 0;
}

void FakeSink::set_script(Script script) {
  std::lock_guard lock(mu_);
  script_ = std::move(script);
}

void FakeSink::WantOnly(std::vector<std::pair<v1::EventType, std::string>> wanted) {
  std::lock_guard lock(mu_);
  want_all_ = false;
  wanted_.clear();
  for (auto& [type, keyword] : wanted) wanted_.emplace(type, keyword);
}

std::vector<v1::Event> FakeSink::events() const {
  std::lock_guard lock(mu_);
  return events_;
}

bool FakeSink::WaitForEvents(size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (events().size() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

std::vector<std::string> FakeSink::trace() const {
  std::vector<std::string> out;
  for (const auto& e : events())
    out.push_back(std::string(v1::EventTypeName(e.type())) + ":" + e.command().keyword());
  return out;
}

v1::Verdict Continue() {
  v1::Verdict v;
  v.set_action(v1::ACTION_CONTINUE);
  return v;
}

v1::Verdict Reply(v1::Action action, uint32_t code, const std::string& enhanced,
                  const std::string& text) {
  v1::Verdict v;
  v.set_action(action);
  v.mutable_reply()->set_code(code);
  v.mutable_reply()->set_enhanced_code(enhanced);
  v.mutable_reply()->add_lines(text);
  return v;
}

}  // namespace smtpbridge::testing
