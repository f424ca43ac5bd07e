// The torture harness: the real smtpbridge-proxy binary, driven as a hostile or confused client
// would. Each case asserts the exact reply classes, that the proxy survives (a fresh session
// still gets its banner), and that the next hop received exactly what was accepted.
//
// The proxy's sink points at a dispatcher address where nothing listens, so every event takes
// the sink's fallback (continue): policy being down never stalls or breaks the dialogue.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "capture_smtp_server.h"
#include "smtp_test_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace smtpbridge::testing {
namespace {

constexpr const char* kProxyBinary = SMTPBRIDGE_PROXY_BIN;

class Torture : public ::testing::Test {
 protected:
  void StartProxy(const std::string& extra_yaml = "") {
    hop_.Start();
    const std::string yaml =
        "hostname: torture.test\n"
        "listen: 127.0.0.1:0\n"
        "next_hop: 127.0.0.1:" +
        std::to_string(hop_.port()) +
        "\n"
        "timeouts:\n  idle: 1500ms\n  next_hop_reply: 5s\n  next_hop_data: 5s\n"
        "limits:\n  max_errors: 100\n  max_recipients: 1000\n  max_message_size: 200000\n" +
        extra_yaml;
    const auto config = dir_.Write("proxy.yaml", yaml);
    const auto ready = dir_ / "ready";
    proxy_ = std::make_unique<Process>(
        std::vector<std::string>{kProxyBinary, "--config", config.string(), "--ready-file",
                                 ready.string(), "--dispatcher",
                                 "ipv4:127.0.0.1:" + std::to_string(FreeTcpPort()), "--log-level",
                                 "warn"},
        dir_ / "proxy.log");
    auto bound = proxy_->WaitForReadyFile(ready);
    ASSERT_TRUE(bound) << "proxy did not start";
    port_ = PortOf(*bound);
  }

  void TearDown() override {
    if (!proxy_) return;
    // The proxy survived whatever the case did: a fresh session is greeted.
    EXPECT_TRUE(proxy_->Running());
    SmtpTestClient probe(port_);
    EXPECT_EQ(probe.ReadReply().code, 220);
    probe.Command("QUIT");
    EXPECT_EQ(proxy_->Stop(), 0);
    hop_.Stop();
  }

  std::unique_ptr<SmtpTestClient> Greeted() {
    auto c = std::make_unique<SmtpTestClient>(port_);
    EXPECT_EQ(c->ReadReply().code, 220);
    EXPECT_EQ(c->Command("EHLO torture.client").code, 250);
    return c;
  }

