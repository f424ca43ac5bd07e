#include "core/sink_core.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "smtpbridge/trace/traceparent.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/shed.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::sink {
namespace {

// Shortest interval between two GetInterests calls, whatever the dispatcher asks for.
constexpr std::chrono::milliseconds kMinInterestsRefresh{100};

FallbackReason ReasonFor(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return FallbackReason::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return FallbackReason::kBudgetExceeded;
    default:
      return FallbackReason::kError;
  }
}

}  // namespace

struct SinkCore::Pending {
  uint64_t id = 0;
  v1::EvaluateRequest request;
  EvaluationCallback done;
  SteadyTime start;
  CircuitBreaker::Admission admission = CircuitBreaker::Admission::kAllowed;
  TimerId timer;
  std::atomic<bool> claimed{false};
  std::mutex mu;  // guards call and cancel_requested
  std::shared_ptr<DispatcherClient::Call> call;
  bool cancel_requested = false;
};

SinkCore::SinkCore(SinkOptions options, std::unique_ptr<DispatcherClient> client,
                   std::shared_ptr<Timers> timers, LocalRules rules)
    : options_(std::move(options)),
      timers_(std::move(timers)),
      client_(std::move(client)),
      metrics_(options_.metrics_registry),
      breaker_(options_.breaker,
               [this](CircuitBreaker::State from, CircuitBreaker::State to) {
                 metrics_.BreakerChanged(to);
                 // Under the breaker's lock: only arms a connectivity watch.
                 if (to == CircuitBreaker::State::kOpen) WatchForRecovery();
                 if (to == CircuitBreaker::State::kClosed) client_->NotifyWhenReady({});
                 auto level =
                     to == CircuitBreaker::State::kOpen ? spdlog::level::warn : spdlog::level::info;
                 spdlog::log(level, "sink circuit breaker: {} -> {} (dispatcher {})",
                             BreakerStateName(from), BreakerStateName(to),
                             options_.dispatcher_target);
               }),
      fresh_cache_(options_.fresh_cache),
      stale_cache_(options_.stale_cache),
      fallback_(options_, std::move(rules), &stale_cache_),
      interests_(options_.interests.unknown_body_limit) {
  ready_hook_->core = this;
  if (options_.interests.enabled) RefreshInterests();
}

void SinkCore::WatchForRecovery() {
  client_->NotifyWhenReady([hook = ready_hook_] {
    std::lock_guard lock(hook->mu);
    if (hook->core == nullptr) return;
    spdlog::info("sink: the dispatcher channel is ready again: probing now");
    hook->core->breaker_.ProbeNow(hook->core->timers_->Now());
  });
}

SinkCore::~SinkCore() { Shutdown(); }

void SinkCore::Evaluate(v1::Event event, std::chrono::microseconds budget,
                        EvaluationCallback done) {
  if (!done) done = [](Evaluation) {};
  if (budget.count() < 0) budget = std::chrono::microseconds(0);
  auto p = std::make_shared<Pending>();
  p->start = timers_->Now();
  p->done = std::move(done);
  if (event.session().host_name().empty() && !options_.host_name.empty()) {
    event.mutable_session()->set_host_name(options_.host_name);
  }
  *event.mutable_budget() = v1::ToProtoDuration(budget);
  // One trace per SMTP session, a span per event (W3C traceparent): sent as gRPC metadata
  // (unary) or beside the event (stream); never read from the message.
  const trace::TraceParent tp{trace::SessionTraceId(event.session().session_id()),
                              trace::NewSpanId()};
  p->request.set_traceparent(tp.ToString());
  *p->request.mutable_event() = std::move(event);

  if (stopped_.load(std::memory_order_acquire)) {
    Evaluation e = FallbackFor(p, FallbackReason::kShutdown, p->start);
    Record(*p, e);
    p->done(std::move(e));
    return;
  }
  // A fresh verdict the dispatcher allowed reuse of: no round trip (and nothing for the breaker
  // to learn). Checked before the breaker: it is as good as the dispatcher's answer.
  if (auto hit = fresh_cache_.Get(p->request.event(), p->start)) {
    Evaluation e;
    e.verdict = std::move(hit->verdict);
    e.decided_by = std::move(hit->decided_by);
    e.source = VerdictSource::kCache;
    Record(*p, e);
    p->done(std::move(e));
    return;
  }
  p->admission = breaker_.Allow(p->start);
  if (p->admission == CircuitBreaker::Admission::kRejected) {
    Evaluation e = FallbackFor(p, FallbackReason::kCircuitOpen, p->start);
    Record(*p, e);
    p->done(std::move(e));
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (stopped_.load(std::memory_order_acquire)) {
      // Shutdown() started after the check above: answer like any later call.
      p->claimed = true;
    } else {
      p->id = ++next_id_;
      in_flight_.emplace(p->id, p);
      ++outstanding_rpcs_;
    }
  }
  if (p->claimed) {
    Evaluation e = FallbackFor(p, FallbackReason::kShutdown, p->start);
    Record(*p, e);
    p->done(std::move(e));
    return;
  }
  p->timer = timers_->Schedule(p->start + budget, [this, p] { OnBudgetExpired(p); });

  // gRPC deadlines are millisecond-grained: round up and add slack so the sink's own timer
  // always decides, and the dispatcher still sees (about) the whole budget.
  const auto extra =
      options_.keep_late_answers
          ? std::chrono::duration_cast<std::chrono::microseconds>(options_.late_answer_window)
          : options_.grpc_deadline_slack;
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::ceil<std::chrono::milliseconds>(budget) + extra;
  auto call = client_->Evaluate(
      p->request, deadline, [this, p](const grpc::Status& status, v1::EvaluateResponse response) {
        OnAnswer(p, status, std::move(response));
      });
  std::lock_guard lock(p->mu);
  p->call = std::move(call);
  if (p->cancel_requested && p->call) p->call->Cancel();
}

