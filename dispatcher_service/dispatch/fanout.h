// The fan-out: one event to every matching enabled binding in parallel, verdicts committed in
// priority order (see merge.h), answered as soon as the decision is settled.
//
//  - Each call gets min(binding timeout, what is left of event.budget); a call that errs or runs
//    out of time contributes its binding's on_error.
//  - Once a verdict consumes the event (or every enforce binding continued), the answer goes out
//    and lower-priority enforce calls still running are cancelled (outcome CANCELLED).
//  - Observe-mode bindings are called and recorded (observer, explain), never enforced, never
//    waited for.
//  - Every worker verdict is validated first (verdict_validation.h): an invalid one is that
//    binding's error (on_error), never a decision.
//  - A worker verdict with cache_ttl > 0 answers equivalent events from the VerdictCache.
//  - Hedging (gRPC C++ 1.51 has none): a binding with hedge_after gets a second copy of its call
//    when the first has not answered by then; the pool's least-loaded choice sends it to another
//    worker, the first answer wins and the other copy is cancelled. A failed copy waits for the
//    other one.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "bindings/binding_set.h"
#include "dispatch/admission.h"
#include "dispatch/clock.h"
#include "dispatch/sink_client.h"
#include "dispatch/verdict_cache.h"
#include "dispatch/verdict_validation.h"
#include "smtpbridge/v1/dispatcher.pb.h"

namespace smtpbridge::dispatcher {

// The event facts the observer gets (the event itself may be gone by the time observe-mode
// outcomes arrive).
struct EventInfo {
  v1::EventType type = v1::EVENT_TYPE_UNSPECIFIED;
  std::string event_id;
  std::string session_id;
  std::string keyword;
  // From the caller's `traceparent` (empty without one).
  std::string trace_id;
  // Only when the observer WantsDecisionDetail() (decision logs): copied per event otherwise.
  uint32_t instance = 0;
  std::string sender;
  std::string recipient;
};

// One matching binding at decision time, for decision logs.
struct DecisionOutcome {
  const v1::Binding* binding = nullptr;
  v1::SinkOutcome outcome;
  bool pending = false;  // observe-mode call still running when the decision went out
  bool shed = false;     // admission kept this binding's call from going out (the event was
                         // shed, or an observe-mode call found its pool full)
};

// Stats, metrics and logs. Called from any thread, never under the fan-out's lock.
class DispatchObserver {
 public:
  virtual ~DispatchObserver() = default;
  // Every matching binding's outcome, once known (observe-mode ones possibly after the answer).
  virtual void OnOutcome(const EventInfo& event, const v1::Binding& binding,
                         const v1::SinkOutcome& outcome) = 0;
  // The answer, once per event.
  virtual void OnDecision(const EventInfo& event, const v1::EvaluateResponse& response) = 0;
  // A hedge (second copy of a call) was sent for `binding`.
  virtual void OnHedge(const EventInfo& event, const v1::Binding& binding) {}
  // True: every decision also comes with each matching binding's outcome (OnDecisionDetail),
  // at the cost of copying them. Asked once per event.
  virtual bool WantsDecisionDetail() const { return false; }
  virtual void OnDecisionDetail(const EventInfo& event, const v1::EvaluateResponse& response,
                                const std::vector<DecisionOutcome>& outcomes) {}
  // `binding`'s worker answered a verdict that breaks the contract (verdict_validation.h); the
  // outcome then is an error with the binding's on_error.
  virtual void OnInvalidVerdict(const EventInfo& event, const v1::Binding& binding,
                                const VerdictCheck& check) {}
};

using EvaluateCallback = std::function<void(v1::EvaluateResponse)>;

class FanOut {
 public:
  // `cache` and `observer` may be null. All must outlive every evaluation.
  FanOut(SinkClient* client, Clock* clock, VerdictCache* cache, DispatchObserver* observer);
  ~FanOut();
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;

  // `done` runs exactly once: inline (nothing to wait for) or on a client/clock thread.
  // `event` is only read during the call.
  void Evaluate(std::shared_ptr<const BindingSet> bindings, const v1::Event& event, bool explain,
                EvaluateCallback done);
  // `traceparent`: the caller's W3C trace context (gRPC metadata, never the message); each
  // worker call then carries a child span of it, and the observer sees its trace id.
  void Evaluate(std::shared_ptr<const BindingSet> bindings, const v1::Event& event, bool explain,
                std::string_view traceparent, EvaluateCallback done);

  Clock* clock() const { return clock_; }
  // Admission control (admission.h); null (the default): everything is admitted. Set before
  // the first evaluation; it must outlive every evaluation.
  void set_admission(Admission* admission) { admission_ = admission; }

  // Evaluations not yet fully finished (including observe-mode calls after the answer).
  size_t live() const;
  // Waits until every evaluation finished; false on timeout. For shutdown: calls end by their
  // deadlines at the latest, and timers must keep running meanwhile.
  bool Drain(std::chrono::milliseconds timeout);

 private:
  struct Evaluation;
  void AddLive();
  void RemoveLive();

  mutable std::mutex live_mu_;
  std::condition_variable live_cv_;
  size_t live_ = 0;
  SinkClient* client_;
  Clock* clock_;
  VerdictCache* cache_;
  DispatchObserver* observer_;
  Admission* admission_ = nullptr;
};

}  // namespace smtpbridge::dispatcher
