// docs/verdicts.md section 2, row by row, against the three hosts' verdict mapping: what the SMTP
// client sees for each action on the proxy (sink::ConformForRelayHost + proxy::Decide), the milter
// (ConformForRelayHost + milter::StepReply) and the policy host (policy::ActionForVerdict). The
// protocol layers around these functions are tested per host; this keeps the three in step.
#include <gtest/gtest.h>

#include <variant>

#include "core/verdict_text.h"
#include "milter/verdict_mapping.h"
#include "policy/policy_mapping.h"
#include "verdict_decision.h"

namespace smtpbridge {
namespace {

v1::Verdict V(v1::Action action, uint32_t code = 0, std::string enhanced = "",
              std::string text = "") {
  v1::Verdict v;
  v.set_action(action);
  if (code) {
    v.mutable_reply()->set_code(code);
    v.mutable_reply()->set_enhanced_code(enhanced);
    if (!text.empty()) v.mutable_reply()->add_lines(text);
  }
  return v;
}

// "continue", "reply 550 5.7.1 text", "drop 421 ...", "skip".
std::string Proxy(v1::Verdict v, bool rcpt = true) {
  sink::ConformForRelayHost(&v);
  const auto d = proxy::Decide(v, "mx.example", rcpt);
  switch (d.kind) {
    case proxy::Decision::Kind::kContinue:
      return "continue";
    case proxy::Decision::Kind::kSkip:
      return "skip";
    case proxy::Decision::Kind::kReply:
      return "reply " + d.reply.Text();
    case proxy::Decision::Kind::kDrop:
      return "drop " + d.reply.Text();
  }
  return "?";
}

std::string Milter(v1::Verdict v) {
  sink::ConformForRelayHost(&v);
  const auto r = milter::StepReply(v);
  if (const auto* simple = std::get_if<milter::SimpleReply>(&r)) {
    return simple->code == milter::reply::kContinue ? "continue"
                                                    : std::string("simple ") + simple->code;
  }
  if (const auto* code = std::get_if<milter::ReplyCode>(&r)) return "reply " + code->text;
  return "?";
}

std::string Policy(const v1::Verdict& v) { return policy::ActionForVerdict(v, "RCPT"); }

struct Row {
  const char* name;
  v1::Verdict verdict;
  const char* proxy;
  const char* milter;
  const char* policy;
};

TEST(HostVerdictTable, EveryHostShowsTheClientWhatTheTableSays) {
  const std::vector<Row> rows = {
      {"continue", V(v1::ACTION_CONTINUE), "continue", "continue", "DUNNO"},
      {"respond 250", V(v1::ACTION_RESPOND, 250, "2.0.0", "ok"), "reply 250 2.0.0 ok", "continue",
       "OK"},
      {"respond 550", V(v1::ACTION_RESPOND, 550, "5.1.1", "no such user"),
       "reply 550 5.1.1 no such user", "reply 550 5.1.1 no such user", "550 5.1.1 no such user"},
      {"respond 354 (refused)", V(v1::ACTION_RESPOND, 354, "", "go"), "continue", "continue",
       "DUNNO"},
      {"respond without reply", V(v1::ACTION_RESPOND), "continue", "continue", "DUNNO"},
      {"respond 421 (refused)", V(v1::ACTION_RESPOND, 421, "4.7.0", "bye"), "continue", "continue",
       "DUNNO"},
      {"reject default", V(v1::ACTION_REJECT), "reply 550 5.7.1 Rejected by policy",
       "reply 550 5.7.1 Rejected by policy", "550 5.7.1 Rejected by policy"},
      {"reject own", V(v1::ACTION_REJECT, 554, "5.7.1", "go away"), "reply 554 5.7.1 go away",
       "reply 554 5.7.1 go away", "554 5.7.1 go away"},
      {"reject wrong class", V(v1::ACTION_REJECT, 451, "4.7.1", "x"),
       "reply 550 5.7.1 Rejected by policy", "reply 550 5.7.1 Rejected by policy",
       "550 5.7.1 Rejected by policy"},
      {"tempfail default", V(v1::ACTION_TEMPFAIL), "reply 451 4.7.1 Try again later",
       "reply 451 4.7.1 Try again later", "451 4.7.1 Try again later"},
      {"tempfail with CR/LF", V(v1::ACTION_TEMPFAIL, 451, "", "a\r\n250 ok"),
       "reply 451 4.7.1 Try again later", "reply 451 4.7.1 Try again later",
       "451 4.7.1 Try again later"},
      {"drop default", V(v1::ACTION_DROP_SESSION),
       "drop 421 4.7.0 mx.example Closing connection by policy",
       "reply 421 4.7.0 Closing connection", "421 4.7.0 Closing connection"},
      {"skip recipient", V(v1::ACTION_SKIP_RECIPIENT), "skip", "continue", "DUNNO"},
      {"defer_if_permit", V(v1::ACTION_DEFER_IF_PERMIT), "reply 450 4.7.1 Try again later",
       "reply 450 4.7.1 Try again later", "DEFER_IF_PERMIT"},
      {"defer_if_reject", V(v1::ACTION_DEFER_IF_REJECT, 450, "", "later"), "continue", "continue",
       "DEFER_IF_REJECT later"},
      {"unknown action", V(static_cast<v1::Action>(42), 550), "continue", "continue", "DUNNO"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(Proxy(row.verdict), row.proxy);
    EXPECT_EQ(Milter(row.verdict), row.milter);
    EXPECT_EQ(Policy(row.verdict), row.policy);
  }
}

}  // namespace
}  // namespace smtpbridge
