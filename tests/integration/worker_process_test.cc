// The example worker as a process: SIGTERM drains, ends calls that would never be answered, and
// exits 0; bad flags are a clear error.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <thread>

#include "smtpbridge/v1/sink.grpc.pb.h"
#include "stack.h"

namespace smtpbridge::integration {
namespace {

using namespace std::chrono_literals;

TEST(ExampleWorkerProcess, SigtermEndsHangingCallsAndExitsZero) {
  testing::TempDir dir;
  auto worker = StartExampleWorker(dir, "hang", {"--hang", "--log-level", "debug"});
  auto stub = v1::PolicySink::NewStub(
      grpc::CreateChannel("ipv4:" + worker.address, grpc::InsecureChannelCredentials()));

  std::atomic<bool> returned{false};
  grpc::Status status;
  std::thread caller([&] {
    v1::SinkRequest request;
    *request.mutable_event() = RcptEvent("a@example.com", 30000ms);
    v1::Verdict verdict;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    ctx.set_wait_for_ready(true);
    status = stub->OnEvent(&ctx, request, &verdict);
    returned = true;
  });
  // The worker logs each event it took (at debug): wait for that line, so SIGTERM surely finds
  // the call hanging inside the worker, not still on its way.
  const auto log = dir / "hang.log";
  auto arrived = [&] {
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text.find("-> (hang)") != std::string::npos;
  };
  for (int i = 0; i < 1000 && !arrived(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(arrived()) << "the call never reached the worker";
  EXPECT_FALSE(returned.load());
  worker.process->Signal(SIGTERM);
  const auto exit_status = worker.process->Wait(15s);
  caller.join();
  ASSERT_TRUE(exit_status.has_value()) << "the worker did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*exit_status));
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST(ExampleWorkerProcess, BadFlagsExitNonZeroWithoutListening) {
  testing::TempDir dir;
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--delay", "soon"},
                                              {"--fail-rate", "2"},
                                              {"--add-header", "no colon"},
                                              {"--listen", "256.0.0.1:0"}}) {
    std::vector<std::string> argv{ExampleWorkerBinary().string()};
    argv.insert(argv.end(), bad.begin(), bad.end());
    testing::Process p(argv, dir / "bad.log");
    const auto st = p.Wait(15s);
    ASSERT_TRUE(st.has_value()) << bad[0] << " did not exit";
    EXPECT_TRUE(WIFEXITED(*st)) << bad[0];
    EXPECT_NE(WEXITSTATUS(*st), 0) << bad[0];
  }
}

// Like every SDK's worker, the example takes its settings from the environment when no flag
// gives them (SMTPBRIDGE_LISTEN, SMTPBRIDGE_READY_FILE, SMTPBRIDGE_LOG_LEVEL, SMTPBRIDGE_TLS_*).
TEST(ExampleWorkerProcess, SettingsFallBackToTheEnvironment) {
  testing::TempDir dir;
  const auto ready = dir / "env.ready";
  testing::Process worker({ExampleWorkerBinary().string()}, dir / "env.log",
                          {{"SMTPBRIDGE_LISTEN", "127.0.0.1:0"},
                           {"SMTPBRIDGE_READY_FILE", ready.string()},
                           {"SMTPBRIDGE_LOG_LEVEL", "warn"}});
  const auto address = worker.WaitForReadyFile(ready);
  ASSERT_TRUE(address.has_value()) << "no ready file from the environment's SMTPBRIDGE_READY_FILE";
  EXPECT_EQ(address->rfind("127.0.0.1:", 0), 0u) << *address;
  EXPECT_NE(*address, "127.0.0.1:50051") << "SMTPBRIDGE_LISTEN was not used";
  EXPECT_EQ(worker.Stop(), 0);
}

}  // namespace
}  // namespace smtpbridge::integration