  bool NextHopSaw(const std::string& needle) {
    for (const auto& line : hop_.commands()) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  TempDir dir_;
  CaptureSmtpServer hop_;
  std::unique_ptr<Process> proxy_;
  int port_ = 0;
};

TEST_F(Torture, CommandsBeforeEhlo) {
  StartProxy();
  SmtpTestClient c(port_);
  ASSERT_EQ(c.ReadReply().code, 220);
  EXPECT_EQ(c.Command("MAIL FROM:<a@example.com>").code, 503);
  EXPECT_EQ(c.Command("RCPT TO:<b@example.com>").code, 503);
  EXPECT_EQ(c.Command("DATA").code, 503);
  // The chunk's octets follow BDAT whatever the reply (RFC 3030): they are consumed, not parsed.
  c.SendRaw("BDAT 10 LAST\r\nRSET\r\nRSET");
  EXPECT_EQ(c.ReadReply().code, 503);
  EXPECT_EQ(c.Command("NOOP").code, 250);
  EXPECT_EQ(c.Command("EHLO torture.client").code, 250);
  EXPECT_EQ(c.Command("MAIL FROM:<a@example.com>").code, 250);
  EXPECT_EQ(c.Command("QUIT").code, 221);
  ASSERT_TRUE(hop_.WaitForQuitOrClose(1));
  const auto commands = hop_.commands();
  EXPECT_EQ(commands,
            (std::vector<std::string>{"EHLO torture.client", "MAIL FROM:<a@example.com>", "QUIT"}));
}

TEST_F(Torture, RcptBeforeMailAndDataBeforeRcpt) {
  StartProxy();
  auto c = Greeted();
  EXPECT_EQ(c->Command("RCPT TO:<b@example.com>").code, 503);
  EXPECT_EQ(c->Command("DATA").code, 503);
  EXPECT_EQ(c->Command("MAIL FROM:<a@example.com>").code, 250);
  EXPECT_EQ(c->Command("MAIL FROM:<a@example.com>").code, 503);  // nested
  EXPECT_EQ(c->Command("DATA").code, 554);                       // no valid recipients
  EXPECT_EQ(c->Command("QUIT").code, 221);
  ASSERT_TRUE(hop_.WaitForQuitOrClose(1));
  EXPECT_FALSE(NextHopSaw("RCPT"));
  EXPECT_FALSE(NextHopSaw("DATA"));
}

TEST_F(Torture, BareLfAndBareCrInCommands) {
  StartProxy();
  auto c = Greeted();
  c->SendRaw("NOOP\nMAIL FROM:<smuggled@example.com>\r\n");
  EXPECT_EQ(c->ReadReply().code, 500);
  c->SendRaw("NOOP\rRSET\r\n");
  EXPECT_EQ(c->ReadReply().code, 500);
  EXPECT_EQ(c->Command("NOOP").code, 250);
  EXPECT_FALSE(NextHopSaw("smuggled"));
}

TEST_F(Torture, BareLfInDataCannotSmuggleAMessage) {
  StartProxy();
  auto c = Greeted();
  ASSERT_EQ(c->Command("MAIL FROM:<a@example.com>").code, 250);
  ASSERT_EQ(c->Command("RCPT TO:<b@example.com>").code, 250);
  ASSERT_EQ(c->Command("DATA").code, 354);
  // SMTP smuggling: a "\n.\n" or "\r.\r" end-of-data that some servers accept, then a second
  // transaction. The proxy ends data only at CRLF.CRLF and refuses the bare line ends.
  c->SendRaw(
      "Subject: one\r\n\r\nbody\n.\nMAIL FROM:<smuggled@example.com>\nRCPT "
      "TO:<victim@example.com>\n"
      "DATA\nSubject: forged\r.\r\nbody\r\n.\r\n");
  EXPECT_EQ(c->ReadReply().code, 554);
  // The session goes on; a clean message is relayed.
  ASSERT_EQ(c->Command("MAIL FROM:<a@example.com>").code, 250);
  ASSERT_EQ(c->Command("RCPT TO:<b@example.com>").code, 250);
  ASSERT_EQ(c->Command("DATA").code, 354);
  c->SendRaw("Subject: clean\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(c->ReadReply().code, 250);
  EXPECT_EQ(c->Command("QUIT").code, 221);
  ASSERT_TRUE(hop_.WaitForQuitOrClose(1));
  const auto messages = hop_.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].data, "Subject: clean\r\n\r\nbody\r\n");
  EXPECT_FALSE(NextHopSaw("smuggled"));
  EXPECT_FALSE(NextHopSaw("victim"));
}

TEST_F(Torture, NulAndEightBitBytesInCommands) {
  StartProxy();
  auto c = Greeted();
  c->SendRaw(std::string("NOOP\0\r\n", 7));
  EXPECT_EQ(c->ReadReply().code, 500);
  c->SendRaw(std::string("MAIL FROM:<a\0b@example.com>\r\n", 29));
  EXPECT_EQ(c->ReadReply().code, 500);
  EXPECT_EQ(c->Command("MAIL FROM:<j\xc3\xb6rg@example.com>").code, 500);
  EXPECT_EQ(c->Command("\xff\xfe\xfd").code, 500);
  EXPECT_EQ(c->Command("MAIL FROM:<a@example.com>").code, 250);
  EXPECT_FALSE(NextHopSaw("rg@"));
}

TEST_F(Torture, TenThousandByteLines) {
  StartProxy();
  auto c = Greeted();
  TestReply r = c->Command("NOOP " + std::string(10000, 'x'));
  EXPECT_EQ(r.code, 500);
  EXPECT_NE(r.text.find("too long"), std::string::npos);
  EXPECT_EQ(c->Command("MAIL FROM:<" + std::string(10000, 'a') + "@example.com>").code, 500);
  EXPECT_EQ(c->Command("MAIL FROM:<a@example.com>").code, 250);
  EXPECT_EQ(c->Command("RCPT TO:<b@example.com>").code, 250);
  ASSERT_EQ(c->Command("DATA").code, 354);
  c->SendRaw("Subject: long\r\n\r\n" + std::string(10000, 'y') + "\r\n.\r\n");
  EXPECT_EQ(c->ReadReply().code, 554);
  EXPECT_EQ(c->Command("NOOP").code, 250);
  EXPECT_TRUE(hop_.messages().empty());
}

TEST_F(Torture, PipelinedBurstWithErrorsInTheMiddle) {
  StartProxy();
  auto c = Greeted();
  c->SendRaw(
      "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBOGUS\r\nRCPT TO:<>\r\n"
      "RCPT TO:<c@example.com> NOTIFY=NEVER\r\nRCPT TO:<d@example.com>\r\nDATA\r\n");
  EXPECT_EQ(c->ReadReply().code, 250);
  EXPECT_EQ(c->ReadReply().code, 250);
  EXPECT_EQ(c->ReadReply().code, 500);
  EXPECT_EQ(c->ReadReply().code, 501);
  EXPECT_EQ(c->ReadReply().code, 555);
  EXPECT_EQ(c->ReadReply().code, 250);
  EXPECT_EQ(c->ReadReply().code, 354);
  c->SendRaw("Subject: burst\r\n\r\n..\r\n.x\r\n\r\n.\r\nNOOP\r\nQUIT\r\n");
  EXPECT_EQ(c->ReadReply().code, 250);
  EXPECT_EQ(c->ReadReply().code, 250);
  EXPECT_EQ(c->ReadReply().code, 221);
  ASSERT_TRUE(hop_.WaitForQuitOrClose(1));
  const auto messages = hop_.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].recipients, (std::vector<std::string>{"b@example.com", "d@example.com"}));
  EXPECT_EQ(messages[0].data, "Subject: burst\r\n\r\n..\r\n.x\r\n\r\n");
  // A second burst into a closed window: everything after the bad line is still parsed.
}

