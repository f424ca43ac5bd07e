// The smtpbridge-dispatcher binary as operators run it: refuses bad bindings with exit code 2,
// writes its ready file on port 0, reloads on SIGHUP, exits 0 on SIGTERM; bridgectl talks to it.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace smtpbridge::dispatcher {
namespace {

using smtpbridge::testing::Process;
using smtpbridge::testing::TempDir;
using ::testing::HasSubstr;

// The binaries sit together in the build's bin/ directory, which ctest passes in.
std::string Binary(const char* name) {
  const char* dir = std::getenv("SMTPBRIDGE_DISPATCHER_BIN_DIR");
  return dir ? std::string(dir) + "/" + name : "";
}

std::string Read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

uint64_t Generation(const std::string& address) {
  auto stub =
      v1::Dispatcher::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetInterestsResponse response;
  if (!stub->GetInterests(&context, {}, &response).ok()) return 0;
  return response.generation();
}

TEST(DispatcherBinaryTest, RefusesInvalidBindingsWithExitCode2AndTheErrors) {
  const std::string bin = Binary("smtpbridge-dispatcher");
  ASSERT_FALSE(bin.empty()) << "SMTPBRIDGE_DISPATCHER_BIN_DIR not set";
  TempDir dir;
  const auto bindings = dir.Write("bindings.yaml", R"(bindings:
  - name: a
    priority: PRIO_HUGE
    event: INBOUND_COMMAND
    sink: ipv4:127.0.0.1:50051
    colour: blue
)");
  const auto log = dir / "log";
  Process p({bin, "--listen", "127.0.0.1:0", "--bindings", bindings.string(), "--ready-file",
             (dir / "ready").string()},
            log);
  const auto status = p.Wait(std::chrono::seconds(20));
  ASSERT_TRUE(status) << "still running";
  EXPECT_EQ(ExitCode(*status), 2);
  const std::string text = Read(log);
  EXPECT_THAT(
      text,
      HasSubstr(
          bindings.string() +
          ":3: bindings[0].priority: \"PRIO_HUGE\" is not a number 0..32767 or a PRIO_* name"));
  EXPECT_THAT(text, HasSubstr(bindings.string() + ":6: bindings[0].colour: unknown key"));
  EXPECT_FALSE(std::filesystem::exists(dir / "ready"));
}

// #14: a busy gRPC port (no SO_REUSEPORT sharing) and a metrics address that cannot be bound
// each end with a one-line error and exit 1 (the latter used to die with SIGSEGV).
TEST(DispatcherBinaryTest, BusyPortsExitWithCode1AndAMessage) {
  const std::string bin = Binary("smtpbridge-dispatcher");
  ASSERT_FALSE(bin.empty());
  TempDir dir;
  const auto bindings = dir.Write("bindings.yaml", "bindings: []\n");
  Process first({bin, "--listen", "127.0.0.1:0", "--bindings", bindings.string(), "--ready-file",
                 (dir / "ready").string(), "--watch-interval", "0"},
                dir / "first.log");
  const auto address = first.WaitForReadyFile(dir / "ready");
  ASSERT_TRUE(address) << Read(dir / "first.log");

  Process second(
      {bin, "--listen", *address, "--bindings", bindings.string(), "--watch-interval", "0"},
      dir / "second.log");
  const auto second_status = second.Wait(std::chrono::seconds(20));
  ASSERT_TRUE(second_status) << "a second dispatcher on " << *address << " started";
  EXPECT_EQ(ExitCode(*second_status), 1) << Read(dir / "second.log");
  EXPECT_THAT(Read(dir / "second.log"), HasSubstr("cannot listen"));

  Process metrics({bin, "--listen", "127.0.0.1:0", "--metrics-listen", *address, "--bindings",
                   bindings.string(), "--watch-interval", "0"},
                  dir / "metrics.log");
  const auto metrics_status = metrics.Wait(std::chrono::seconds(20));
  ASSERT_TRUE(metrics_status) << "started with a busy metrics port";
  EXPECT_EQ(ExitCode(*metrics_status), 1) << Read(dir / "metrics.log");
  EXPECT_THAT(Read(dir / "metrics.log"), HasSubstr("--metrics-listen"));

  first.Signal(SIGTERM);
  EXPECT_EQ(ExitCode(first.Wait(std::chrono::seconds(20)).value_or(-1)), 0);
}

// A binding whose workers cannot be reached at start is named in a warning (its events get
// on_error until a worker is up); one whose worker answers is not.
TEST(DispatcherBinaryTest, BindingsWhoseWorkersAreUnreachableAtStartAreLogged) {
  const std::string bin = Binary("smtpbridge-dispatcher");
  ASSERT_FALSE(bin.empty());
  int live_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &live_port);
  // No service at all: a worker without the health service counts as healthy once connected.
  auto live = builder.BuildAndStart();
  ASSERT_TRUE(live && live_port > 0);
  TempDir dir;
  const std::string dead = "ipv4:127.0.0.1:" + std::to_string(smtpbridge::testing::FreeTcpPort());
  const auto bindings = dir.Write(
      "bindings.yaml",
      "bindings:\n  - {name: cold, event: INBOUND_COMMAND, rule: RCPT, sink: \"" + dead +
          "\"}\n  - {name: warm, event: INBOUND_COMMAND, rule: MAIL, sink: \"ipv4:127.0.0.1:" +
          std::to_string(live_port) + "\"}\n");
  Process p({bin, "--listen", "127.0.0.1:0", "--bindings", bindings.string(), "--ready-file",
             (dir / "ready").string(), "--watch-interval", "0"},
            dir / "log");
  ASSERT_TRUE(p.WaitForReadyFile(dir / "ready")) << Read(dir / "log");
  const std::string expected = "binding(s) cold: no worker of sink " + dead + " is reachable";
  for (int i = 0; i < 400 && Read(dir / "log").find(expected) == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  const std::string log = Read(dir / "log");
  EXPECT_THAT(log, HasSubstr(expected));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("binding(s) warm:")));
  EXPECT_EQ(ExitCode(p.Stop()), 0);
  live->Shutdown();
}

