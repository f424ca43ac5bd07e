#include "session_verdicts.h"

#include "verdict_decision.h"

namespace smtpbridge::proxy {

OutboundVerdict ApplyOutboundVerdict(const v1::Verdict& verdict, std::string_view hostname,
                                     bool allow_skip, size_t max_command_line, std::string* line) {
  OutboundVerdict out;
  Decision d = Decide(verdict, hostname, allow_skip);
  switch (d.kind) {
    case Decision::Kind::kReply:
      out.kind = OutboundVerdict::Kind::kConsumed;
      out.client = std::move(d.reply);
      return out;
    case Decision::Kind::kDrop:
      out.kind = OutboundVerdict::Kind::kDropped;
      out.client = std::move(d.reply);
      return out;
    case Decision::Kind::kSkip:
      out.kind = OutboundVerdict::Kind::kSkipped;
      return out;
    case Decision::Kind::kContinue:
      break;
  }
  const auto& rewrite = verdict.command();
  if (rewrite.set_command().empty() && rewrite.append().empty()) return out;  // the common case
  std::string rewritten = rewrite.set_command().empty() ? *line : rewrite.set_command();
  rewritten += rewrite.append();
  if (rewritten != *line) {
    const bool valid =
        rewritten.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos &&
        rewritten.size() + 2 <= max_command_line && !rewritten.empty();
    if (valid) {
      *line = std::move(rewritten);
    } else {
      out.rewrite_refused = true;
    }
  }
  return out;
}

bool ApplyResponseVerdict(const v1::Verdict& verdict, std::string_view hostname,
                          SessionState::Relay* relay) {
  Decision d = Decide(verdict, hostname, false);
  if (d.kind == Decision::Kind::kDrop) {
    relay->client = std::move(d.reply);
    return true;
  }
  if (d.kind == Decision::Kind::kReply) {
    relay->client = std::move(d.reply);
    relay->rewritten = true;
  } else if (verdict.has_reply()) {
    // Same class as the next hop's reply (the dispatcher's rule): a 354 only replaces a 3xx.
    const Reply& upstream = relay->upstream;
    if (auto replacement = ToReply(verdict.reply());
        replacement && replacement->klass() == upstream.klass() &&
        (upstream.klass() != 3 || replacement->code == upstream.code)) {
      relay->client = std::move(*replacement);
      relay->rewritten = true;
    }
  }
  return false;
}

CarriedEdits CarryEdits(v1::Verdict* verdict, bool eod, bool mail_event,
                        SessionState::Transaction* txn, std::vector<v1::MessageEdit>* mail_edits) {
  CarriedEdits out;
  const auto action = verdict->action();
  const bool continues = action == v1::ACTION_UNSPECIFIED || action == v1::ACTION_CONTINUE ||
                         action == v1::ACTION_SKIP_RECIPIENT;
  if (eod || !continues || verdict->edits_size() == 0) return out;
  auto* carried = txn->open ? &txn->carried_edits : mail_event ? mail_edits : nullptr;
  if (carried) {
    out.carried = verdict->edits_size();
    for (auto& edit : *verdict->mutable_edits()) carried->push_back(std::move(edit));
  } else {
    out.refused = verdict->edits_size();
  }
  verdict->clear_edits();
  return out;
}

}  // namespace smtpbridge::proxy