bool SinkCore::Claim(const std::shared_ptr<Pending>& p) {
  bool expected = false;
  return p->claimed.compare_exchange_strong(expected, true, std::memory_order_acq_rel);
}

void SinkCore::CancelCall(const std::shared_ptr<Pending>& p) {
  std::lock_guard lock(p->mu);
  p->cancel_requested = true;
  if (p->call) p->call->Cancel();
}

void SinkCore::OnBudgetExpired(const std::shared_ptr<Pending>& p) {
  if (!Claim(p)) return;
  const SteadyTime now = timers_->Now();
  breaker_.OnTimeout(p->admission, now);
  Evaluation e = FallbackFor(p, FallbackReason::kBudgetExceeded, now);
  Record(*p, e);
  p->done(std::move(e));
  // Cancelling costs tens of microseconds in gRPC: the host gets its answer first.
  if (!options_.keep_late_answers) CancelCall(p);
}

void SinkCore::OnAnswer(const std::shared_ptr<Pending>& p, const grpc::Status& status,
                        v1::EvaluateResponse response) {
  const SteadyTime now = timers_->Now();
  // The dispatcher shed the event (over a limit): its answer is no verdict (v1/shed.h).
  const bool shed = v1::IsShed(status, response);
  // Even a late answer is the dispatcher's current opinion: keep it for the next outage.
  if (status.ok() && !shed) {
    stale_cache_.Put(p->request.event(), response.verdict(), now);
    fresh_cache_.Put(p->request.event(), response.verdict(), response.decided_by(), now);
  }
  if (!Claim(p)) {
    if (status.ok()) metrics_.LateAnswer();
    RpcFinished(p->id);
    return;
  }
  timers_->Cancel(p->timer);
  Evaluation e;
  if (shed) {
    // Not a failure: an overloaded dispatcher sheds in microseconds, which is what the open
    // breaker would buy, so sheds stay out of its failure counts. A probe that was shed did
    // reach a live dispatcher: that closes the breaker.
    if (p->admission == CircuitBreaker::Admission::kProbe) breaker_.OnSuccess(p->admission, now);
    e = FallbackFor(p, FallbackReason::kShed, now);
  } else if (status.ok()) {
    breaker_.OnSuccess(p->admission, now);
    e.verdict = std::move(*response.mutable_verdict());
    e.decided_by = response.decided_by();
    e.source = VerdictSource::kDispatcher;
    e.reason = FallbackReason::kNone;
    e.latency = now - p->start;
  } else {
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      breaker_.OnTimeout(p->admission, now);
    } else if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      // The dispatcher answered: this event was malformed, the dispatcher is fine. One bad event
      // must not open the breaker for every client.
      breaker_.OnSuccess(p->admission, now);
    } else {
      breaker_.OnFailure(p->admission, now);
    }
    // UNAVAILABLE and DEADLINE_EXCEEDED are the expected failures (counted by reason); any other
    // status is worth its own line, with the code and message the reason hides.
    const bool unexpected = ReasonFor(status) == FallbackReason::kError;
    spdlog::log(unexpected ? spdlog::level::warn : spdlog::level::debug,
                "sink: dispatcher call failed: status {} \"{}\"",
                static_cast<int>(status.error_code()), v1::EscapeForLog(status.error_message()));
    e = FallbackFor(p, ReasonFor(status), now);
  }
  Record(*p, e);
  // Last touch of `this`: after it, Shutdown() may return and the sink may be destroyed while
  // the host's callback still runs on this thread.
  RpcFinished(p->id);
  p->done(std::move(e));
}

namespace {
// The trace id is the traceparent's second field ("00-<trace id>-...").
std::string_view TraceIdOf(const std::string& traceparent) {
  return traceparent.size() >= 35 ? std::string_view(traceparent).substr(3, 32)
                                  : std::string_view();
}
}  // namespace