TEST(DispatcherBinaryTest, ServesReloadsOnSighupAndStopsCleanlyOnSigterm) {
  const std::string bin = Binary("smtpbridge-dispatcher");
  const std::string ctl = Binary("bridgectl");
  ASSERT_FALSE(bin.empty());
  ASSERT_FALSE(ctl.empty());
  TempDir dir;
  // The worker address is a closed port: calls fail fast and on_error decides.
  const std::string sink = "ipv4:127.0.0.1:" + std::to_string(smtpbridge::testing::FreeTcpPort());
  const auto bindings = dir.Write(
      "bindings.yaml", "bindings:\n  - {name: a, event: INBOUND_COMMAND, rule: RCPT, sink: \"" +
                           sink + "\", on_error: tempfail}\n");
  Process p({bin, "--listen", "127.0.0.1:0", "--bindings", bindings.string(), "--ready-file",
             (dir / "ready").string(), "--watch-interval", "0"},
            dir / "log");
  const auto address = p.WaitForReadyFile(dir / "ready");
  ASSERT_TRUE(address) << Read(dir / "log");
  EXPECT_EQ(Generation(*address), 1u);

  dir.Write("bindings.yaml", "bindings: []\n");
  p.Signal(SIGHUP);
  uint64_t generation = 0;
  for (int i = 0; i < 200 && generation < 2; ++i) {
    generation = Generation(*address);
    if (generation < 2) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(generation, 2u);

  dir.Write("bindings.yaml",
            "bindings:\n  - {name: a, event: INBOUND_COMMAND, rule: RCPT, sink: \"" + sink +
                "\", on_error: tempfail}\n");
  Process reload({ctl, "--dispatcher", *address, "reload"}, dir / "reload.log");
  ASSERT_EQ(ExitCode(reload.Wait(std::chrono::seconds(20)).value_or(-1)), 0)
      << Read(dir / "reload.log");
  EXPECT_THAT(Read(dir / "reload.log"), HasSubstr("reloaded: generation 3, 1 binding(s)"));

  Process test({ctl, "--dispatcher", *address, "test-event", "--event", "INBOUND_COMMAND",
                "--command", "RCPT TO:<someone@example.com>"},
               dir / "test.log");
  ASSERT_EQ(ExitCode(test.Wait(std::chrono::seconds(20)).value_or(-1)), 0)
      << Read(dir / "test.log");
  const std::string out = Read(dir / "test.log");
  EXPECT_THAT(out, HasSubstr("verdict:    tempfail 451 4.7.1 Temporary policy failure\n"));
  EXPECT_THAT(out, HasSubstr("decided by: a"));
  EXPECT_THAT(out, HasSubstr("round trip:"));

  EXPECT_EQ(ExitCode(p.Stop()), 0) << Read(dir / "log");
  EXPECT_THAT(Read(dir / "log"), HasSubstr("SIGTERM: draining and stopping"));
}

// The names of a process's threads (/proc/<pid>/task/*/comm).
std::vector<std::string> ThreadNames(pid_t pid) {
  std::vector<std::string> names;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::string name = Read(task.path() / "comm");
    while (!name.empty() && name.back() == '\n') name.pop_back();
    names.push_back(name);
  }
  return names;
}

