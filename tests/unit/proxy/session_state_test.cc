// The proxy's RFC 5321 state without sockets: real command sequences through Admit and the
// After* transitions, with the next hop's replies and the policy's answers simulated.
#include "session_state.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace smtpbridge::proxy {
namespace {

SessionState::Relay Relayed(int upstream, int client = 0) {
  return SessionState::Relay{MakeReply(upstream, "", "next hop"),
                             MakeReply(client ? client : upstream, "", "client"), client != 0};
}

// What ClientSession does with a command when every event continues: the reply the client gets.
// `next_hop` answers each relayed command (EHLO, MAIL, RCPT) with that code; RSET and DATA are
// not relayed here (Deliver's own path).
class Driver {
 public:
  explicit Driver(const ProxyConfig& config, bool tls = false) : state(config, tls) {}

  int Line(const std::string& line, int next_hop = 250) {
    const Command cmd = ParseCommand(line);
    const SessionState::Admission a = state.Admit(cmd);
    if (a.refused) {
      if (a.counted) state.CountError();
      return a.native.code;
    }
    switch (cmd.verb) {
      case Verb::kHelo:
      case Verb::kEhlo:
        state.BeginHelo();
        return state.AfterHelo(a.native, Relayed(next_hop)).code;
      case Verb::kMail: {
        std::vector<v1::MessageEdit> carried;
        return state.AfterMail(cmd, a.declared_size, Relayed(next_hop), &carried).code;
      }
      case Verb::kRcpt:
        if (state.txn().skip_recipients) {
          state.AcceptRecipientLocally();
          return a.native.code;
        }
        return state.AfterRcpt(cmd, Relayed(next_hop)).code;
      case Verb::kRset:
        state.ResetTransaction();
        state.UpstreamReset();
        return a.native.code;
      default:
        return a.native.code;
    }
  }

  std::vector<int> Lines(const std::vector<std::string>& lines) {
    std::vector<int> codes;
    for (const auto& l : lines) codes.push_back(Line(l));
    return codes;
  }