TEST_F(Torture, DotStuffingPassesThroughExactly) {
  StartProxy();
  auto c = Greeted();
  ASSERT_EQ(c->Command("MAIL FROM:<a@example.com> BODY=8BITMIME").code, 250);
  ASSERT_EQ(c->Command("RCPT TO:<b@example.com>").code, 250);
  ASSERT_EQ(c->Command("DATA").code, 354);
  const std::string body =
      "Subject: dots\r\n\r\n..\r\n...\r\n..leading\r\n \r\n\t.\r\n8bit: \xe2\x82\xac\r\n";
  c->SendRaw(body + ".\r\n");
  EXPECT_EQ(c->ReadReply().code, 250);
  const auto messages = hop_.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].data, body);
}

TEST_F(Torture, AThousandRecipients) {
  StartProxy();
  auto c = Greeted();
  std::string burst = "MAIL FROM:<a@example.com>\r\n";
  for (int i = 0; i < 1001; ++i) burst += "RCPT TO:<r" + std::to_string(i) + "@example.com>\r\n";
  c->SendRaw(burst);
  EXPECT_EQ(c->ReadReply().code, 250);
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) accepted += c->ReadReply().code == 250;
  EXPECT_EQ(accepted, 1000);
  EXPECT_EQ(c->ReadReply().code, 452);  // the 1001st: too many recipients
  ASSERT_EQ(c->Command("DATA").code, 354);
  c->SendRaw("Subject: many\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(c->ReadReply().code, 250);
  const auto messages = hop_.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].recipients.size(), 1000u);
}

