// grpc.health.v1.Health served on a server's own completion queues, for the dispatcher and the C++
// worker SDK, instead of gRPC's default health service: that one is on the callback API, whose
// threads ("nexting_thread") share the poller and get woken for every event (see bench/README.md,
// latency). Check: SERVING for "" and the server's own service name while serving, NOT_SERVING
// once draining, NOT_FOUND for any other name. Watch (what gRPC's client-side health checking
// uses, smtpbridge/grpc/client_channel.h): the current status at once, then every change;
// SERVICE_UNKNOWN for any other name.
//
// Draining, in this order: SetServing(false) tells every watcher NOT_SERVING (their clients stop
// sending new calls and streams here); WaitWatchersTold() until those answers went out;
// EndWatches() before Server::Shutdown, so open Watch streams do not hold it until its deadline.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include "grpc/health/v1/health.grpc.pb.h"

namespace smtpbridge::health {

// What Check and Watch answer, whatever queues the calls arrive on, and the open Watch streams.
class HealthServiceBase : public grpc::health::v1::Health::AsyncService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // `service_name`: the one service name besides "" that Check knows.
  explicit HealthServiceBase(std::string service_name) : service_name_(std::move(service_name)) {}

  // false: NOT_SERVING (draining). Every open Watch stream is told. Thread-safe.
  void SetServing(bool serving);

  // Until every open Watch stream has sent its current status (false: `timeout` passed first).
  bool WaitWatchersTold(std::chrono::milliseconds timeout);

  // Draining: NOT_SERVING; every open Watch stream ends (OK) once it said so, and Watch calls
  // from now on end at once with UNAVAILABLE, without an answer (so a client's health check
  // retries after its backoff rather than at once). Thread-safe; idempotent.
  void EndWatches();

  // Open Watch streams.
  size_t watchers() const;

  // What Check answers for `service` (NOT_FOUND when unknown).
  grpc::Status CheckStatus(const std::string& service,
                           grpc::health::v1::HealthCheckResponse* response) const;
  // What Watch sends for `service` now (SERVICE_UNKNOWN when unknown).
  ServingStatus WatchStatus(const std::string& service) const;
  bool watches_ended() const { return watches_ended_.load(std::memory_order_acquire); }

 protected:
  // An open Watch stream; Pump() sends what changed (never blocks; takes only its own lock).
  class Watcher {
   public:
    virtual void Pump() = 0;
    virtual bool Told() = 0;  // the current status went out, no write pending

   protected:
    ~Watcher() = default;
  };
  // false once EndWatches() ran (the call then ends at once).
  bool AddWatcher(Watcher* watcher);
  void RemoveWatcher(Watcher* watcher);
  // A watcher's write completed (wakes WaitWatchersTold).
  void WatcherWrote();

 private:
  const std::string service_name_;
  std::atomic<bool> serving_{true};
  std::atomic<bool> watches_ended_{false};
  mutable std::mutex mu_;  // before any watcher's own lock
  std::condition_variable told_;
  std::unordered_set<Watcher*> watchers_;
};

// The service on the owner's completion queues, whose threads run the calls inline.
//   Tag:  the base of every tag on those queues; their loop runs
//         static_cast<Tag*>(tag)->Proceed(ok).
//   Gate: keeps the queues open while an operation starts on them: `typename Gate::Use use(gate)`
//         is a scoped shared lock that converts to false (holding nothing) once they are closing.
template <typename Tag, typename Gate>
class CqHealthService : public HealthServiceBase {
 public:
  CqHealthService(std::string service_name, Gate* gate)
      : HealthServiceBase(std::move(service_name)), gate_(gate) {}

  // After the server started: posts the first Check and Watch requests on `cq`.
  void Arm(grpc::ServerCompletionQueue* cq) {
    CheckCall::Post(this, cq);
    WatchCall::Post(this, cq);
  }

 private:
  class CheckCall;
  class WatchCall;

  Gate* gate_;
};

// One Check call: posts the next request, answers inline on the queue's thread, finishes.
template <typename Tag, typename Gate>
class CqHealthService<Tag, Gate>::CheckCall final : public Tag {
 public:
  // Nothing once the queues are closing.
  static void Post(CqHealthService* service, grpc::ServerCompletionQueue* cq) {
    typename Gate::Use use(service->gate_);
    if (!use) return;
    auto* call = new CheckCall(service, cq);
    service->RequestCheck(&call->context_, &call->request_, &call->writer_, cq, cq, call);
  }

  void Proceed(bool ok) override {
    if (finishing_ || !ok) {  // finished, or no call: the server is shutting down
      delete this;
      return;
    }
    Post(service_, cq_);  // the next call
    const grpc::Status status = service_->CheckStatus(request_.service(), &response_);
    {
      typename Gate::Use use(service_->gate_);
      if (use) {
        finishing_ = true;
        if (status.ok()) {
          writer_.Finish(response_, status, this);
        } else {
          writer_.FinishWithError(status, this);
        }
        return;
      }
    }
    delete this;
  }