  SessionState state;
};

TEST(SessionState, AFullTransaction) {
  ProxyConfig config;
  Driver d(config);
  EXPECT_EQ(d.Line("EHLO client.example"), 250);
  EXPECT_TRUE(d.state.greeted());
  EXPECT_EQ(d.Line("MAIL FROM:<alice@example.com> SIZE=100"), 250);
  EXPECT_TRUE(d.state.txn().open);
  EXPECT_EQ(d.state.txn().declared_size, 100u);
  EXPECT_EQ(d.state.txn().sender_params, " SIZE=100");
  EXPECT_TRUE(d.state.upstream_open());
  EXPECT_EQ(d.state.upstream_sender(), "alice@example.com");
  EXPECT_EQ(d.Line("RCPT TO:<bob@example.net>"), 250);
  EXPECT_EQ(d.Line("RCPT TO:<gone@example.net>", 550), 550);  // the next hop's refusal, as it is
  EXPECT_EQ(d.Line("RCPT TO:<later@example.net>", 451), 451);
  EXPECT_EQ(d.state.txn().client_recipients, 1u);
  EXPECT_EQ(d.state.txn().recipients, std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(d.state.upstream_recipients(), std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(d.Line("DATA"), 354);
  EXPECT_EQ(d.Line("QUIT"), 221);
}

TEST(SessionState, OutOfOrderCommandsAreRefusedAndCounted) {
  ProxyConfig config;
  Driver d(config);
  EXPECT_EQ(d.state.Admit(ParseCommand("MAIL FROM:<a@b.c>")).native.Text(),
            "503 5.5.1 Error: send HELO/EHLO first");
  EXPECT_EQ(d.Lines({"MAIL FROM:<a@b.c>", "RCPT TO:<b@c.d>", "DATA", "BDAT 10 LAST", "STARTTLS",
                     "AUTH PLAIN"}),
            (std::vector<int>{503, 503, 503, 503, 502, 503}));
  EXPECT_EQ(d.Line("EHLO x.example"), 250);
  EXPECT_EQ(d.state.Admit(ParseCommand("RCPT TO:<b@c.d>")).native.Text(),
            "503 5.5.1 Error: need MAIL command");
  EXPECT_EQ(d.Lines({"RCPT TO:<b@c.d>", "DATA", "MAIL FROM:<a@b.c>", "DATA", "MAIL FROM:<a@b.c>",
                     "AUTH PLAIN"}),
            (std::vector<int>{503, 503, 250, 554, 503, 503}));
  EXPECT_EQ(d.state.Admit(ParseCommand("DATA")).native.Text(),
            "554 5.5.1 Error: no valid recipients");
  EXPECT_EQ(d.state.Admit(ParseCommand("MAIL FROM:<a@b.c>")).native.Text(),
            "503 5.5.1 Error: nested MAIL command");
  // Syntax errors, an unknown verb and a line without a keyword (no event for that one).
  // In a transaction a malformed RCPT gets its syntax error; MAIL is still nested first.
  EXPECT_EQ(d.Lines({"RCPT TO:bad", "XFOO", "MAIL FROM:<a@b.c> FOO=1"}),
            (std::vector<int>{501, 500, 503}));
  const auto empty = d.state.Admit(ParseCommand(""));
  EXPECT_FALSE(empty.evented);
  EXPECT_TRUE(empty.counted);
}

TEST(SessionState, LocalCommandsAreNotErrors) {
  ProxyConfig config;
  config.limits.max_errors = 2;
  Driver d(config);
  EXPECT_EQ(d.Lines({"NOOP", "VRFY bob", "HELP", "RSET"}), (std::vector<int>{250, 252, 214, 250}));
  EXPECT_FALSE(d.state.too_many_errors());
  EXPECT_EQ(d.Lines({"EXPN list", "XFOO"}), (std::vector<int>{502, 500}));
  EXPECT_TRUE(d.state.too_many_errors());
}

TEST(SessionState, RecipientLimitIsATemporaryRefusalNotAnError) {
  ProxyConfig config;
  config.limits.max_recipients = 1;
  config.limits.max_errors = 1;
  Driver d(config);
  EXPECT_EQ(
      d.Lines({"EHLO x.example", "MAIL FROM:<a@b.c>", "RCPT TO:<one@b.c>", "RCPT TO:<two@b.c>"}),
      (std::vector<int>{250, 250, 250, 452}));
  EXPECT_FALSE(d.state.too_many_errors());
  EXPECT_EQ(d.Line("RCPT TO:<three@b.c> NOTIFY=NEVER"), 555);  // parameters are checked first
  EXPECT_TRUE(d.state.too_many_errors());
  EXPECT_EQ(d.state.txn().client_recipients, 1u);
}

TEST(SessionState, RcptParametersAreRefused) {
  ProxyConfig config;
  Driver d(config);
  d.Lines({"EHLO x.example", "MAIL FROM:<a@b.c>"});
  EXPECT_EQ(d.state.Admit(ParseCommand("RCPT TO:<b@c.d> NOTIFY=NEVER")).native.Text(),
            "555 5.5.4 Error: unsupported RCPT TO parameter NOTIFY");
}

TEST(SessionState, MailSizeAndParameters) {
  ProxyConfig config;
  config.limits.max_message_size = 1000;
  Driver d(config);
  d.Line("EHLO x.example");
  EXPECT_EQ(d.state.Admit(ParseCommand("MAIL FROM:<a@b.c> SIZE=1001")).native.Text(),
            "552 5.3.4 Error: message size exceeds fixed limit");
  EXPECT_EQ(d.Line("MAIL FROM:<a@b.c> BODY=8BITMIME SIZE=1000"), 250);
  EXPECT_EQ(d.state.txn().mail_parameters.size(), 2u);
}

TEST(SessionState, NextHopRefusals) {
  ProxyConfig config;
  Driver d(config);
  // A next hop refusing the greeting: the client gets its reply and is not greeted.
  EXPECT_EQ(d.Line("EHLO x.example", 554), 554);
  EXPECT_FALSE(d.state.greeted());
  EXPECT_EQ(d.Line("EHLO x.example"), 250);
  // A next hop refusing MAIL: relayed as is (4xx stays retryable), no transaction either side.
  EXPECT_EQ(d.Line("MAIL FROM:<a@b.c>", 451), 451);
  EXPECT_FALSE(d.state.txn().open);
  EXPECT_FALSE(d.state.upstream_open());
  // A policy rewriting the next hop's 250 to a refusal: the next hop holds a transaction the
  // client does not.
  std::vector<v1::MessageEdit> carried;
  const Command mail = ParseCommand("MAIL FROM:<a@b.c>");
  EXPECT_EQ(d.state.AfterMail(mail, 0, Relayed(250, 550), &carried).code, 550);
  EXPECT_FALSE(d.state.txn().open);
  EXPECT_TRUE(d.state.upstream_open());
}

TEST(SessionState, RewrittenGreetingDecidesWhetherTheClientIsGreeted) {
  ProxyConfig config;
  SessionState s(config, false);
  const Command ehlo = ParseCommand("EHLO x.example");
  const auto a = s.Admit(ehlo);
  s.BeginHelo();
  EXPECT_EQ(s.AfterHelo(a.native, Relayed(250, 550)).code, 550);
  EXPECT_FALSE(s.greeted());
  s.BeginHelo();
  const Reply r = s.AfterHelo(a.native, Relayed(250));
  EXPECT_TRUE(s.greeted());
  EXPECT_EQ(r.Wire(), a.native.Wire());  // the proxy's own EHLO keywords, not the next hop's
}

TEST(SessionState, PolicyAnswersMoveTheClientsView) {
  ProxyConfig config;
  Driver d(config);
  d.Line("EHLO x.example");
  const Command mail = ParseCommand("MAIL FROM:<a@b.c>");
  d.state.AfterPolicyReply(mail, MakeReply(550, "5.7.1", "no"));  // a reject verdict
  EXPECT_FALSE(d.state.txn().open);
  d.state.AfterPolicyReply(mail, MakeReply(250, "2.1.0", "policy ok"));  // a 2xx that swallows MAIL
  EXPECT_TRUE(d.state.txn().open);
  EXPECT_FALSE(d.state.upstream_open());
  const Command rcpt = ParseCommand("RCPT TO:<b@c.d>");
  d.state.AfterPolicyReply(rcpt, MakeReply(550, "5.7.1", "no"));
  EXPECT_EQ(d.state.txn().client_recipients, 0u);
  d.state.AfterPolicyReply(rcpt, MakeReply(250, "2.1.5", "ok"));
  EXPECT_EQ(d.state.txn().client_recipients, 1u);
  EXPECT_TRUE(d.state.txn().recipients.empty());  // the next hop does not hold it
  EXPECT_EQ(d.Line("DATA"), 354);
}

TEST(SessionState, RsetAndEhloResetTheTransaction) {
  ProxyConfig config;
  Driver d(config);
  EXPECT_EQ(d.Lines({"EHLO x.example", "MAIL FROM:<a@b.c>", "RCPT TO:<b@c.d>", "RSET",
                     "RCPT TO:<b@c.d>"}),
            (std::vector<int>{250, 250, 250, 250, 503}));
  EXPECT_FALSE(d.state.upstream_open());
  EXPECT_EQ(d.Lines({"MAIL FROM:<a@b.c>", "EHLO again.example", "DATA", "MAIL FROM:<a@b.c>"}),
            (std::vector<int>{250, 250, 503, 250}));
}

TEST(SessionState, PipelinedGroupIsAnsweredInOrder) {
  // RFC 2920: the replies to a pipelined group, each from the state the previous one left.
  ProxyConfig config;
  Driver d(config);
  d.Line("EHLO x.example");
  EXPECT_EQ(d.Lines({"MAIL FROM:<a@b.c>", "RCPT TO:<b@c.d>", "RCPT TO:<c@c.d>", "DATA"}),
            (std::vector<int>{250, 250, 250, 354}));
  EXPECT_EQ(d.state.txn().recipients.size(), 2u);
}

TEST(SessionState, Bdat) {
  ProxyConfig config;
  Driver d(config);
  EXPECT_NE(d.state.EhloReply().Wire().find("CHUNKING"), std::string::npos);
  const auto early = d.state.Admit(ParseCommand("BDAT 5"));
  EXPECT_TRUE(early.reads_chunk);  // refused, and still its octets are consumed (RFC 3030 §3)
  EXPECT_TRUE(early.refused);
  d.Lines({"EHLO x.example", "MAIL FROM:<a@b.c>", "RCPT TO:<b@c.d>"});
  const auto ok = d.state.Admit(ParseCommand("BDAT 5"));
  EXPECT_FALSE(ok.refused);
  EXPECT_EQ(ok.native.Text(), "250 2.0.0 Ok: 5 octets");
  d.state.bdat_buffer() = "hello";
  d.state.AbandonBdat(false);  // a chunk failed: the rest of this message is refused
  EXPECT_TRUE(d.state.bdat_buffer().empty());
  EXPECT_EQ(d.state.Admit(ParseCommand("BDAT 5 LAST")).native.Text(),
            "554 5.5.0 Error: an earlier BDAT of this message failed");
  d.state.ResetTransaction();
  EXPECT_EQ(d.state.Admit(ParseCommand("BDAT 5 LAST")).native.code, 503);

  // Without a size the chunk cannot be delimited: no octets read. Without CHUNKING: 502.
  const auto bad = d.state.Admit(ParseCommand("BDAT x"));
  EXPECT_FALSE(bad.reads_chunk);
  EXPECT_TRUE(bad.counted);
  config.chunking = false;
  SessionState off(config, false);
  EXPECT_EQ(off.EhloReply().Wire().find("CHUNKING"), std::string::npos);
  const auto refused = off.Admit(ParseCommand("BDAT 5 LAST"));
  EXPECT_FALSE(refused.reads_chunk);
  EXPECT_EQ(refused.native.Text(), "502 5.5.1 Error: BDAT not supported");
}

TEST(SessionState, NextStateFromAVerdict) {
  ProxyConfig config;
  Driver d(config);
  d.state.ApplyNextState(v1::OUTBOUND_STATE_DATA_OR_BDAT);  // no transaction: nothing to skip
  d.Lines({"EHLO x.example", "MAIL FROM:<a@b.c>"});
  d.state.ApplyNextState(v1::OUTBOUND_STATE_DATA_OR_BDAT);
  EXPECT_EQ(d.Line("RCPT TO:<b@c.d>", 550), 250);  // answered locally, never relayed
  EXPECT_EQ(d.state.txn().client_recipients, 1u);
  EXPECT_TRUE(d.state.upstream_recipients().empty());
  EXPECT_FALSE(d.state.close_after_reply());
  d.state.ApplyNextState(v1::OUTBOUND_STATE_SESSION_END);
  EXPECT_TRUE(d.state.close_after_reply());
}

TEST(SessionState, StartTls) {
  ProxyConfig config;
  Driver none(config, false);
  none.Line("EHLO x.example");
  EXPECT_EQ(none.state.Admit(ParseCommand("STARTTLS")).native.Text(),
            "502 5.5.1 Error: STARTTLS not available");
  EXPECT_EQ(none.state.EhloReply().Wire().find("STARTTLS"), std::string::npos);

  Driver d(config, true);
  EXPECT_EQ(d.Line("STARTTLS"), 503);  // before EHLO
  d.Lines({"EHLO x.example", "MAIL FROM:<a@b.c>"});
  EXPECT_EQ(d.state.Admit(ParseCommand("STARTTLS")).native.Text(),
            "503 5.5.1 Error: MAIL transaction in progress");
  d.Line("RSET");
  EXPECT_NE(d.state.EhloReply().Wire().find("STARTTLS"), std::string::npos);
  EXPECT_EQ(d.Line("STARTTLS"), 220);
  d.state.AfterTls();
  EXPECT_FALSE(d.state.greeted());  // the client starts over with EHLO
  EXPECT_EQ(d.Line("MAIL FROM:<a@b.c>"), 503);
  EXPECT_EQ(d.state.EhloReply().Wire().find("STARTTLS"), std::string::npos);
  d.Line("EHLO x.example");
  EXPECT_EQ(d.state.Admit(ParseCommand("STARTTLS")).native.Text(),
            "503 5.5.1 Error: TLS already active");
}

TEST(SessionState, MailEditsMoveIntoTheTransaction) {
  ProxyConfig config;
  Driver d(config);
  d.Line("EHLO x.example");
  std::vector<v1::MessageEdit> carried(1);
  carried[0].mutable_quarantine()->set_reason("held");
  const Command mail = ParseCommand("MAIL FROM:<a@b.c>");
  d.state.AfterMail(mail, 0, Relayed(250), &carried);
  EXPECT_TRUE(carried.empty());
  ASSERT_EQ(d.state.txn().carried_edits.size(), 1u);
  d.state.ResetTransaction();
  EXPECT_TRUE(d.state.txn().carried_edits.empty());
}

TEST(SessionState, UpstreamHoldsTheEnvelopeUntilEditsChangeIt) {
  ProxyConfig config;
  Driver d(config);
  d.Lines(
      {"EHLO x.example", "MAIL FROM:<a@b.c> SIZE=10", "RCPT TO:<one@b.c>", "RCPT TO:<two@b.c>"});
  OutboundEnvelope env{"a@b.c", " SIZE=10", {{"one@b.c", ""}, {"two@b.c", ""}}};
  EXPECT_TRUE(d.state.UpstreamHolds(env));
  auto changed = env;
  changed.sender = "bounce@b.c";
  EXPECT_FALSE(d.state.UpstreamHolds(changed));
  changed = env;
  changed.sender_params = "";
  EXPECT_FALSE(d.state.UpstreamHolds(changed));
  changed = env;
  changed.recipients.pop_back();  // deleted
  EXPECT_FALSE(d.state.UpstreamHolds(changed));
  changed = env;
  changed.recipients[1].second = " NOTIFY=NEVER";  // added with parameters
  EXPECT_FALSE(d.state.UpstreamHolds(changed));
  d.state.UpstreamReset();
  EXPECT_FALSE(d.state.UpstreamHolds(env));
}

// One outcome per client failure, wherever the session is (between commands, DATA, BDAT).
TEST(OnClientFailure, RepliesOnlyWhenTheClientCanTakeOne) {
  const std::string host = "mx.test";
  const auto idle = OnClientFailure(ClientFailure::kIdleTimeout, host);
  ASSERT_TRUE(idle.reply);
  EXPECT_EQ(idle.reply->Wire(), "421 4.4.2 mx.test Error: timeout exceeded\r\n");
  EXPECT_TRUE(idle.timeout);
  const auto limit = OnClientFailure(ClientFailure::kSessionLimit, host);
  ASSERT_TRUE(limit.reply);
  EXPECT_EQ(limit.reply->Wire(), "421 4.4.2 mx.test Error: session time limit exceeded\r\n");
  EXPECT_TRUE(limit.timeout);
  const auto drain = OnClientFailure(ClientFailure::kShutdown, host);
  ASSERT_TRUE(drain.reply);
  EXPECT_EQ(drain.reply->Wire(), "421 4.3.2 mx.test Service shutting down\r\n");
  EXPECT_FALSE(drain.timeout);
  // Gone, TLS broken, or a write that did not complete: nothing more is written.
  for (ClientFailure f : {ClientFailure::kPeerClosed, ClientFailure::kTlsError,
                          ClientFailure::kWriteTimeout, ClientFailure::kWriteFailed}) {
    EXPECT_FALSE(OnClientFailure(f, host).reply) << static_cast<int>(f);
  }
  EXPECT_TRUE(OnClientFailure(ClientFailure::kWriteTimeout, host).timeout);
  EXPECT_FALSE(OnClientFailure(ClientFailure::kPeerClosed, host).timeout);
}

}  // namespace
}  // namespace smtpbridge::proxy