TEST_F(Torture, UnterminatedDataThenDisconnect) {
  StartProxy();
  {
    auto c = Greeted();
    ASSERT_EQ(c->Command("MAIL FROM:<a@example.com>").code, 250);
    ASSERT_EQ(c->Command("RCPT TO:<b@example.com>").code, 250);
    ASSERT_EQ(c->Command("DATA").code, 354);
    c->SendRaw("Subject: cut\r\n\r\nhalf a message\r\n.");
  }  // disconnect
  ASSERT_TRUE(hop_.WaitForQuitOrClose(1));
  EXPECT_TRUE(hop_.messages().empty());
  EXPECT_FALSE(NextHopSaw("DATA"));
}

TEST_F(Torture, OneByteASecondClientTimesOut) {
  StartProxy();  // idle 1.5 s: a command line must arrive within it
  SmtpTestClient c(port_);
  ASSERT_EQ(c.ReadReply().code, 220);
  const std::string line = "EHLO slow.client\r\n";
  TestReply r;
  for (size_t i = 0; i < line.size(); ++i) {
    if (!c.SendRaw(line.substr(i, 1))) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (i >= 2) break;  // the deadline has passed by now
  }
  r = c.ReadReply();
  EXPECT_EQ(r.code, 421);
  EXPECT_NE(r.text.find("timeout"), std::string::npos);
  EXPECT_TRUE(c.WaitClosed());
  ASSERT_TRUE(hop_.WaitForQuitOrClose(1));
  EXPECT_FALSE(NextHopSaw("EHLO slow"));
}

TEST_F(Torture, RsetInTheMiddleOfATransaction) {
  StartProxy();
  auto c = Greeted();
  ASSERT_EQ(c->Command("MAIL FROM:<first@example.com>").code, 250);
  ASSERT_EQ(c->Command("RCPT TO:<dropped@example.com>").code, 250);
  EXPECT_EQ(c->Command("RSET").code, 250);
  EXPECT_EQ(c->Command("DATA").code, 503);
  EXPECT_EQ(c->Command("RCPT TO:<x@example.com>").code, 503);
  ASSERT_EQ(c->Command("MAIL FROM:<second@example.com>").code, 250);
  ASSERT_EQ(c->Command("RCPT TO:<kept@example.com>").code, 250);
  ASSERT_EQ(c->Command("DATA").code, 354);
  c->SendRaw("Subject: after rset\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(c->ReadReply().code, 250);
  const auto messages = hop_.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].sender, "second@example.com");
  EXPECT_EQ(messages[0].recipients, std::vector<std::string>{"kept@example.com"});
  EXPECT_TRUE(NextHopSaw("RSET"));
}

