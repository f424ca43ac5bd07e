// Per-operation client deadlines (client_deadline.h) through the in-process proxy: a read that
// misses its deadline, a write the client never takes, the session limit, and a deadline that
// belongs to one line only. And the one client-failure path (OnClientFailure, ClientLost): the
// session limit and a shutdown give the same reply between commands, in DATA and in BDAT.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "proxy_harness.h"
#include "smtp_test_client.h"

namespace smtpbridge::testing {
namespace {

using namespace std::chrono_literals;

// Waits (bounded) until the proxy has no session left.
bool WaitNoSessions(ProxyHarness& h, std::chrono::milliseconds bound = 10s) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (h.server().active_sessions() > 0) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Waits (bounded) until the sink has seen `entry` ("INBOUND_COMMAND:BDAT").
bool WaitForTrace(ProxyHarness& h, const std::string& entry,
                  std::chrono::milliseconds bound = 10s) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (true) {
    const auto trace = h.sink().trace();
    if (std::find(trace.begin(), trace.end(), entry) != trace.end()) return true;
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// EHLO, MAIL and RCPT accepted.
void Envelope(SmtpTestClient& c) {
  ASSERT_EQ(c.ReadReply().code, 220);
  ASSERT_EQ(c.Command("EHLO client.example").code, 250);
  ASSERT_EQ(c.Command("MAIL FROM:<a@example.com>").code, 250);
  ASSERT_EQ(c.Command("RCPT TO:<b@example.net>").code, 250);
}

// The session limit is long enough for the envelope; the idle timeout never fires.
proxy::ProxyConfig SessionLimitConfig() {
  proxy::ProxyConfig config = ProxyHarness::TestConfig();
  config.timeouts.session = 1500ms;
  config.timeouts.idle = 60s;
  return config;
}

void ExpectSessionLimitReply(ProxyHarness& h, SmtpTestClient& c) {
  const TestReply r = c.ReadReply();
  EXPECT_EQ(r.code, 421);
  EXPECT_EQ(r.text.rfind("421 4.4.2 proxy.test Error: session time limit exceeded", 0), 0u)
      << r.text;
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(h.server().metrics().timeouts.Value(), 1);
  EXPECT_TRUE(h.next_hop().WaitForQuitOrClose(1));
  EXPECT_TRUE(h.next_hop().messages().empty());
}

void ExpectShutdownReply(ProxyHarness& h, SmtpTestClient& c) {
  const TestReply r = c.ReadReply();
  EXPECT_EQ(r.code, 421);
  EXPECT_EQ(r.text.rfind("421 4.3.2 proxy.test Service shutting down", 0), 0u) << r.text;
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(h.server().metrics().timeouts.Value(), 0);
  EXPECT_TRUE(h.next_hop().WaitForQuitOrClose(1));
  EXPECT_TRUE(h.next_hop().messages().empty());
}

TEST(ClientFailure, SessionLimitBetweenCommands) {
  ProxyHarness h(SessionLimitConfig());
  SmtpTestClient c(h.port());
  Envelope(c);
  ExpectSessionLimitReply(h, c);
}

TEST(ClientFailure, SessionLimitDuringDataGivesTheSameReply) {
  ProxyHarness h(SessionLimitConfig());
  SmtpTestClient c(h.port());
  Envelope(c);
  ASSERT_EQ(c.Command("DATA").code, 354);
  ASSERT_TRUE(c.SendRaw("Subject: never ends\r\n\r\nhalf a "));
  ExpectSessionLimitReply(h, c);
}

TEST(ClientFailure, SessionLimitDuringBdatGivesTheSameReply) {
  ProxyHarness h(SessionLimitConfig());
  SmtpTestClient c(h.port());
  Envelope(c);
  ASSERT_TRUE(c.SendRaw("BDAT 100 LAST\r\nten octets"));  // 90 octets never come
  ExpectSessionLimitReply(h, c);
  EXPECT_TRUE(WaitForTrace(h, "INBOUND_COMMAND:BDAT"));  // the limit found the session in BDAT
}

TEST(ClientFailure, SessionLimitWhileTheNextHopIsSlowGivesTheSameReply) {
  ProxyHarness h(SessionLimitConfig());
  std::atomic<bool> release{false};
  h.next_hop().set_script([&release](const std::string& line) -> std::optional<std::string> {
    // The next hop sits on MAIL until the test has its reply (bounded).
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (line.starts_with("MAIL") && !release.load() &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  });
  SmtpTestClient c(h.port());
  ASSERT_EQ(c.ReadReply().code, 220);
  ASSERT_EQ(c.Command("EHLO client.example").code, 250);
  const TestReply r = c.Command("MAIL FROM:<a@example.com>");
  release = true;
  EXPECT_EQ(r.text.rfind("421 4.4.2 proxy.test Error: session time limit exceeded", 0), 0u)
      << r.text;
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(h.server().metrics().timeouts.Value(), 1);
  EXPECT_EQ(h.server().metrics().next_hop_failures.Value(), 0);  // the next hop did not fail
}

TEST(ClientFailure, ShutdownDuringDataSays421) {
  ProxyHarness h;
  SmtpTestClient c(h.port());
  Envelope(c);
  ASSERT_EQ(c.Command("DATA").code, 354);
  ASSERT_TRUE(c.SendRaw("Subject: cut\r\n\r\nhalf a "));
  h.server().Stop();
  ExpectShutdownReply(h, c);
}

TEST(ClientFailure, ShutdownDuringBdatSays421LikeData) {
  ProxyHarness h;
  SmtpTestClient c(h.port());
  Envelope(c);
  ASSERT_TRUE(c.SendRaw("BDAT 100 LAST\r\nten octets"));  // 90 octets never come
  // The session has taken the BDAT command (its event fired) and waits for the chunk's octets.
  ASSERT_TRUE(WaitForTrace(h, "INBOUND_COMMAND:BDAT"));
  h.server().Stop();
  ExpectShutdownReply(h, c);
}

TEST(ClientDeadline, ASilentClientGets421AndIsClosed) {
  proxy::ProxyConfig config = ProxyHarness::TestConfig();
  config.timeouts.idle = 300ms;
  ProxyHarness h(config);
  SmtpTestClient c(h.port());
  ASSERT_EQ(c.ReadReply().code, 220);
  const TestReply r = c.ReadReply();  // nothing sent: the read deadline passes
  EXPECT_EQ(r.code, 421);
  EXPECT_NE(r.text.find("Error: timeout exceeded"), std::string::npos) << r.text;
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(h.server().metrics().timeouts.Value(), 1);
  EXPECT_TRUE(h.next_hop().WaitForQuitOrClose(1));
}

TEST(ClientDeadline, ThePartOfALineDoesNotExtendIt) {
  proxy::ProxyConfig config = ProxyHarness::TestConfig();
  config.timeouts.idle = 300ms;
  ProxyHarness h(config);
  SmtpTestClient c(h.port());
  ASSERT_EQ(c.ReadReply().code, 220);
  ASSERT_TRUE(c.SendRaw("NOO"));  // never finished
  const TestReply r = c.ReadReply();
  EXPECT_EQ(r.code, 421);
  EXPECT_NE(r.text.find("timeout"), std::string::npos) << r.text;
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ClientDeadline, EachLineHasItsOwnDeadline) {
  // Lines that each come within the idle timeout keep the session open for longer than it.
  proxy::ProxyConfig config = ProxyHarness::TestConfig();
  config.timeouts.idle = 1s;
  ProxyHarness h(config);
  h.sink().WantOnly({});
  SmtpTestClient c(h.port());
  ASSERT_EQ(c.ReadReply().code, 220);
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(300ms);  // the client's pace, not a wait for the proxy
    ASSERT_EQ(c.Command("NOOP").code, 250) << "line " << i;
  }
  EXPECT_EQ(h.server().metrics().timeouts.Value(), 0);
}

TEST(ClientDeadline, SessionLimitEndsAnActiveSession) {
  proxy::ProxyConfig config = ProxyHarness::TestConfig();
  config.timeouts.session = 400ms;
  ProxyHarness h(config);
  SmtpTestClient c(h.port());
  ASSERT_EQ(c.ReadReply().code, 220);
  const TestReply r = c.ReadReply();
  EXPECT_EQ(r.code, 421);
  EXPECT_NE(r.text.find("session time limit exceeded"), std::string::npos) << r.text;
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ClientDeadline, AClientThatStopsReadingCannotPinTheSession) {
  // The client pipelines commands and never reads a reply: once the socket buffers are full
  // the proxy's write blocks, misses its deadline, and the session ends. Without a write
  // deadline it would wait for the 60 s session limit.
  proxy::ProxyConfig config = ProxyHarness::TestConfig();
  config.timeouts.idle = 300ms;
  config.timeouts.session = 60s;
  ProxyHarness h(config);
  h.sink().WantOnly({});
  SmtpTestClient c(h.port());
  ASSERT_EQ(c.ReadReply().code, 220);  // the session exists
  const int small = 4096;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::string burst;
  for (int i = 0; i < 4096; ++i) burst += "VRFY someone\r\n";  // ~75 octets of reply each
  std::thread writer([&] {
    // Blocks once the proxy stops reading; fails when the proxy closes.
    for (int i = 0; i < 64 && c.SendRaw(burst); ++i) {
    }
  });
  const bool ended = WaitNoSessions(h);
  ::shutdown(c.fd(), SHUT_RDWR);
  writer.join();
  EXPECT_TRUE(ended);
  EXPECT_EQ(h.server().metrics().timeouts.Value(), 1);
  // The write that missed its deadline is the last one: no 421 is attempted after it (that
  // write would block on the same full buffers and miss its deadline too, counting 2 here, and
  // cost a second idle timeout).
  EXPECT_EQ(h.server().metrics().write_timeouts.Value(), 1);
  EXPECT_TRUE(h.next_hop().WaitForQuitOrClose(1));
}

}  // namespace
}  // namespace smtpbridge::testing
