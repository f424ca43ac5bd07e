// The proxy between real SMTP peers: swaks as the client, Postfix's smtp-sink (with injected
// faults) or a throwaway Postfix as the next hop, and the real dispatcher + example worker as
// the policy. Each test skips when its tool is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "support/process.h"
#include "support/temp_dir.h"

namespace smtpbridge::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kProxyBinary = SMTPBRIDGE_PROXY_BIN;
constexpr const char* kDispatcherBinary = SMTPBRIDGE_DISPATCHER_BIN;
constexpr const char* kWorkerBinary = SMTPBRIDGE_WORKER_BIN;
constexpr const char* kSwaks = "/usr/bin/swaks";
constexpr const char* kSmtpSink = "/usr/sbin/smtp-sink";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every file under `dir`, concatenated (smtp-sink's -d dumps, one file per message).
std::string ReadTree(const fs::path& dir) {
  std::string all;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    if (entry.is_regular_file()) all += ReadFile(entry.path());
  }
  return all;
}

class RealPeers : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kSwaks)) GTEST_SKIP() << "swaks not installed";
    if (!fs::exists(kSmtpSink)) GTEST_SKIP() << "smtp-sink (postfix) not installed";
    fs::permissions(dir_.path(), fs::perms::all);  // smtp-sink drops to nobody and dumps here
  }

  // smtp-sink on a free port with `options`; dumps messages under dir_/dump.
  void StartSmtpSink(std::vector<std::string> options) {
    sink_port_ = FreeTcpPort();
    std::vector<std::string> argv{kSmtpSink};
    if (::geteuid() == 0) {
      argv.push_back("-u");
      argv.push_back("nobody");
    }
    argv.push_back("-d");
    argv.push_back((dir_ / "dump" / "%H%M%S.").string());
    for (auto& o : options) argv.push_back(o);
    argv.push_back("127.0.0.1:" + std::to_string(sink_port_));
    argv.push_back("64");
    fs::create_directories(dir_ / "dump");
    fs::permissions(dir_ / "dump", fs::perms::all);
    smtp_sink_ = std::make_unique<Process>(argv, dir_ / "smtp-sink.log");
    ASSERT_TRUE(WaitForTcp("127.0.0.1", sink_port_)) << ReadFile(dir_ / "smtp-sink.log");
  }

  void StartProxy(int next_hop_port, const std::string& dispatcher,
                  const std::string& extra_yaml = "") {
    // `extra_yaml` may replace the default timeouts section.
    const std::string timeouts =
        extra_yaml.find("timeouts:") == std::string::npos
            ? "timeouts:\n  idle: 10s\n  next_hop_reply: 3s\n  next_hop_data: 3s\n"
            : "";
    const auto config = dir_.Write("proxy.yaml", "hostname: proxy.test\n" + timeouts + extra_yaml);
    const auto ready = dir_ / "proxy.ready";
    proxy_ = std::make_unique<Process>(
        std::vector<std::string>{kProxyBinary, "--listen", "127.0.0.1:0", "--next-hop",
                                 "127.0.0.1:" + std::to_string(next_hop_port), "--dispatcher",
                                 dispatcher, "--config", config.string(), "--ready-file",
                                 ready.string(), "--log-level", "info"},
        dir_ / "proxy.log");
    auto bound = proxy_->WaitForReadyFile(ready);
    ASSERT_TRUE(bound) << ReadFile(dir_ / "proxy.log");
    proxy_port_ = PortOf(*bound);
  }

  std::string DeadDispatcher() { return "ipv4:127.0.0.1:" + std::to_string(FreeTcpPort()); }

  // Runs swaks against the proxy; returns its transcript. `status` gets the exit status.
  std::string Swaks(std::vector<std::string> args, int* status) {
    const auto log = dir_ / ("swaks" + std::to_string(++swaks_runs_) + ".log");
    std::vector<std::string> argv{
        kSwaks,   "--server",         "127.0.0.1:" + std::to_string(proxy_port_), "--timeout", "15",
        "--from", "alice@example.com"};
    for (auto& a : args) argv.push_back(a);
    Process swaks(argv, log);
    auto exit = swaks.Wait(std::chrono::seconds(30));
    *status = exit ? *exit : -1;
    return ReadFile(log);
  }

  void TearDown() override {
    if (proxy_) {
      EXPECT_TRUE(proxy_->Running()) << "the proxy died:\n" << ReadFile(dir_ / "proxy.log");
      EXPECT_EQ(proxy_->Stop(), 0);
    }
  }

  TempDir dir_;
  std::unique_ptr<Process> smtp_sink_;
  std::unique_ptr<Process> proxy_;
  int sink_port_ = 0;
  int proxy_port_ = 0;
  int swaks_runs_ = 0;
};

TEST_F(RealPeers, SwaksThroughTheProxyToSmtpSink) {
  StartSmtpSink({});
  StartProxy(sink_port_, DeadDispatcher());
  int status = -1;
  const std::string out = Swaks({"--to", "bob@example.net", "--header", "Subject: via proxy",
                                 "--body", "line one\n.leading dot\nline three", "--pipeline"},
                                &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("<-  250 2.0.0 Ok"), std::string::npos) << out;
  smtp_sink_->Stop();
  const std::string dump = ReadTree(dir_ / "dump");
  EXPECT_NE(dump.find("Subject: via proxy"), std::string::npos) << dump;
  EXPECT_NE(dump.find(".leading dot"), std::string::npos) << dump;
}