TEST_F(Torture, LowerCaseAndOddSpacing) {
  StartProxy();
  SmtpTestClient c(port_);
  ASSERT_EQ(c.ReadReply().code, 220);
  EXPECT_EQ(c.Command("ehlo    torture.client   ").code, 250);
  EXPECT_EQ(c.Command("mail from: <a@example.com>").code, 250);
  EXPECT_EQ(c.Command("RcPt To:<b@example.com>   ").code, 250);
  EXPECT_EQ(c.Command("  noop").code, 250);
  EXPECT_EQ(c.Command("data").code, 354);
  c.SendRaw("Subject: x\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(c.ReadReply().code, 250);
  EXPECT_EQ(c.Command("quit").code, 221);
  ASSERT_TRUE(hop_.WaitForQuitOrClose(1));
  const auto commands = hop_.commands();
  // The next hop gets canonical commands rebuilt from what the proxy parsed.
  EXPECT_NE(std::find(commands.begin(), commands.end(), "MAIL FROM:<a@example.com>"),
            commands.end());
  EXPECT_NE(std::find(commands.begin(), commands.end(), "RCPT TO:<b@example.com>"), commands.end());
}

TEST_F(Torture, AuthMisuse) {
  StartProxy();
  SmtpTestClient c(port_);
  ASSERT_EQ(c.ReadReply().code, 220);
  EXPECT_EQ(c.Command("AUTH PLAIN AGFsaWNlAHNlY3JldA==").code, 503);  // before EHLO
  EXPECT_EQ(c.Command("EHLO torture.client").code, 250);
  EXPECT_EQ(c.Command("AUTH").code, 501);
  EXPECT_EQ(c.Command("AUTH PLAIN AGFsaWNlAHNlY3JldA==").code, 502);  // not offered
  EXPECT_EQ(c.Command("AGFsaWNlAHNlY3JldA==").code, 500);             // a stray SASL response
  EXPECT_EQ(c.Command("MAIL FROM:<a@example.com>").code, 250);
  EXPECT_EQ(c.Command("AUTH LOGIN").code, 503);  // inside a transaction
  EXPECT_FALSE(NextHopSaw("AUTH"));
  EXPECT_FALSE(NextHopSaw("AGFsaWNl"));
}

TEST_F(Torture, StartTlsWithoutTlsConfigured) {
  StartProxy();
  auto c = Greeted();
  EXPECT_EQ(c->Command("STARTTLS").code, 502);
  EXPECT_EQ(c->Command("STARTTLS now").code, 501);
  EXPECT_EQ(c->Command("NOOP").code, 250);
  EXPECT_FALSE(NextHopSaw("STARTTLS"));
}

TEST_F(Torture, TooManyErrorsCloseTheSession) {
  StartProxy();
  auto c = Greeted();
  std::string burst;
  for (int i = 0; i < 150; ++i) burst += "BOGUS\r\n";
  c->SendRaw(burst);
  int errors = 0;
  TestReply r;
  for (int i = 0; i < 150; ++i) {
    r = c->ReadReply();
    if (r.code != 500) break;
    ++errors;
  }
  EXPECT_EQ(errors, 100);
  EXPECT_EQ(r.code, 421);
  EXPECT_TRUE(c->WaitClosed());
}

TEST_F(Torture, MessageSizeLimits) {
  StartProxy();
  auto c = Greeted();
  EXPECT_EQ(c->Command("MAIL FROM:<a@example.com> SIZE=999999999").code, 552);
  ASSERT_EQ(c->Command("MAIL FROM:<a@example.com>").code, 250);
  ASSERT_EQ(c->Command("RCPT TO:<b@example.com>").code, 250);
  ASSERT_EQ(c->Command("DATA").code, 354);
  std::string big = "Subject: big\r\n\r\n";
  while (big.size() < 300000) big += std::string(900, 'z') + "\r\n";
  c->SendRaw(big + ".\r\n");
  EXPECT_EQ(c->ReadReply().code, 552);
  EXPECT_TRUE(hop_.messages().empty());
}

// --- STARTTLS with TLS configured ---------------------------------------------------------

class TortureTls : public Torture {
 protected:
  void SetUp() override {
    const auto cert = dir_ / "cert.pem";
    const auto key = dir_ / "key.pem";
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=torture.test -keyout " +
        key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl command not available";
    StartProxy("tls:\n  cert: " + cert.string() + "\n  key: " + key.string() + "\n");
  }

  // A TLS client on an already-connected socket after "220 Ready to start TLS".
  struct Tls {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    ~Tls() {
      if (ssl) SSL_free(ssl);
      if (ctx) SSL_CTX_free(ctx);
    }
    bool Handshake(int fd) {
      ctx = SSL_CTX_new(TLS_client_method());
      ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      return SSL_connect(ssl) == 1;
    }
    std::string Command(const std::string& line) {
      const std::string bytes = line + "\r\n";
      SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size()));
      std::string reply;
      char buf[4096];
      while (true) {
        const int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) return reply;
        reply.append(buf, static_cast<size_t>(n));
        // Complete when the last line has "NNN " form.
        const size_t last = reply.rfind("\r\n", reply.size() - 3);
        const std::string tail = last == std::string::npos ? reply : reply.substr(last + 2);
        if (reply.size() >= 2 && reply.ends_with("\r\n") && tail.size() >= 4 && tail[3] == ' ')
          return reply;
      }
    }
  };
};

