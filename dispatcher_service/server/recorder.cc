#include "server/recorder.h"

#include <spdlog/spdlog.h>

#include "dispatch/merge.h"
#include "dispatch/verdict_validation.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/shed.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::dispatcher {
namespace {

// Log lines carry the caller's trace id (traceparent) to join them to the sink's and workers'.
std::string_view TraceIdOrDash(const EventInfo& event) {
  return event.trace_id.empty() ? std::string_view("-") : std::string_view(event.trace_id);
}

}  // namespace

void Recorder::OnOutcome(const EventInfo& event, const v1::Binding& binding,
                         const v1::SinkOutcome& outcome) {
  if (stats_) stats_->Record(binding.name(), outcome);
  const std::string_view kind = v1::OutcomeKindName(outcome.kind());
  if (metrics_) {
    metrics_->Outcome(binding.name(), kind);
    // A cancelled call's time says nothing about the worker; cached outcomes made no call.
    if (outcome.has_latency() && outcome.kind() != v1::SINK_OUTCOME_KIND_CANCELLED) {
      metrics_->CallLatency(
          binding.name(),
          std::chrono::duration<double>(v1::FromProtoDuration(outcome.latency())).count());
    }
  }
  const bool failed = outcome.kind() == v1::SINK_OUTCOME_KIND_TIMEOUT ||
                      outcome.kind() == v1::SINK_OUTCOME_KIND_ERROR;
  if (failed && AllowWarning()) {
    spdlog::warn(
        "worker {} binding={} sink={} event_id={} session={} trace_id={} event={} error=\"{}\" "
        "on_error={}",
        kind, binding.name(), binding.sink(), event.event_id, event.session_id,
        TraceIdOrDash(event), v1::EventTypeName(event.type), v1::EscapeForLog(outcome.error()),
        v1::ActionName(outcome.verdict().action()));
  } else if (outcome.observed() && !IsContinue(outcome.verdict())) {
    spdlog::debug("observe binding={} event_id={} trace_id={} verdict={}", binding.name(),
                  event.event_id, TraceIdOrDash(event), v1::ActionName(outcome.verdict().action()));
  }
}

void Recorder::OnHedge(const EventInfo& event, const v1::Binding& binding) {
  if (metrics_) metrics_->Hedge(binding.name());
  spdlog::debug("hedge binding={} event_id={} trace_id={}", binding.name(), event.event_id,
                TraceIdOrDash(event));
}

void Recorder::OnDecisionDetail(const EventInfo& event, const v1::EvaluateResponse& response,
                                const std::vector<DecisionOutcome>& outcomes) {
  if (decision_log_) decision_log_->Write(event, response, outcomes);
}

void Recorder::OnInvalidVerdict(const EventInfo&, const v1::Binding& binding,
                                const VerdictCheck& check) {
  // The outcome's warning line (OnOutcome) says what was wrong; this only counts.
  if (metrics_) metrics_->InvalidVerdict(binding.name(), VerdictProblemName(check.problem));
}

void Recorder::OnDecision(const EventInfo& event, const v1::EvaluateResponse& response) {
  const auto elapsed = v1::FromProtoDuration(response.elapsed());
  if (v1::IsShedResponse(response)) {
    // Over a limit: no decision was made. Counted by reason; logged like worker warnings
    // (rate-limited), since sheds come in bursts.
    const auto reason = v1::ShedReason(response);
    if (metrics_) {
      metrics_->Event(v1::EventTypeName(event.type));
      metrics_->Shed(reason);
    }
    if (AllowWarning()) {
      spdlog::warn("shed reason={} event_id={} session={} trace_id={} event={}", reason,
                   event.event_id, event.session_id, TraceIdOrDash(event),
                   v1::EventTypeName(event.type));
    }
    return;
  }
  const std::string_view action = v1::ActionName(response.verdict().action());
  if (metrics_) {
    metrics_->Event(v1::EventTypeName(event.type));
    metrics_->Decision(action, std::chrono::duration<double>(elapsed).count());
  }
  if (!response.decided_by().empty()) {
    // Worker text is escaped (no CR/LF can forge a log line); the reply is the one the host
    // enforces, defaults included.
    const v1::SmtpReply enforced = EnforcedReply(response.verdict());
    spdlog::info(
        "decision action={} decided_by={} event_id={} session={} trace_id={} event={} keyword={} "
        "reply=\"{}\" reason=\"{}\" elapsed_us={}",
        action, response.decided_by(), event.event_id, event.session_id, TraceIdOrDash(event),
        v1::EventTypeName(event.type), v1::EscapeForLog(event.keyword),
        enforced.code() != 0 ? v1::EscapeForLog(v1::ReplyText(enforced)) : "",
        v1::EscapeForLog(response.verdict().reason()),
        std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  }
}

void Recorder::OnEjected(const std::string& target, const std::string& endpoint,
                         Clock::duration ejected_for, uint32_t times, size_t out_now) {
  if (metrics_) metrics_->Ejected(target, out_now);
  spdlog::warn("worker endpoint ejected pool={} endpoint={} for_ms={} times={} out_of_rotation={}",
               target, endpoint,
               std::chrono::duration_cast<std::chrono::milliseconds>(ejected_for).count(), times,
               out_now);
}

void Recorder::OnReturned(const std::string& target, const std::string& endpoint, size_t out_now) {
  if (metrics_) metrics_->Returned(target, out_now);
  spdlog::info("worker endpoint back in rotation pool={} endpoint={} out_of_rotation={}", target,
               endpoint, out_now);
}

void Recorder::OnEndpoints(const std::string& target, size_t endpoints) {
  if (metrics_) metrics_->Endpoints(target, endpoints);
  spdlog::debug("worker pool={} endpoints={}", target, endpoints);
}

void Recorder::OnRetry(const std::string& target) {
  if (metrics_) metrics_->Retry(target);
}

}  // namespace smtpbridge::dispatcher
