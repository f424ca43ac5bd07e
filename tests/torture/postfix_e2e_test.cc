// End to end with a real Postfix as the next hop: swaks -> smtpbridge-proxy -> a throwaway
// Postfix instance (own config_directory, queue and data directories under a temp dir, one inet
// smtpd on a free port). Postfix puts every message it accepts on hold, so the test reads the
// queued message back with postcat and checks what arrived, byte-level headers included.
// Needs root (Postfix's directories belong to the postfix user) and postfix + swaks.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/process.h"
#include "support/temp_dir.h"

namespace smtpbridge::testing {
namespace {

namespace fs = std::filesystem;
constexpr const char* kProxyBinary = SMTPBRIDGE_PROXY_BIN;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Postfix tools only print to stderr on a tty; `script` gives them one. Returns the output.
std::string RunTty(const std::string& command, const fs::path& out) {
  const std::string line =
      "timeout 60 script -qc '" + command + "' /dev/null > " + out.string() + " 2>&1";
  (void)std::system(line.c_str());
  return ReadFile(out);
}

class PostfixNextHop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "a throwaway Postfix instance needs root";
    for (const char* tool :
         {"/usr/sbin/postfix", "/usr/sbin/postcat", "/usr/sbin/postqueue", "/usr/bin/swaks",
          "/usr/bin/script", "/usr/share/postfix/master.cf.dist"}) {
      if (!fs::exists(tool)) GTEST_SKIP() << tool << " not installed";
    }
    const passwd* pw = ::getpwnam("postfix");
    if (pw == nullptr) GTEST_SKIP() << "no postfix user";
    root_ = dir_.path();
    fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
    fs::create_directories(root_ / "etc");
    fs::create_directories(root_ / "spool");
    fs::create_directories(root_ / "data");
    ASSERT_EQ(::chown((root_ / "data").c_str(), pw->pw_uid, pw->pw_gid), 0);
    port_ = FreeTcpPort();
    const std::string r = root_.string();
    dir_.Write(
        "etc/main.cf",
        "compatibility_level = 3.6\n"
        "queue_directory = " +
            r +
            "/spool\n"
            "data_directory = " +
            r +
            "/data\n"
            "mail_owner = postfix\nsetgid_group = postdrop\n"
            "myhostname = nexthop.test\nmydomain = nexthop.test\nmyorigin = nexthop.test\n"
            "mydestination =\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
            "mynetworks = 127.0.0.0/8\nrelay_domains = example.net\n"
            "smtpd_relay_restrictions = reject_unauth_destination\nsmtpd_recipient_restrictions =\n"
            "smtpd_end_of_data_restrictions = check_client_access inline:{ 127.0.0.1=HOLD }\n"
            "maillog_file_prefixes = " +
            r + "\nmaillog_file = " + r +
            "/maillog\n"
            "biff = no\nalias_maps =\nalias_database =\n");
    // The distribution's master.cf, unchrooted, with smtpd on our port.
    const std::string awk =
        "awk -v port=" + std::to_string(port_) +
        " 'BEGIN{OFS=\"  \"} /^smtp +inet/ {print \"127.0.0.1:\" port, \"inet\", \"n\", \"-\", "
        "\"n\", \"-\", \"-\", \"smtpd\"; next} /^[a-z]/ && NF>=8 {$5=\"n\"} {print}' "
        "/usr/share/postfix/master.cf.dist > " +
        r + "/etc/master.cf";
    ASSERT_EQ(std::system(awk.c_str()), 0);
    const std::string started = RunTty("postfix -c " + r + "/etc start", root_ / "start.out");
    started_ = true;
    ASSERT_TRUE(WaitForTcp("127.0.0.1", port_, std::chrono::seconds(20)))
        << started << ReadFile(root_ / "maillog");
  }

  void TearDown() override {
    if (proxy_) {
      EXPECT_EQ(proxy_->Stop(), 0);
    }
    if (started_) RunTty("postfix -c " + root_.string() + "/etc stop", root_ / "stop.out");
  }

