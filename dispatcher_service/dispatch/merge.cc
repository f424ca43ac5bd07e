#include "dispatch/merge.h"

#include <algorithm>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::dispatcher {
namespace {

void AddTags(const v1::Verdict& from, v1::Verdict* to) {
  for (const auto& tag : from.tags()) {
    if (std::find(to->tags().begin(), to->tags().end(), tag) == to->tags().end()) {
      to->add_tags(tag);
    }
  }
}

}  // namespace

bool IsContinue(const v1::Verdict& verdict) {
  return verdict.action() == v1::ACTION_UNSPECIFIED || verdict.action() == v1::ACTION_CONTINUE;
}

v1::Verdict OnErrorVerdict(const v1::Binding& binding, std::string_view what) {
  v1::Verdict v;
  // The binding's name goes into the reason (logs, metrics, test-event), never to the client.
  const std::string reason = "binding " + binding.name() + ": " + std::string(what);
  const bool custom = binding.has_on_error_reply() && binding.on_error_reply().code() != 0;
  switch (binding.on_error()) {
    case v1::ON_ERROR_TEMPFAIL:
      v.set_action(v1::ACTION_TEMPFAIL);
      if (custom) {
        *v.mutable_reply() = binding.on_error_reply();
      } else {
        v.mutable_reply()->set_code(451);
        v.mutable_reply()->set_enhanced_code("4.7.1");
        v.mutable_reply()->add_lines("Temporary policy failure");
      }
      break;
    case v1::ON_ERROR_REJECT:
      v.set_action(v1::ACTION_REJECT);
      if (custom) {
        *v.mutable_reply() = binding.on_error_reply();
      } else {
        v.mutable_reply()->set_code(550);
        v.mutable_reply()->set_enhanced_code("5.7.1");
        v.mutable_reply()->add_lines("Rejected by policy");
      }
      break;
    default:
      v.set_action(v1::ACTION_CONTINUE);
      break;
  }
  v.set_reason(reason + " (on_error=" +
               std::string(binding.on_error() == v1::ON_ERROR_TEMPFAIL ? "tempfail"
                           : binding.on_error() == v1::ON_ERROR_REJECT ? "reject"
                                                                       : "continue") +
               ")");
  return v;
}

bool VerdictMerger::Add(const v1::Verdict& verdict) {
  if (decided_) return true;
  // The merged TTL is the smallest one, and nothing is cacheable once scopes disagree.
  const auto ttl = v1::FromProtoDuration(verdict.cache_ttl());
  if (ttl <= std::chrono::nanoseconds::zero()) cacheable_ = false;
  if (!scope_set_) {
    accumulated_.set_cache_scope(verdict.cache_scope());
    *accumulated_.mutable_cache_ttl() = verdict.cache_ttl();
    scope_set_ = true;
  } else {
    if (verdict.cache_scope() != accumulated_.cache_scope()) cacheable_ = false;
    if (ttl < v1::FromProtoDuration(accumulated_.cache_ttl())) {
      *accumulated_.mutable_cache_ttl() = verdict.cache_ttl();
    }
  }
  any_ = true;
  if (!IsContinue(verdict)) {
    decided_ = true;
    decisive_ = verdict;
    return true;
  }
  const auto& cmd = verdict.command();
  if (!cmd.set_command().empty() && accumulated_.command().set_command().empty()) {
    accumulated_.mutable_command()->set_set_command(cmd.set_command());
  }
  if (!cmd.append().empty()) {
    accumulated_.mutable_command()->mutable_append()->append(cmd.append());
  }
  if (verdict.has_reply() && verdict.reply().code() != 0 && !accumulated_.has_reply()) {
    *accumulated_.mutable_reply() = verdict.reply();
  }
  if (verdict.next_state() != v1::OUTBOUND_STATE_UNSPECIFIED &&
      accumulated_.next_state() == v1::OUTBOUND_STATE_UNSPECIFIED) {
    accumulated_.set_next_state(verdict.next_state());
  }
  for (const auto& edit : verdict.edits()) *accumulated_.add_edits() = edit;
  AddTags(verdict, &accumulated_);
  if (!verdict.reason().empty()) reasons_.push_back(verdict.reason());
  return false;
}

v1::Verdict VerdictMerger::Result() const {
  v1::Verdict out;
  if (decided_) {
    out = decisive_;
    out.clear_tags();
    AddTags(accumulated_, &out);
    AddTags(decisive_, &out);
  } else {
    out = accumulated_;
    out.set_action(v1::ACTION_CONTINUE);
    std::string reason;
    for (const auto& r : reasons_) reason += (reason.empty() ? "" : "; ") + r;
    out.set_reason(reason);
  }
  out.set_cache_scope(accumulated_.cache_scope());
  if (!any_ || !cacheable_) {
    out.clear_cache_ttl();
  } else {
    *out.mutable_cache_ttl() = accumulated_.cache_ttl();
  }
  return out;
}

}  // namespace smtpbridge::dispatcher
