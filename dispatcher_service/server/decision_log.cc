#include "server/decision_log.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>

#include "dispatch/merge.h"
#include "server/recorder.h"
#include "smtpbridge/common/rfc3339.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/shed.h"

namespace smtpbridge::dispatcher {
namespace {

int64_t Micros(const google::protobuf::Duration& d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(v1::FromProtoDuration(d)).count();
}

nlohmann::json VerdictJson(const v1::Verdict& v) {
  nlohmann::json j = {{"action", std::string(v1::ActionName(v.action()))}};
  if (v.has_reply()) {
    j["code"] = v.reply().code();
    if (!v.reply().enhanced_code().empty()) j["enhanced_code"] = v.reply().enhanced_code();
  }
  return j;
}

}  // namespace

std::string HashAddress(const std::string& address) {
  if (address.empty()) return "";
  std::string lower = address;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(lower.data(), lower.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (int i = 0; i < 8; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

std::unique_ptr<DecisionLog> DecisionLog::Open(const DecisionLogOptions& options,
                                               std::string* error) {
  if (options.sample_rate < 0 || options.sample_rate > 1) {
    *error = "--decision-log-sample: must be between 0 and 1";
    return nullptr;
  }
  if (options.path.empty()) return nullptr;
  if (options.path == "-") return std::make_unique<DecisionLog>(options, stdout, false);
  std::FILE* out = std::fopen(options.path.c_str(), "ae");
  if (!out) {
    *error = "--decision-log: cannot open " + options.path + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<DecisionLog>(options, out, true);
}

DecisionLog::DecisionLog(DecisionLogOptions options, std::FILE* out, bool owns_out)
    : options_(std::move(options)), out_(out), owns_out_(owns_out) {}

void DecisionLog::ExportTo(prometheus::Registry& registry) {
  auto& family =
      prometheus::BuildCounter()
          .Name("smtpbridge_dispatcher_decision_log_lines_total")
          .Help("Decision log lines by result: written, or left out by sampling or the rate cap")
          .Register(registry);
  written_counter_ = &family.Add({{"result", "written"}});
  sampled_out_counter_ = &family.Add({{"result", "sampled_out"}});
  over_cap_counter_ = &family.Add({{"result", "over_cap"}});
}

DecisionLog::~DecisionLog() {
  if (owns_out_) std::fclose(out_);
}

nlohmann::json DecisionLog::ToJson(const EventInfo& event, const v1::EvaluateResponse& response,
                                   const std::vector<DecisionOutcome>& outcomes,
                                   bool hash_addresses) {
  nlohmann::json bindings = nlohmann::json::array();
  // A shed event (admission control, smtpbridge/v1/shed.h) was not decided: no binding ran.
  const bool shed = v1::IsShedResponse(response);
  std::string source = shed ? "shed" : "none";  // none: nothing matched, or all continued
  for (const auto& o : outcomes) {
    const std::string outcome = o.shed      ? "shed"
                                : o.pending ? "pending"
                                            : std::string(v1::OutcomeKindName(o.outcome.kind()));
    nlohmann::json b = {
        {"name", o.binding->name()},
        {"priority", o.binding->priority()},
        {"mode", o.binding->mode() == v1::BINDING_MODE_OBSERVE ? "observe" : "enforce"},
        {"outcome", outcome},
    };
    if (!o.pending && !o.shed && o.outcome.kind() != v1::SINK_OUTCOME_KIND_CANCELLED) {
      b["verdict"] = std::string(v1::ActionName(o.outcome.verdict().action()));
    }
    if (o.outcome.has_latency()) b["latency_us"] = Micros(o.outcome.latency());
    if (!o.shed && !o.outcome.error().empty()) b["error"] = o.outcome.error();
    if (o.binding->name() == response.decided_by()) {
      switch (o.outcome.kind()) {
        case v1::SINK_OUTCOME_KIND_CACHED:
          source = "cache";
          break;
        case v1::SINK_OUTCOME_KIND_ANSWERED:
          source = "worker";
          break;
        default:
          source = "on_error";
          break;  // the binding's on_error verdict decided
      }
    }
    bindings.push_back(std::move(b));
  }
  auto address = [&](const std::string& a) { return hash_addresses ? HashAddress(a) : a; };
  nlohmann::json line = {
      {"ts", common::Rfc3339Now()},
      {"kind", "decision"},
      {"event_id", event.event_id},
      {"session_id", event.session_id},
      {"trace_id", event.trace_id},
      {"instance", event.instance},
      {"event", std::string(v1::EventTypeName(event.type))},
      {"keyword", event.keyword},
      {"outcome", shed ? "shed" : "decided"},
      {"bindings", std::move(bindings)},
      {"verdict", VerdictJson(response.verdict())},
      {"decided_by", shed ? std::string() : response.decided_by()},
      {"source", source},
      {"latency_us", Micros(response.elapsed())},
  };
  if (shed) line["shed_reason"] = std::string(v1::ShedReason(response));
  if (!event.sender.empty()) line["sender"] = address(event.sender);
  if (!event.recipient.empty()) line["recipient"] = address(event.recipient);
  return line;
}

void DecisionLog::Write(const EventInfo& event, const v1::EvaluateResponse& response,
                        const std::vector<DecisionOutcome>& outcomes) {
  if (options_.sample_rate < 1.0) {
    static thread_local std::mt19937_64 random{std::random_device{}()};
    if (std::uniform_real_distribution<double>(0, 1)(random) >= options_.sample_rate) {
      std::lock_guard lock(mu_);
      ++sampled_out_;
      if (sampled_out_counter_) sampled_out_counter_->Increment();
      return;
    }
  }
  {
    std::lock_guard lock(mu_);
    if (options_.max_per_second > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now - window_ >= std::chrono::seconds(1)) {
        window_ = now;
        in_window_ = 0;
      }
      if (in_window_ >= options_.max_per_second) {
        ++over_cap_;
        if (over_cap_counter_) over_cap_counter_->Increment();
        return;
      }
      ++in_window_;
    }
  }
  // Built outside the lock; written whole under it, one line at a time.
  const std::string text = ToJson(event, response, outcomes, options_.hash_addresses)
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                           "\n";
  std::lock_guard lock(mu_);
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
  ++written_;
  if (written_counter_) written_counter_->Increment();
}

uint64_t DecisionLog::written() const {
  std::lock_guard lock(mu_);
  return written_;
}
uint64_t DecisionLog::sampled_out() const {
  std::lock_guard lock(mu_);
  return sampled_out_;
}
uint64_t DecisionLog::over_cap() const {
  std::lock_guard lock(mu_);
  return over_cap_;
}

}  // namespace smtpbridge::dispatcher
