#include "dispatch/fanout.h"

#include <mutex>
#include <vector>

#include "dispatch/merge.h"
#include "dispatch/verdict_validation.h"
#include "smtpbridge/trace/traceparent.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/shed.h"

namespace smtpbridge::dispatcher {
namespace {

constexpr std::string_view kStillRunning = "still running when the decision was returned";

// The request one binding's worker gets; the body is cut to the binding's body_limit.
std::shared_ptr<v1::SinkRequest> BuildRequest(const v1::Event& event, const v1::Binding& binding,
                                              std::chrono::nanoseconds time_left) {
  auto request = std::make_shared<v1::SinkRequest>();
  *request->mutable_event() = event;
  if (event.has_message() && event.message().body().size() > binding.body_limit()) {
    auto* message = request->mutable_event()->mutable_message();
    message->mutable_body()->resize(binding.body_limit());
    message->set_body_truncated(true);
  }
  *request->mutable_binding() = binding;
  *request->mutable_time_left() = v1::ToProtoDuration(time_left);
  return request;
}

}  // namespace

struct FanOut::Evaluation : std::enable_shared_from_this<FanOut::Evaluation> {
  struct Slot {
    const CompiledBinding* binding = nullptr;
    bool started = false;
    bool done = false;
    v1::SinkOutcome outcome;
    Clock::TimePoint started_at{};
    Clock::TimePoint deadline{};
    std::vector<CancelFn> cancel_calls;  // the call, and its hedge once sent
    CancelFn cancel_timer;
    CancelFn cancel_hedge_timer;
    int outstanding = 0;  // calls sent and not yet answered
    bool hedged = false;
    std::shared_ptr<const v1::SinkRequest> request;
    std::shared_ptr<ConcurrencyLimiter> limiter;  // the pool slot this call holds (admission)
    bool shed = false;  // admission kept this call from going out (decision logs say "shed")
  };

  // Work to do once the lock is released.
  struct Actions {
    std::vector<CancelFn> cancels;
    std::vector<size_t> finished;  // slots whose outcome the observer should hear about
    std::optional<v1::EvaluateResponse> response;
    std::vector<DecisionOutcome> detail;  // with the response, when the observer wants it
  };

  explicit Evaluation(FanOut* o) : owner(o) { owner->AddLive(); }
  ~Evaluation() { owner->RemoveLive(); }

  FanOut* owner;
  std::shared_ptr<const BindingSet> bindings;  // keeps the CompiledBinding pointers alive
  EventInfo info;
  std::optional<trace::TraceParent> trace;  // the caller's; each call gets a child span
  bool detail = false;                      // observer_->WantsDecisionDetail()
  bool explain = false;
  Clock::TimePoint start{};
  Clock::TimePoint event_deadline = Clock::TimePoint::max();
  EvaluateCallback done;

  std::mutex mu;
  std::vector<Slot> slots;
  bool settled = false;
  bool holds_event_slot = false;  // a global in-flight slot, freed with the answer

  // Admission, before any call goes out: a global slot while the answer is still owed, a pool
  // slot per call. Returns the shed reason when the event is over a limit (then it holds
  // nothing); an observe-mode call over its pool's limit is just not made.
  const char* AdmitLocked(Admission& admission, Clock::TimePoint now, Actions* actions) {
    if (!settled) {
      if (!admission.AdmitEvent()) return kShedInFlight;
      holds_event_slot = true;
    }
    std::vector<size_t> skipped;
    for (size_t i = 0; i < slots.size(); ++i) {
      Slot& slot = slots[i];
      if (slot.done) continue;
      auto limiter = admission.Pool(slot.binding->proto.sink());
      if (limiter->TryAcquire()) {
        slot.limiter = std::move(limiter);
      } else if (slot.binding->observe()) {
        skipped.push_back(i);
      } else {
        for (auto& s : slots) {
          if (s.limiter) s.limiter->Release(CallSample{CallSample::Kind::kCancelled});
          s.limiter = nullptr;
        }
        if (holds_event_slot) admission.EventDone();
        holds_event_slot = false;
        return kShedPoolLimit;
      }
    }
    for (const size_t i : skipped) {
      slots[i].shed = true;
      const std::string what = "shed: worker pool at its concurrency limit";
      FinishLocked(i, v1::SINK_OUTCOME_KIND_ERROR, OnErrorVerdict(slots[i].binding->proto, what),
                   what, now, actions);
    }
    return nullptr;
  }

