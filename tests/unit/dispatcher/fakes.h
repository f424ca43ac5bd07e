// Test doubles for the fan-out: a clock whose time only moves when the test says so, and a
// worker client that records calls and answers when the test says so.
#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "dispatch/clock.h"
#include "dispatch/sink_client.h"

namespace smtpbridge::dispatcher::testing {

class FakeClock : public Clock {
 public:
  TimePoint Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }

  CancelFn Schedule(TimePoint when, std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    const int id = next_id_++;
    timers_.push_back(Timer{when, id, std::move(fn)});
    return [this, id] {
      std::lock_guard lock(mu_);
      timers_.erase(std::remove_if(timers_.begin(), timers_.end(),
                                   [id](const Timer& t) { return t.id == id; }),
                    timers_.end());
    };
  }

  // Moves time forward, firing due timers in deadline order (outside the lock, as a real clock
  // thread would).
  void Advance(std::chrono::nanoseconds d) {
    TimePoint target;
    {
      std::lock_guard lock(mu_);
      target = now_ + std::chrono::duration_cast<duration>(d);
    }
    while (true) {
      std::function<void()> fn;
      {
        std::lock_guard lock(mu_);
        auto it = std::min_element(timers_.begin(), timers_.end(),
                                   [](const Timer& a, const Timer& b) { return a.when < b.when; });
        if (it == timers_.end() || it->when > target) {
          now_ = target;
          return;
        }
        now_ = std::max(now_, it->when);
        fn = std::move(it->fn);
        timers_.erase(it);
      }
      fn();
    }
  }

  size_t pending_timers() const {
    std::lock_guard lock(mu_);
    return timers_.size();
  }

 private:
  struct Timer {
    TimePoint when;
    int id;
    std::function<void()> fn;
  };
  mutable std::mutex mu_;
  TimePoint now_ = TimePoint{} + std::chrono::hours(1);
  int next_id_ = 0;
  std::vector<Timer> timers_;
};

class FakeSinkClient : public SinkClient {
 public:
  struct CallRecord {
    std::string target;
    std::shared_ptr<const v1::SinkRequest> request;
    Clock::TimePoint deadline;
    SinkCallback done;
    bool cancelled = false;
  };

  CancelFn Call(const std::string& target, std::shared_ptr<const v1::SinkRequest> request,
                Clock::TimePoint deadline, SinkCallback done) override {
    size_t index;
    {
      std::lock_guard lock(mu_);
      index = calls_.size();
      calls_.push_back(CallRecord{target, std::move(request), deadline, std::move(done)});
    }
    return [this, index] {
      SinkCallback done;
      {
        std::lock_guard lock(mu_);
        auto& call = calls_[index];
        if (!call.done) return;
        call.cancelled = true;
        done = std::move(call.done);
        call.done = nullptr;
      }
      done(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"), {});
    };
  }

  // Answers the latest pending call to `binding` (the oldest with `oldest`); false when there
  // is none pending.
  bool Reply(const std::string& binding, v1::Verdict verdict, bool oldest = false) {
    return Finish(binding, grpc::Status::OK, std::move(verdict), oldest);
  }
  bool Fail(const std::string& binding, grpc::Status status, bool oldest = false) {
    return Finish(binding, std::move(status), {}, oldest);
  }
  size_t pending_to(const std::string& binding) const {
    std::lock_guard lock(mu_);
    return std::count_if(calls_.begin(), calls_.end(), [&](const CallRecord& c) {
      return c.request->binding().name() == binding && c.done;
    });
  }

  size_t calls_to(const std::string& binding) const {
    std::lock_guard lock(mu_);
    return std::count_if(calls_.begin(), calls_.end(), [&](const CallRecord& c) {
      return c.request->binding().name() == binding;
    });
  }
  bool cancelled(const std::string& binding) const {
    std::lock_guard lock(mu_);
    for (const auto& c : calls_) {
      if (c.request->binding().name() == binding && c.cancelled) return true;
    }
    return false;
  }
  // The latest call to `binding` (copy of the record, without the callback).
  CallRecord last(const std::string& binding) const {
    std::lock_guard lock(mu_);
    for (auto it = calls_.rbegin(); it != calls_.rend(); ++it) {
      if (it->request->binding().name() == binding) {
        return CallRecord{it->target, it->request, it->deadline, nullptr, it->cancelled};
      }
    }
    return {};
  }
  size_t total_calls() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

 private:
  bool Finish(const std::string& binding, grpc::Status status, v1::Verdict verdict, bool oldest) {
    SinkCallback done;
    {
      std::lock_guard lock(mu_);
      auto take = [&](CallRecord& call) {
        if (call.request->binding().name() != binding || !call.done) return false;
        done = std::move(call.done);
        call.done = nullptr;
        return true;
      };
      if (oldest) {
        for (auto& call : calls_) {
          if (take(call)) break;
        }
      } else {
        for (auto it = calls_.rbegin(); it != calls_.rend(); ++it) {
          if (take(*it)) break;
        }
      }
    }
    if (!done) return false;
    done(status, std::move(verdict));
    return true;
  }

  mutable std::mutex mu_;
  std::vector<CallRecord> calls_;
};

}  // namespace smtpbridge::dispatcher::testing