TEST_F(RealPeers, HardRejectOfRcptIsRelayed) {
  StartSmtpSink({"-f", "RCPT"});
  StartProxy(sink_port_, DeadDispatcher());
  int status = -1;
  const std::string out = Swaks({"--to", "bob@example.net"}, &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("<** 5"), std::string::npos) << out;
}

TEST_F(RealPeers, SoftRejectAtEndOfDataIsRelayedAs4xx) {
  StartSmtpSink({"-r", "."});
  StartProxy(sink_port_, DeadDispatcher());
  int status = -1;
  const std::string out = Swaks({"--to", "bob@example.net"}, &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("<** 4"), std::string::npos) << out;
  EXPECT_EQ(out.find("<~  250 2.0.0 Ok: queued"), std::string::npos) << out;
}

TEST_F(RealPeers, NextHopDisconnectAtEndOfDataGives4xx) {
  StartSmtpSink({"-q", "."});
  StartProxy(sink_port_, DeadDispatcher());
  int status = -1;
  const std::string out = Swaks({"--to", "bob@example.net"}, &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("<** 421"), std::string::npos) << out;
}

TEST_F(RealPeers, NextHop421AtMailIsRelayed) {
  StartSmtpSink({"-Q", "MAIL"});
  StartProxy(sink_port_, DeadDispatcher());
  int status = -1;
  const std::string out = Swaks({"--to", "bob@example.net"}, &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("<** 421"), std::string::npos) << out;
}

TEST_F(RealPeers, SlowNextHopPastTheReplyTimeoutGives4xx) {
  StartSmtpSink({"-w", "3"});  // waits 3 s before answering DATA
  StartProxy(sink_port_, DeadDispatcher(), "timeouts:\n  next_hop_reply: 1s\n");
  int status = -1;
  const std::string out = Swaks({"--to", "bob@example.net"}, &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("<** 421"), std::string::npos) << out;
}

// The whole path: swaks -> proxy -> smtp-sink, with the dispatcher and the C++ example worker
// rejecting RCPT to blocked@... and adding a header at _EOD.
TEST_F(RealPeers, DispatcherAndWorkerPolicyIsApplied) {
  if (std::string(kDispatcherBinary).empty() || std::string(kWorkerBinary).empty()) {
    GTEST_SKIP() << "dispatcher or example worker not built";
  }
  StartSmtpSink({});
  const auto worker_ready = dir_ / "worker.ready";
  Process worker({kWorkerBinary, "--listen", "127.0.0.1:0", "--ready-file", worker_ready.string(),
                  "--reject-rcpt", "blocked@*", "--add-header", "X-Policy: checked"},
                 dir_ / "worker.log");
  auto worker_at = worker.WaitForReadyFile(worker_ready);
  ASSERT_TRUE(worker_at) << ReadFile(dir_ / "worker.log");
  const auto bindings = dir_.Write("bindings.yaml",
                                   "bindings:\n"
                                   "  - name: reject-blocked\n"
                                   "    event: INBOUND_COMMAND\n"
                                   "    rule: RCPT\n"
                                   "    sink: ipv4:" +
                                       *worker_at +
                                       "\n"
                                       "    timeout: 500ms\n"
                                       "  - name: tag-message\n"
                                       "    event: INBOUND_COMMAND\n"
                                       "    rule: _EOD\n"
                                       "    sink: ipv4:" +
                                       *worker_at +
                                       "\n"
                                       "    timeout: 500ms\n");
  const auto dispatcher_ready = dir_ / "dispatcher.ready";
  Process dispatcher({kDispatcherBinary, "--listen", "127.0.0.1:0", "--bindings", bindings.string(),
                      "--ready-file", dispatcher_ready.string()},
                     dir_ / "dispatcher.log");
  auto dispatcher_at = dispatcher.WaitForReadyFile(dispatcher_ready);
  ASSERT_TRUE(dispatcher_at) << ReadFile(dir_ / "dispatcher.log");
  // Generous budgets: this checks the policy is applied, not its speed on a loaded CI box.
  StartProxy(sink_port_, "ipv4:" + *dispatcher_at, "budgets:\n  default: 500ms\n  _EOD: 1s\n");

  int status = -1;
  std::string out = Swaks({"--to", "blocked@example.net"}, &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("<** 550"), std::string::npos) << out;

  out = Swaks({"--to", "bob@example.net", "--header", "Subject: policy"}, &status);
  EXPECT_EQ(status, 0) << out << ReadFile(dir_ / "proxy.log");
  smtp_sink_->Stop();
  const std::string dump = ReadTree(dir_ / "dump");
  EXPECT_NE(dump.find("X-Policy: checked"), std::string::npos) << dump;
  EXPECT_NE(dump.find("Subject: policy"), std::string::npos) << dump;
  EXPECT_EQ(dump.find("blocked@example.net"), std::string::npos) << dump;
}

}  // namespace
}  // namespace smtpbridge::testing