  // Answers the event as shed: no call goes out.
  void ShedLocked(const char* reason, Clock::TimePoint now, Actions* actions) {
    settled = true;
    for (auto& slot : slots) {
      if (slot.done) continue;
      slot.done = true;  // never started: nothing to report per binding
      slot.shed = true;
      slot.outcome.set_kind(v1::SINK_OUTCOME_KIND_CANCELLED);
      slot.outcome.set_error(std::string("shed: ") + reason);
    }
    v1::EvaluateResponse response = v1::ShedResponse(reason);
    *response.mutable_elapsed() = v1::ToProtoDuration(now - start);
    // The decision log says which bindings a shed kept from running (outcome "shed").
    if (detail) {
      actions->detail.reserve(slots.size());
      for (const auto& slot : slots) {
        actions->detail.push_back(
            {.binding = &slot.binding->proto, .outcome = slot.outcome, .shed = slot.shed});
      }
    }
    actions->response = std::move(response);
  }

  // Marks slot i finished (under mu), then settles if possible.
  void FinishLocked(size_t i, v1::SinkOutcomeKind kind, v1::Verdict verdict, std::string error,
                    Clock::TimePoint now, Actions* actions) {
    Slot& slot = slots[i];
    if (slot.done) return;
    slot.done = true;
    auto& o = slot.outcome;
    o.set_kind(kind);
    *o.mutable_verdict() = std::move(verdict);
    o.set_error(std::move(error));
    if (slot.started) *o.mutable_latency() = v1::ToProtoDuration(now - slot.started_at);
    for (auto& cancel : slot.cancel_calls) actions->cancels.push_back(std::move(cancel));
    if (slot.cancel_timer) actions->cancels.push_back(std::move(slot.cancel_timer));
    if (slot.cancel_hedge_timer) actions->cancels.push_back(std::move(slot.cancel_hedge_timer));
    slot.cancel_calls.clear();
    slot.cancel_timer = nullptr;
    slot.cancel_hedge_timer = nullptr;
    actions->finished.push_back(i);
    TrySettleLocked(now, actions);
  }

  void TrySettleLocked(Clock::TimePoint now, Actions* actions) {
    if (settled) return;
    VerdictMerger merger;
    std::string decided_by;
    uint32_t matched = 0;
    for (const auto& slot : slots) {
      if (slot.binding->observe()) continue;
      ++matched;
      if (merger.decided()) continue;
      if (!slot.done) return;  // a higher-priority verdict is still outstanding
      if (merger.Add(slot.outcome.verdict())) decided_by = slot.binding->name();
    }
    settled = true;
    v1::EvaluateResponse response;
    *response.mutable_verdict() = merger.Result();
    response.set_decided_by(decided_by);
    response.set_matched(matched);
    *response.mutable_elapsed() = v1::ToProtoDuration(now - start);
    // Lower-priority enforce calls are no longer needed.
    for (size_t i = 0; i < slots.size(); ++i) {
      if (!slots[i].done && !slots[i].binding->observe()) {
        FinishLocked(i, v1::SINK_OUTCOME_KIND_CANCELLED, {}, "decided by a higher-priority binding",
                     now, actions);
      }
    }
    if (explain) {
      for (const auto& slot : slots) {
        auto* o = response.add_outcomes();
        *o = slot.outcome;
        if (!slot.done) o->set_error(std::string(kStillRunning));
      }
    }
    if (detail) {
      actions->detail.reserve(slots.size());
      for (const auto& slot : slots) {
        actions->detail.push_back({&slot.binding->proto, slot.outcome, !slot.done, slot.shed});
      }
    }
    actions->response = std::move(response);
  }

