// bridgectl's set and logs verbs through the binary: set changes a binding's own fields in place
// (validated like every edit), logs pretty-prints decision and fallback lines, --follow keeps
// printing what is appended.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bindings/loader.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace smtpbridge::dispatcher {
namespace {

using smtpbridge::testing::Process;
using ::testing::HasSubstr;

std::string Ctl() {
  const char* dir = std::getenv("SMTPBRIDGE_DISPATCHER_BIN_DIR");
  return dir ? std::string(dir) + "/bridgectl" : "";
}

std::string Read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int RunCtl(std::vector<std::string> argv, const std::filesystem::path& log) {
  Process p(std::move(argv), log);
  const auto status = p.Wait(std::chrono::seconds(20));
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

TEST(BridgectlSet, ChangesRulePriorityTimeoutAndSinkInPlace) {
  ASSERT_FALSE(Ctl().empty()) << "SMTPBRIDGE_DISPATCHER_BIN_DIR not set";
  smtpbridge::testing::TempDir dir;
  const auto file = dir.Write(
      "bindings.yaml",
      "bindings:\n  - {name: a, event: INBOUND_COMMAND, rule: RCPT, sink: \"ipv4:127.0.0.1:1\"}\n");
  ASSERT_EQ(RunCtl({Ctl(), "--file", file.string(), "set", "a", "--rule", "MAIL FROM=*@example.com",
                    "--priority", "PRIO_HIGH", "--timeout", "75ms", "--sink", "ipv4:127.0.0.1:2"},
                   dir / "set.log"),
            0)
      << Read(dir / "set.log");
  const auto loaded = LoadBindingsFile(file.string());
  ASSERT_TRUE(loaded.ok()) << ::testing::PrintToString(loaded.errors);
  const auto& b = loaded.set->bindings()[0].proto;
  EXPECT_EQ(b.rule(), "MAIL FROM=*@example.com");
  EXPECT_EQ(b.priority(), 8191u);
  EXPECT_EQ(b.sink(), "ipv4:127.0.0.1:2");
  EXPECT_EQ(loaded.set->bindings()[0].timeout, std::chrono::milliseconds(75));

  // An invalid value is refused with the loader's error and the file stays as it was.
  const std::string before = Read(file);
  EXPECT_EQ(RunCtl({Ctl(), "--file", file.string(), "set", "a", "--timeout", "5 parsecs"},
                   dir / "bad.log"),
            2);
  EXPECT_THAT(Read(dir / "bad.log"), HasSubstr("timeout"));
  EXPECT_EQ(Read(file), before);
  EXPECT_EQ(RunCtl({Ctl(), "--file", file.string(), "set", "missing", "--rule", "RCPT"},
                   dir / "missing.log"),
            2);
  EXPECT_EQ(RunCtl({Ctl(), "--file", file.string(), "set", "a"}, dir / "none.log"), 2);
}

const char* kDecision =
    R"({"ts":"2026-12-06T00:10:00.000001Z","kind":"decision","event_id":"ev-1","session_id":"s-1",)"
    R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","instance":1,"event":"INBOUND_COMMAND","keyword":"RCPT",)"
    R"("bindings":[{"name":"block","outcome":"answered","verdict":"reject","latency_us":212}],)"
    R"("verdict":{"action":"reject","code":550,"enhanced_code":"5.7.1"},"decided_by":"block","source":"worker","latency_us":305})";
const char* kFallback =
    R"({"ts":"2026-12-06T00:10:01.000001Z","kind":"fallback","event_id":"ev-2","session_id":"s-1",)"
    R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","keyword":"RCPT","reason":"unavailable","source":"default","budget_us":200000})";

TEST(BridgectlLogs, PrettyPrintsDecisionAndFallbackLines) {
  ASSERT_FALSE(Ctl().empty());
  smtpbridge::testing::TempDir dir;
  const auto log =
      dir.Write("decisions.log", std::string(kDecision) + "\n" + kFallback + "\nnot json\n");
  ASSERT_EQ(RunCtl({Ctl(), "logs", log.string()}, dir / "out"), 0);
  const std::string out = Read(dir / "out");
  EXPECT_THAT(out, HasSubstr("ev-1 RCPT reject 550 5.7.1 by block (worker) 305us"));
  EXPECT_THAT(
      out,
      HasSubstr(
          "trace=4bf92f3577b34da6a3ce929d0e0e4736 session=s-1  [block answered reject 212us]"));
  EXPECT_THAT(out, HasSubstr("ev-2 RCPT FALLBACK unavailable -> default (budget 200000us)"));
  EXPECT_THAT(out, HasSubstr("? not json"));
}

TEST(BridgectlLogs, FollowPrintsLinesAppendedLater) {
  ASSERT_FALSE(Ctl().empty());
  smtpbridge::testing::TempDir dir;
  const auto log = dir.Write("decisions.log", "");
  Process follow({Ctl(), "logs", "--follow", log.string()}, dir / "out");
  std::ofstream(log, std::ios::app) << kDecision << "\n";
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    seen = Read(dir / "out").find("by block (worker)") != std::string::npos;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(seen) << Read(dir / "out");
  const int status = follow.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace smtpbridge::dispatcher

namespace smtpbridge::dispatcher {
namespace {

// --log-format json: every line the dispatcher logs is one JSON object with the message escaped.
TEST(LogFormat, DispatcherWritesOneJsonObjectPerLine) {
  const char* bin_dir = std::getenv("SMTPBRIDGE_DISPATCHER_BIN_DIR");
  ASSERT_TRUE(bin_dir);
  smtpbridge::testing::TempDir dir;
  const auto bindings = dir.Write("bindings.yaml", "bindings: []\n");
  Process p(
      {std::string(bin_dir) + "/smtpbridge-dispatcher", "--listen", "127.0.0.1:0", "--bindings",
       bindings.string(), "--ready-file", (dir / "ready").string(), "--log-format", "json"},
      dir / "log");
  ASSERT_TRUE(p.WaitForReadyFile(dir / "ready")) << Read(dir / "log");
  const int status = p.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::ifstream in(dir / "log");
  int lines = 0;
  bool listening = false;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '{') continue;  // gRPC's own stderr lines are not ours
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg")) << line;
    listening = listening ||
                j["msg"].get<std::string>().find("dispatcher listening on") != std::string::npos;
    ++lines;
  }
  EXPECT_GE(lines, 2);
  EXPECT_TRUE(listening) << Read(dir / "log");
}

}  // namespace
}  // namespace smtpbridge::dispatcher
