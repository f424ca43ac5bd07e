// A DispatcherClient whose calls stay pending until the test answers them, like a dispatcher
// that takes exactly as long as the test says. Cancel() behaves like gRPC's TryCancel: the call
// finishes with CANCELLED unless it already finished (switch off to simulate an answer that was
// already on its way).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/dispatcher_client.h"

namespace smtpbridge::sink::testing {

class FakeDispatcherClient final : public DispatcherClient {
 public:
  template <typename Done, typename Response>
  class FakeCall final : public Call {
   public:
    FakeCall(FakeDispatcherClient* owner, Done done) : owner_(owner), done_(std::move(done)) {}

    void Cancel() override {
      {
        std::lock_guard lock(mu_);
        ++cancels_;
      }
      if (owner_->complete_on_cancel)
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"), Response());
    }

    // Delivers the outcome; false when the call had already finished.
    bool Finish(const grpc::Status& status, Response response) {
      Done done;
      {
        std::lock_guard lock(mu_);
        if (finished_) return false;
        finished_ = true;
        done = std::move(done_);
      }
      done(status, std::move(response));
      return true;
    }

    int cancels() const {
      std::lock_guard lock(mu_);
      return cancels_;
    }
    bool finished() const {
      std::lock_guard lock(mu_);
      return finished_;
    }

   private:
    FakeDispatcherClient* owner_;
    mutable std::mutex mu_;
    Done done_;
    bool finished_ = false;
    int cancels_ = 0;
  };
  using EvalCall = FakeCall<EvaluateDone, v1::EvaluateResponse>;
  using InterestsCall = FakeCall<InterestsDone, v1::GetInterestsResponse>;

  std::shared_ptr<Call> Evaluate(const v1::EvaluateRequest& request,
                                 std::chrono::system_clock::time_point deadline,
                                 EvaluateDone done) override {
    auto call = std::make_shared<EvalCall>(this, std::move(done));
    {
      std::lock_guard lock(mu_);
      evaluations_.push_back(call);
      requests_.push_back(request);
      deadlines_.push_back(deadline);
    }
    return call;
  }

  std::shared_ptr<Call> GetInterests(const v1::GetInterestsRequest& request,
                                     std::chrono::system_clock::time_point deadline,
                                     InterestsDone done) override {
    auto call = std::make_shared<InterestsCall>(this, std::move(done));
    std::lock_guard lock(mu_);
    interests_.push_back(call);
    return call;
  }

  void NotifyWhenReady(std::function<void()> ready) override {
    std::lock_guard lock(mu_);
    ready_ = std::move(ready);
  }
  // The connection became ready: runs what NotifyWhenReady asked for (once); false if nothing.
  bool BecomeReady() {
    std::function<void()> ready;
    {
      std::lock_guard lock(mu_);
      ready = std::move(ready_);
      ready_ = nullptr;
    }
    if (!ready) return false;
    ready();
    return true;
  }

  std::shared_ptr<EvalCall> evaluation(std::size_t i) {
    std::lock_guard lock(mu_);
    return evaluations_.at(i);
  }
  v1::EvaluateRequest request(std::size_t i) {
    std::lock_guard lock(mu_);
    return requests_.at(i);
  }
  std::chrono::system_clock::time_point deadline(std::size_t i) {
    std::lock_guard lock(mu_);
    return deadlines_.at(i);
  }
  std::size_t evaluation_count() {
    std::lock_guard lock(mu_);
    return evaluations_.size();
  }
  std::shared_ptr<InterestsCall> interests_call(std::size_t i) {
    std::lock_guard lock(mu_);
    return interests_.at(i);
  }
  std::size_t interests_count() {
    std::lock_guard lock(mu_);
    return interests_.size();
  }

  // Answers evaluation i with `verdict` (OK).
  bool Answer(std::size_t i, v1::Verdict verdict, std::string decided_by = "") {
    v1::EvaluateResponse response;
    *response.mutable_verdict() = std::move(verdict);
    response.set_decided_by(std::move(decided_by));
    return evaluation(i)->Finish(grpc::Status::OK, std::move(response));
  }
  bool Fail(std::size_t i, grpc::StatusCode code) {
    return evaluation(i)->Finish(grpc::Status(code, "fake failure"), v1::EvaluateResponse());
  }

  std::atomic<bool> complete_on_cancel{true};

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<EvalCall>> evaluations_;
  std::vector<v1::EvaluateRequest> requests_;
  std::vector<std::chrono::system_clock::time_point> deadlines_;
  std::vector<std::shared_ptr<InterestsCall>> interests_;
  std::function<void()> ready_;
};

}  // namespace smtpbridge::sink::testing