  void Run(Actions actions) {
    for (auto& cancel : actions.cancels) {
      if (cancel) cancel();
    }
    if (actions.response) {
      if (holds_event_slot) owner->admission_->EventDone();  // answered: the slot is free
      if (owner->observer_) {
        owner->observer_->OnDecision(info, *actions.response);
        if (detail) owner->observer_->OnDecisionDetail(info, *actions.response, actions.detail);
      }
      auto callback = std::move(done);
      done = nullptr;
      callback(std::move(*actions.response));
    }
    for (const size_t i : actions.finished) {
      const Slot& slot = slots[i];  // finished slots are no longer written
      if (slot.limiter) slot.limiter->Release(SampleOf(slot));
      if (owner->cache_ && slot.outcome.kind() == v1::SINK_OUTCOME_KIND_ANSWERED && slot.request) {
        owner->cache_->Store(slot.binding->name(), slot.request->event(), slot.outcome.verdict(),
                             owner->clock_->Now());
      }
      if (owner->observer_) owner->observer_->OnOutcome(info, slot.binding->proto, slot.outcome);
    }
  }

  void OnCallDone(size_t i, const grpc::Status& status, v1::Verdict verdict) {
    // A verdict that breaks the contract is the worker's error (its on_error applies), never a
    // decision. The request is set before the call goes out and never changes after.
    VerdictCheck check;
    if (status.ok()) {
      check = ValidateVerdict(verdict, slots[i].request->event());
      if (check.ok())
        CleanVerdict(&verdict);
      else if (owner->observer_)
        owner->observer_->OnInvalidVerdict(info, slots[i].binding->proto, check);
    }
    const bool answered = status.ok() && check.ok();
    Actions actions;
    {
      std::lock_guard lock(mu);
      const auto now = owner->clock_->Now();
      Slot& slot = slots[i];
      if (slot.done) return;
      // With a hedge in flight, one failed copy is not the binding's answer yet.
      if (--slot.outstanding > 0 && !answered) return;
      if (answered) {
        FinishLocked(i, v1::SINK_OUTCOME_KIND_ANSWERED, std::move(verdict), {}, now, &actions);
      } else if (!check.ok()) {
        const std::string what =
            "invalid verdict: " + std::string(VerdictProblemName(check.problem)) + ": " +
            check.detail;
        FinishLocked(i, v1::SINK_OUTCOME_KIND_ERROR, OnErrorVerdict(slot.binding->proto, what),
                     what, now, &actions);
      } else {
        const bool timeout = status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
        const std::string what = (timeout ? "timeout: " : "error: ") + status.error_message();
        FinishLocked(i, timeout ? v1::SINK_OUTCOME_KIND_TIMEOUT : v1::SINK_OUTCOME_KIND_ERROR,
                     OnErrorVerdict(slot.binding->proto, what), what, now, &actions);
      }
    }
    Run(std::move(actions));
  }

  // Sends a second copy of slot i's request (binding hedge_after passed without an answer).
  void OnHedgeTimer(size_t i);

  CallSample SampleOf(const Slot& slot) const {
    CallSample s;
    switch (slot.outcome.kind()) {
      case v1::SINK_OUTCOME_KIND_ANSWERED:
        s.kind = CallSample::Kind::kAnswered;
        break;
      case v1::SINK_OUTCOME_KIND_TIMEOUT:
        s.kind = CallSample::Kind::kTimeout;
        break;
      case v1::SINK_OUTCOME_KIND_ERROR:
        s.kind = CallSample::Kind::kError;
        break;
      default:
        s.kind = CallSample::Kind::kCancelled;
        break;
    }
    s.latency =
        std::chrono::duration_cast<Clock::duration>(v1::FromProtoDuration(slot.outcome.latency()));
    s.timeout = std::chrono::duration_cast<Clock::duration>(slot.binding->timeout);
    s.now = owner->clock_->Now();
    return s;
  }

  // A new span of the caller's trace for one worker call ("" without a trace).
  std::string ChildTraceParent() const {
    return trace ? trace::Child(*trace).ToString() : std::string();
  }