TEST_F(TortureTls, MisuseIsRefused) {
  SmtpTestClient c(port_);
  ASSERT_EQ(c.ReadReply().code, 220);
  EXPECT_EQ(c.Command("STARTTLS").code, 503);  // before EHLO
  TestReply ehlo = c.Command("EHLO torture.client");
  EXPECT_NE(ehlo.text.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(c.Command("STARTTLS x").code, 501);
  EXPECT_EQ(c.Command("MAIL FROM:<a@example.com>").code, 250);
  EXPECT_EQ(c.Command("STARTTLS").code, 503);  // inside a transaction
  EXPECT_EQ(c.Command("RSET").code, 250);
  // Garbage instead of a TLS handshake: the proxy closes this session and lives on.
  ASSERT_EQ(c.Command("STARTTLS").code, 220);
  c.SendRaw("this is not a TLS ClientHello\r\n\r\n");
  EXPECT_TRUE(c.WaitClosed());
  // The same close as any other client failure: the next hop's session ends with QUIT.
  ASSERT_TRUE(hop_.WaitForQuitOrClose(1));
  EXPECT_TRUE(NextHopSaw("QUIT"));
}

TEST_F(TortureTls, PlaintextPipelinedAfterStartTlsIsDiscarded) {
  SmtpTestClient c(port_);
  ASSERT_EQ(c.ReadReply().code, 220);
  ASSERT_EQ(c.Command("EHLO torture.client").code, 250);
  // CVE-2011-0411 style injection: commands in the same packet as STARTTLS.
  c.SendRaw("STARTTLS\r\nMAIL FROM:<injected@example.com>\r\nRCPT TO:<victim@example.com>\r\n");
  ASSERT_EQ(c.ReadReply().code, 220);
  Tls tls;
  ASSERT_TRUE(tls.Handshake(c.fd()));
  const std::string ehlo = tls.Command("EHLO torture.client");
  EXPECT_EQ(ehlo.substr(0, 3), "250");
  EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos);                         // not offered twice
  EXPECT_EQ(tls.Command("RCPT TO:<victim@example.com>").substr(0, 3), "503");  // no MAIL was taken
  EXPECT_EQ(tls.Command("STARTTLS").substr(0, 3), "503");
  EXPECT_EQ(tls.Command("MAIL FROM:<a@example.com>").substr(0, 3), "250");
  EXPECT_EQ(tls.Command("RCPT TO:<b@example.com>").substr(0, 3), "250");
  EXPECT_EQ(tls.Command("DATA").substr(0, 3), "354");
  EXPECT_EQ(tls.Command("Subject: tls\r\n\r\nbody\r\n.").substr(0, 3), "250");
  EXPECT_EQ(tls.Command("QUIT").substr(0, 3), "221");
  ASSERT_TRUE(hop_.WaitForQuitOrClose(1));
  EXPECT_FALSE(NextHopSaw("injected"));
  EXPECT_FALSE(NextHopSaw("victim"));
  ASSERT_EQ(hop_.messages().size(), 1u);
}

}  // namespace
}  // namespace smtpbridge::testing
