// The example worker as a process: SIGTERM drains, ends calls that would never be answered, and
// exits 0; bad flags are a clear error.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "smtpbridge/v1/sink.grpc.pb.h"
#include "stack.h"

namespace smtpbridge::integration {
namespace {

using namespace std::chrono_literals;

TEST(ExampleWorkerProcess, SigtermEndsHangingCallsAndExitsZero) {
  testing::TempDir dir;
  auto worker = StartExampleWorker(dir, "hang", {"--hang"});
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
  // Let the call reach the worker (it never answers, so nothing else tells us it arrived).
  std::this_thread::sleep_for(300ms);
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
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--delay", "soon"}, {"--fail-rate", "2"},
        {"--add-header", "no colon"}, {"--listen", "256.0.0.1:0"}}) {
    std::vector<std::string> argv{ExampleWorkerBinary().string()};
    argv.insert(argv.end(), bad.begin(), bad.end());
    testing::Process p(argv, dir / "bad.log");
    const auto st = p.Wait(15s);
    ASSERT_TRUE(st.has_value()) << bad[0] << " did not exit";
    EXPECT_TRUE(WIFEXITED(*st)) << bad[0];
    EXPECT_NE(WEXITSTATUS(*st), 0) << bad[0];
  }
}

}  // namespace
}  // namespace smtpbridge::integration