  void OnTimer(size_t i) {
    Actions actions;
    {
      std::lock_guard lock(mu);
      if (slots[i].done) return;
      const auto now = owner->clock_->Now();
      const auto budget = slots[i].deadline - slots[i].started_at;
      const std::string what =
          "timeout: no answer within " +
          std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(budget).count()) +
          "us";
      FinishLocked(i, v1::SINK_OUTCOME_KIND_TIMEOUT, OnErrorVerdict(slots[i].binding->proto, what),
                   what, now, &actions);
    }
    Run(std::move(actions));
  }
};

void FanOut::Evaluation::OnHedgeTimer(size_t i) {
  std::shared_ptr<const v1::SinkRequest> request;
  Clock::TimePoint deadline;
  {
    std::lock_guard lock(mu);
    Slot& slot = slots[i];
    if (slot.done || slot.hedged) return;
    slot.hedged = true;
    ++slot.outstanding;
    slot.cancel_hedge_timer = nullptr;
    request = slot.request;
    deadline = slot.deadline;
  }
  if (owner->observer_) owner->observer_->OnHedge(info, slots[i].binding->proto);
  auto self = shared_from_this();
  CancelFn cancel = owner->client_->Call(
      slots[i].binding->proto.sink(), std::move(request), deadline, ChildTraceParent(),
      [self, i](const grpc::Status& status, v1::Verdict verdict) {
        self->OnCallDone(i, status, std::move(verdict));
      });
  {
    std::lock_guard lock(mu);
    if (!slots[i].done) {
      slots[i].cancel_calls.push_back(std::move(cancel));
      return;
    }
  }
  if (cancel) cancel();
}

FanOut::FanOut(SinkClient* client, Clock* clock, VerdictCache* cache, DispatchObserver* observer)
    : client_(client), clock_(clock), cache_(cache), observer_(observer) {}

FanOut::~FanOut() { Drain(std::chrono::seconds(0)); }

void FanOut::AddLive() {
  std::lock_guard lock(live_mu_);
  ++live_;
}

void FanOut::RemoveLive() {
  std::lock_guard lock(live_mu_);
  if (--live_ == 0) live_cv_.notify_all();
}

size_t FanOut::live() const {
  std::lock_guard lock(live_mu_);
  return live_;
}

bool FanOut::Drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(live_mu_);
  return live_cv_.wait_for(lock, timeout, [this] { return live_ == 0; });
}

void FanOut::Evaluate(std::shared_ptr<const BindingSet> bindings, const v1::Event& event,
                      bool explain, EvaluateCallback done) {
  Evaluate(std::move(bindings), event, explain, {}, std::move(done));
}