// Every service on the completion queues: gRPC starts none of its callback-API threads
// ("nexting_thread"), which were woken for every event. Reflection (a sync service, on by
// default) adds a sync-server poller ("grpcpp_sync_ser"), idle when unused; --no-reflection
// leaves none.
TEST(DispatcherBinaryTest, NoCallbackApiThreadsAndNoSyncPollerWithoutReflection) {
  const std::string bin = Binary("smtpbridge-dispatcher");
  const std::string ctl = Binary("bridgectl");
  ASSERT_FALSE(bin.empty());
  TempDir dir;
  const std::string sink = "ipv4:127.0.0.1:" + std::to_string(smtpbridge::testing::FreeTcpPort());
  const auto bindings = dir.Write(
      "bindings.yaml", "bindings:\n  - {name: a, event: INBOUND_COMMAND, rule: RCPT, sink: \"" +
                           sink + "\", on_error: tempfail}\n");
  for (const bool reflection : {false, true}) {
    std::vector<std::string> argv = {bin,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--bindings",
                                     bindings.string(),
                                     "--ready-file",
                                     (dir / "ready").string(),
                                     "--watch-interval",
                                     "0"};
    if (!reflection) argv.push_back("--no-reflection");
    std::filesystem::remove(dir / "ready");
    Process p(argv, dir / "log");
    const auto address = p.WaitForReadyFile(dir / "ready");
    ASSERT_TRUE(address) << Read(dir / "log");
    // One call of each kind: GetInterests, health Check, Admin (bridgectl status), Evaluate.
    EXPECT_EQ(Generation(*address), 1u);
    {
      // (Scoped: a channel still open at SIGTERM holds the stop for the whole drain timeout.)
      auto health = grpc::health::v1::Health::NewStub(
          grpc::CreateChannel(*address, grpc::InsecureChannelCredentials()));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      grpc::health::v1::HealthCheckResponse response;
      ASSERT_TRUE(health->Check(&context, {}, &response).ok());
      EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
    }
    Process status({ctl, "--dispatcher", *address, "status"}, dir / "status.log");
    EXPECT_EQ(ExitCode(status.Wait(std::chrono::seconds(20)).value_or(-1)), 0)
        << Read(dir / "status.log");
    Process test({ctl, "--dispatcher", *address, "test-event", "--event", "INBOUND_COMMAND",
                  "--command", "RCPT TO:<someone@example.com>"},
                 dir / "test.log");
    EXPECT_EQ(ExitCode(test.Wait(std::chrono::seconds(20)).value_or(-1)), 0)
        << Read(dir / "test.log");

    const auto names = ThreadNames(p.pid());
    EXPECT_THAT(names, ::testing::Not(::testing::Contains("nexting_thread"))) << reflection;
    if (!reflection) {
      EXPECT_THAT(names,
                  ::testing::Not(::testing::Contains(::testing::StartsWith("grpcpp_sync_ser"))));
    }
    EXPECT_EQ(ExitCode(p.Stop()), 0) << Read(dir / "log");
  }
}

}  // namespace
}  // namespace smtpbridge::dispatcher