Evaluation SinkCore::FallbackFor(const std::shared_ptr<Pending>& p, FallbackReason reason,
                                 SteadyTime now) {
  Evaluation e =
      fallback_.Answer(p->request.event(), reason, now, TraceIdOf(p->request.traceparent()));
  e.latency = now - p->start;
  return e;
}

void SinkCore::Record(const Pending& p, const Evaluation& e) {
  metrics_.Answered(e.source, e.reason, e.latency);
  // One debug line per answer, with the ids that join it to the dispatcher's and the workers'
  // lines (event id, session, trace id).
  if (spdlog::should_log(spdlog::level::debug)) {
    const v1::Event& event = p.request.event();
    spdlog::debug(
        "sink: answer event_id={} session={} trace_id={} event={} keyword={} action={} source={} "
        "reason={} decided_by={} latency_us={}",
        event.event_id(), event.session().session_id(), TraceIdOf(p.request.traceparent()),
        v1::EventTypeName(event.type()), v1::EscapeForLog(event.command().keyword()),
        v1::ActionName(e.verdict.action()), VerdictSourceName(e.source),
        FallbackReasonName(e.reason), e.decided_by,
        std::chrono::duration_cast<std::chrono::microseconds>(e.latency).count());
  }
}

void SinkCore::RpcFinished(uint64_t id) {
  std::lock_guard lock(mu_);
  if (id != 0) in_flight_.erase(id);
  if (--outstanding_rpcs_ == 0) rpcs_done_.notify_all();
}

bool SinkCore::Wants(uint32_t instance, v1::EventType type, std::string_view keyword) const {
  return interests_.Wants(instance, type, keyword);
}

uint32_t SinkCore::BodyLimit(uint32_t instance) const { return interests_.BodyLimit(instance); }

std::size_t SinkCore::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_.size();
}

void SinkCore::RefreshInterests() {
  if (stopped_.load(std::memory_order_acquire)) return;
  {
    std::lock_guard lock(mu_);
    if (stopped_.load(std::memory_order_acquire)) return;
    ++outstanding_rpcs_;
  }
  const auto deadline = std::chrono::system_clock::now() + options_.interests.timeout;
  auto call =
      client_->GetInterests(v1::GetInterestsRequest(), deadline,
                            [this](const grpc::Status& status, v1::GetInterestsResponse response) {
                              OnInterests(status, response);
                            });
  std::lock_guard lock(mu_);
  interests_call_ = std::move(call);
  if (stopped_.load(std::memory_order_acquire) && interests_call_) interests_call_->Cancel();
}

void SinkCore::OnInterests(const grpc::Status& status, const v1::GetInterestsResponse& response) {
  std::chrono::nanoseconds next = options_.interests.retry_after;
  if (status.ok()) {
    if (bindings_generation_ && *bindings_generation_ != response.generation())
      fresh_cache_.Clear();
    bindings_generation_ = response.generation();
    interests_.Update(response);
    metrics_.InterestsRefreshed(true);
    const auto asked = v1::FromProtoDuration(response.refresh_after());
    next = asked > std::chrono::nanoseconds::zero() ? asked : options_.interests.refresh_after;
    next = std::max<std::chrono::nanoseconds>(next, kMinInterestsRefresh);
    spdlog::debug("sink: interests generation {} ({} entries)", response.generation(),
                  response.interests_size());
  } else {
    metrics_.InterestsRefreshed(false);
    spdlog::debug("sink: GetInterests failed: {}", status.error_message());
  }
  if (!stopped_.load(std::memory_order_acquire)) {
    timers_->Schedule(
        timers_->Now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(next),
        [this] { RefreshInterests(); });
  }
  RpcFinished(0);
}

void SinkCore::Shutdown() {
  std::lock_guard shutdown_lock(shutdown_mu_);
  {
    std::lock_guard lock(ready_hook_->mu);
    ready_hook_->core = nullptr;
  }
  std::vector<std::shared_ptr<Pending>> in_flight;
  std::shared_ptr<DispatcherClient::Call> interests_call;
  {
    std::lock_guard lock(mu_);
    stopped_.store(true, std::memory_order_release);
    for (const auto& [id, p] : in_flight_) in_flight.push_back(p);
    interests_call = interests_call_;
  }
  if (interests_call) interests_call->Cancel();
  const SteadyTime now = timers_->Now();
  for (const auto& p : in_flight) {
    // Claim before cancelling, so the cancelled call's callback cannot answer first. Late
    // calls (already answered by the fallback) are cancelled too, so none outlives the sink.
    const bool unanswered = Claim(p);
    CancelCall(p);
    if (!unanswered) continue;
    timers_->Cancel(p->timer);
    Evaluation e = FallbackFor(p, FallbackReason::kShutdown, now);
    Record(*p, e);
    p->done(std::move(e));
  }
  timers_->Stop();
  // Cancelled calls finish promptly; their callbacks must not outlive the sink.
  std::unique_lock lock(mu_);
  rpcs_done_.wait(lock, [this] { return outstanding_rpcs_ == 0; });
}

}  // namespace smtpbridge::sink