 private:
  CheckCall(CqHealthService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), writer_(&context_) {}

  CqHealthService* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  grpc::health::v1::HealthCheckRequest request_;
  grpc::health::v1::HealthCheckResponse response_;
  grpc::ServerAsyncResponseWriter<grpc::health::v1::HealthCheckResponse> writer_;
  bool finishing_ = false;
};

// One Watch stream: sends the status, then each change (one write at a time: a change during a
// write goes out after it), until the client leaves or EndWatches(). Freed once the done
// notification and every operation it started are back.
template <typename Tag, typename Gate>
class CqHealthService<Tag, Gate>::WatchCall final : public Tag, public HealthServiceBase::Watcher {
 public:
  static void Post(CqHealthService* service, grpc::ServerCompletionQueue* cq) {
    typename Gate::Use use(service->gate_);
    if (!use) return;
    auto* call = new WatchCall(service, cq);
    call->context_.AsyncNotifyWhenDone(&call->done_);
    service->RequestWatch(&call->context_, &call->request_, &call->writer_, cq, cq, call);
  }

  // The call arrived (ok), or the server is shutting down (no call, no done notification).
  void Proceed(bool ok) override {
    if (!ok) {
      delete this;
      return;
    }
    Post(service_, cq_);  // the next call
    if (!service_->AddWatcher(this)) {
      // Draining: no answer, so the client's health check backs off before it asks again.
      std::lock_guard lock(mu_);
      StartLocked([this] {
        writer_.Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining"), &op_done_);
      });
      finishing_ = true;
      return;
    }
    registered_ = true;
    Pump();
  }

  void Pump() override {
    std::lock_guard lock(mu_);
    if (busy_ || finishing_ || broken_ || client_gone_) return;
    const auto status = service_->WatchStatus(request_.service());
    if (status != sent_) {
      response_.set_status(status);
      if (StartLocked([this] { writer_.Write(response_, &op_done_); })) {
        sent_ = status;
        busy_ = true;
      }
    } else if (service_->watches_ended()) {
      if (StartLocked([this] { writer_.Finish(grpc::Status::OK, &op_done_); })) finishing_ = true;
    }
  }

  bool Told() override {
    std::lock_guard lock(mu_);
    return client_gone_ || broken_ ||
           (!busy_ && sent_ == service_->WatchStatus(request_.service()));
  }

 private:
  // A tag that forwards to one of the call's steps.
  class Step final : public Tag {
   public:
    Step(WatchCall* call, void (WatchCall::*step)(bool)) : call_(call), step_(step) {}
    void Proceed(bool ok) override { (call_->*step_)(ok); }

   private:
    WatchCall* call_;
    void (WatchCall::*step_)(bool);
  };

  WatchCall(CqHealthService* service, grpc::ServerCompletionQueue* cq)
      : service_(service),
        cq_(cq),
        writer_(&context_),
        done_(this, &WatchCall::Done),
        op_done_(this, &WatchCall::OpDone) {}

  // Starts one operation while the queues are open; false (nothing started) once closing.
  template <typename Start>
  bool StartLocked(Start start) {
    typename Gate::Use use(service_->gate_);
    if (!use) {
      broken_ = true;
      return false;
    }
    ++refs_;
    start();
    return true;
  }

  // A write or the finish came back.
  void OpDone(bool ok) {
    bool wrote = false;
    {
      std::lock_guard lock(mu_);
      if (busy_) {
        busy_ = false;
        wrote = true;
        if (!ok) broken_ = true;  // the stream is gone: no more writes
      }
    }
    if (wrote) {
      Pump();  // a change that came during the write, or the finish
      service_->WatcherWrote();
    }
    Release();
  }

  // The call is over (client left, finished, or the server is shutting down).
  void Done(bool) {
    {
      std::lock_guard lock(mu_);
      client_gone_ = true;
    }
    service_->WatcherWrote();
    Release();
  }

  void Release() {
    {
      std::lock_guard lock(mu_);
      if (--refs_ > 0) return;
    }
    // Nothing is in flight and the done notification came: nobody else holds this call once it
    // is out of the service's set (RemoveWatcher waits for a Pump() running under the set's lock).
    if (registered_) service_->RemoveWatcher(this);
    delete this;
  }

  CqHealthService* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  grpc::health::v1::HealthCheckRequest request_;
  grpc::health::v1::HealthCheckResponse response_;
  grpc::ServerAsyncWriter<grpc::health::v1::HealthCheckResponse> writer_;
  Step done_;
  Step op_done_;
  std::mutex mu_;
  int refs_ = 1;  // the done notification's, once the call arrived; one per operation started
  bool registered_ = false;
  bool busy_ = false;       // a write is in flight
  bool finishing_ = false;  // Finish started
  bool broken_ = false;     // a write failed or the queues are closing
  bool client_gone_ = false;
  ServingStatus sent_ = grpc::health::v1::HealthCheckResponse::UNKNOWN;  // nothing sent yet
};

}  // namespace smtpbridge::health