  // Queue ids of held messages, from postqueue -j (bounded wait for the first).
  std::vector<std::string> HeldIds() {
    std::vector<std::string> ids;
    for (int i = 0; i < 100 && ids.empty(); ++i) {
      const std::string json =
          RunTty("postqueue -c " + root_.string() + "/etc -j", root_ / "queue.out");
      const std::regex id_re("\"queue_id\": \"([0-9A-Za-z]+)\"");
      for (std::sregex_iterator it(json.begin(), json.end(), id_re), end; it != end; ++it)
        ids.push_back((*it)[1]);
      if (ids.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return ids;
  }

  TempDir dir_;
  fs::path root_;
  int port_ = 0;
  bool started_ = false;
  std::unique_ptr<Process> proxy_;
};

TEST_F(PostfixNextHop, MessageArrivesThroughTheProxy) {
  const auto ready = root_ / "proxy.ready";
  proxy_ = std::make_unique<Process>(
      std::vector<std::string>{kProxyBinary, "--listen", "127.0.0.1:0", "--next-hop",
                               "127.0.0.1:" + std::to_string(port_), "--dispatcher",
                               "ipv4:127.0.0.1:" + std::to_string(FreeTcpPort()), "--ready-file",
                               ready.string()},
      root_ / "proxy.log");
  auto bound = proxy_->WaitForReadyFile(ready);
  ASSERT_TRUE(bound) << ReadFile(root_ / "proxy.log");

  Process swaks({"/usr/bin/swaks", "--server", *bound, "--from", "alice@example.com", "--to",
                 "bob@example.net", "--header", "Subject: through the proxy", "--header",
                 "X-Marker: e2e-7f3a", "--body", "first line\n.dot line\nlast line", "--pipeline",
                 "--timeout", "20"},
                root_ / "swaks.log");
  auto status = swaks.Wait(std::chrono::seconds(40));
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << ReadFile(root_ / "swaks.log") << ReadFile(root_ / "maillog");

  const auto ids = HeldIds();
  ASSERT_EQ(ids.size(), 1u) << ReadFile(root_ / "maillog");
  const std::string message =
      RunTty("postcat -c " + root_.string() + "/etc -bhq " + ids[0], root_ / "postcat.out");
  EXPECT_NE(message.find("X-Marker: e2e-7f3a"), std::string::npos) << message;
  EXPECT_NE(message.find("Subject: through the proxy"), std::string::npos) << message;
  EXPECT_NE(message.find("\n.dot line"), std::string::npos)
      << message;  // unstuffed by Postfix: exact
  const std::string log = ReadFile(root_ / "maillog");
  EXPECT_NE(log.find("from=<alice@example.com> to=<bob@example.net>"), std::string::npos) << log;
}

TEST_F(PostfixNextHop, PostfixRefusalsReachTheClient) {
  const auto ready = root_ / "proxy.ready";
  proxy_ = std::make_unique<Process>(
      std::vector<std::string>{kProxyBinary, "--listen", "127.0.0.1:0", "--next-hop",
                               "127.0.0.1:" + std::to_string(port_), "--dispatcher",
                               "ipv4:127.0.0.1:" + std::to_string(FreeTcpPort()), "--ready-file",
                               ready.string()},
      root_ / "proxy.log");
  auto bound = proxy_->WaitForReadyFile(ready);
  ASSERT_TRUE(bound);
  // Postfix relays only for example.net: another domain gets its 554 relay-access refusal.
  Process swaks({"/usr/bin/swaks", "--server", *bound, "--from", "alice@example.com", "--to",
                 "bob@elsewhere.org", "--timeout", "20"},
                root_ / "swaks.log");
  auto status = swaks.Wait(std::chrono::seconds(40));
  ASSERT_TRUE(status);
  EXPECT_NE(*status, 0);
  const std::string out = ReadFile(root_ / "swaks.log");
  EXPECT_NE(out.find("<** 554 5.7.1"), std::string::npos) << out;
}

}  // namespace
}  // namespace smtpbridge::testing