void FanOut::Evaluate(std::shared_ptr<const BindingSet> bindings, const v1::Event& event,
                      bool explain, std::string_view traceparent, EvaluateCallback done) {
  auto ev = std::make_shared<Evaluation>(this);
  ev->explain = explain;
  if (!traceparent.empty()) {
    ev->trace = trace::Parse(traceparent);
    if (ev->trace) ev->info.trace_id = ev->trace->trace_id;
  }
  ev->detail = observer_ && observer_->WantsDecisionDetail();
  if (ev->detail) {
    ev->info.instance = event.session().instance();
    ev->info.sender = event.envelope().sender();
    ev->info.recipient = event.envelope().recipient();
  }
  ev->start = clock_->Now();
  ev->done = std::move(done);
  ev->info.type = event.type();
  ev->info.event_id = event.event_id();
  ev->info.session_id = event.session().session_id();
  ev->info.keyword = std::string(CommandKeyword(event.command()));
  const auto budget = v1::FromProtoDuration(event.budget());
  if (budget > std::chrono::nanoseconds::zero()) {
    ev->event_deadline = ev->start + std::chrono::duration_cast<Clock::duration>(budget);
  }

  std::vector<const CompiledBinding*> matched;
  bindings->Match(event, &matched);
  ev->bindings = std::move(bindings);
  ev->slots.resize(matched.size());
  for (size_t i = 0; i < matched.size(); ++i) {
    auto& slot = ev->slots[i];
    slot.binding = matched[i];
    slot.outcome.set_binding(matched[i]->name());
    slot.outcome.set_priority(matched[i]->priority());
    slot.outcome.set_observed(matched[i]->observe());
  }

  // Cache hits first: they may settle the decision before any call goes out.
  {
    Evaluation::Actions actions;
    {
      std::lock_guard lock(ev->mu);
      for (size_t i = 0; i < ev->slots.size(); ++i) {
        if (!cache_) break;
        if (auto cached = cache_->Lookup(matched[i]->name(), event, ev->start)) {
          ev->FinishLocked(i, v1::SINK_OUTCOME_KIND_CACHED, std::move(*cached), {}, ev->start,
                           &actions);
        }
      }
      ev->TrySettleLocked(ev->start, &actions);
    }
    ev->Run(std::move(actions));
  }

  // Admission control (admission.h): over a limit, the event is answered at once as shed.
  if (admission_) {
    Evaluation::Actions actions;
    const char* shed = nullptr;
    {
      std::lock_guard lock(ev->mu);
      shed = ev->AdmitLocked(*admission_, ev->start, &actions);
      if (shed) ev->ShedLocked(shed, ev->start, &actions);
    }
    ev->Run(std::move(actions));
    if (shed) return;
  }

  for (size_t i = 0; i < ev->slots.size(); ++i) {
    std::shared_ptr<const v1::SinkRequest> request;
    Clock::TimePoint deadline;
    {
      Evaluation::Actions actions;
      std::unique_lock lock(ev->mu);
      auto& slot = ev->slots[i];
      if (slot.done) continue;
      const auto now = clock_->Now();
      deadline = std::min(now + std::chrono::duration_cast<Clock::duration>(slot.binding->timeout),
                          ev->event_deadline);
      slot.started = true;
      slot.started_at = now;
      slot.deadline = deadline;
      slot.outstanding = 1;
      if (deadline <= now) {
        const std::string what = "timeout: the event's budget was already spent";
        ev->FinishLocked(i, v1::SINK_OUTCOME_KIND_TIMEOUT,
                         OnErrorVerdict(slot.binding->proto, what), what, now, &actions);
        lock.unlock();
        ev->Run(std::move(actions));
        continue;
      }
      slot.request = BuildRequest(event, slot.binding->proto, deadline - now);
      request = slot.request;
    }
    CancelFn cancel_timer = clock_->Schedule(deadline, [ev, i] { ev->OnTimer(i); });
    CancelFn cancel_hedge_timer;
    if (const auto hedge_after = ev->slots[i].binding->hedge_after) {
      const auto hedge_at =
          ev->slots[i].started_at + std::chrono::duration_cast<Clock::duration>(*hedge_after);
      if (hedge_at < deadline) {
        cancel_hedge_timer = clock_->Schedule(hedge_at, [ev, i] { ev->OnHedgeTimer(i); });
      }
    }
    CancelFn cancel_call =
        client_->Call(ev->slots[i].binding->proto.sink(), request, deadline, ev->ChildTraceParent(),
                      [ev, i](const grpc::Status& status, v1::Verdict verdict) {
                        ev->OnCallDone(i, status, std::move(verdict));
                      });
    {
      std::unique_lock lock(ev->mu);
      auto& slot = ev->slots[i];
      if (!slot.done) {
        slot.cancel_timer = std::move(cancel_timer);
        slot.cancel_calls.push_back(std::move(cancel_call));
        // The hedge timer may already have fired (and cleared its own handle) meanwhile.
        if (!slot.hedged) slot.cancel_hedge_timer = std::move(cancel_hedge_timer);
        continue;
      }
    }
    // Finished (or cancelled) while we were starting it.
    if (cancel_timer) cancel_timer();
    if (cancel_hedge_timer) cancel_hedge_timer();
    if (cancel_call) cancel_call();
  }
}

}  // namespace smtpbridge::dispatcher
