// Worker replicas that hang or die, with two real example workers behind one binding
// ("ipv4:A,B"): the dispatcher's pool ejects a hung replica (SIGSTOP), so events stop paying its
// budget, and probes it back in after SIGCONT; a replica killed with SIGKILL costs no event its
// on_error (calls it failed are retried on the other one).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "stack.h"

namespace smtpbridge::integration {
namespace {

using namespace std::chrono_literals;

// Waits (bounded) until every thread of `pid` is stopped: kill(SIGSTOP) returns before a thread
// running on another core has stopped, and that thread could still answer one more call.
bool WaitStopped(pid_t pid) {
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < give_up) {
    bool all = true;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
      std::ifstream stat(task.path() / "stat");
      std::string line;
      std::getline(stat, line);
      const auto close = line.rfind(')');
      if (close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'T')
        all = false;
    }
    if (all) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = StartExampleWorker(dir_, "replica-a", {"--reject-rcpt", "blocked@*"});
    b_ = StartExampleWorker(dir_, "replica-b", {"--reject-rcpt", "blocked@*"});
    const auto file =
        dir_.Write("bindings.yaml", BindingsYaml({{.name = "policy",
                                                   .sink = a_.address + "," + b_.address,
                                                   .timeout = "250ms",
                                                   .on_error = "tempfail"}}));
    dispatcher_ = StartDispatcher(dir_, file, "dispatcher");
    stub_ = DispatcherStub(dispatcher_.address);
  }

  // Which replica answered one event ("replica-a", "replica-b"), or what went wrong instead
  // ("timeout", "error", "rpc").
  std::string Send() {
    v1::EvaluateRequest request;
    *request.mutable_event() = RcptEvent("blocked@example.com", 2000ms);
    request.set_explain(true);
    v1::EvaluateResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    if (!stub_->Evaluate(&ctx, request, &response).ok()) return "rpc";
    if (response.outcomes_size() != 1) return "rpc";
    const auto& o = response.outcomes(0);
    if (o.kind() == v1::SINK_OUTCOME_KIND_TIMEOUT) return "timeout";
    if (o.kind() != v1::SINK_OUTCOME_KIND_ANSWERED) return "error: " + o.error();
    const std::string& reason = o.verdict().reason();
    return reason.substr(0, reason.find(':'));
  }

  testing::TempDir dir_;
  Server a_, b_, dispatcher_;
  std::unique_ptr<v1::Dispatcher::Stub> stub_;
};

TEST_F(ReplicaTest, HungReplicaIsEjectedThenProbedBackIn) {
  std::map<std::string, int> seen;
  for (int i = 0; i < 40; ++i) ++seen[Send()];
  ASSERT_GT(seen["replica-a"], 0);
  ASSERT_GT(seen["replica-b"], 0);

  b_.process->Signal(SIGSTOP);
  ASSERT_TRUE(WaitStopped(b_.process->pid()));
  // Events that land on the hung replica time out until it is ejected; then every event is
  // answered by the healthy one, at once.
  int timeouts = 0;
  int answered_in_a_row = 0;
  int sent = 0;
  for (; sent < 300 && answered_in_a_row < 100; ++sent) {
    const auto who = Send();
    if (who == "timeout") {
      ++timeouts;
      answered_in_a_row = 0;
    } else {
      ASSERT_EQ(who, "replica-a") << "event " << sent;
      ++answered_in_a_row;
    }
  }
  EXPECT_EQ(answered_in_a_row, 100) << "the hung replica was never ejected; timeouts " << timeouts;
  EXPECT_GE(timeouts, 1);
  // Ejected after 5 timeouts in a row (events meanwhile also reach the healthy one); a probe
  // after each ejection interval costs one more while it stays hung. (Slack for a loaded
  // machine, where an answer from the healthy one may miss the timeout too.)
  EXPECT_LE(timeouts, 12) << "after " << sent << " events";

  b_.process->Signal(SIGCONT);
  // Probed back in once its ejection runs out (1 s, 2 s after a failed probe, …): bounded wait.
  bool back = false;
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (!back && std::chrono::steady_clock::now() < give_up) {
    const auto who = Send();
    ASSERT_TRUE(who == "replica-a" || who == "replica-b" || who == "timeout") << who;
    back = who == "replica-b";
    if (!back) std::this_thread::sleep_for(5ms);  // pace the wait; nothing is asserted on time
  }
  EXPECT_TRUE(back) << "the replica was never probed back in";
}

TEST_F(ReplicaTest, KilledReplicaCostsNoEventItsOnError) {
  std::atomic<int> sent{0};
  std::atomic<bool> killed{false};
  std::mutex mu;
  std::map<std::string, int> seen;
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&] {
      for (int i = 0; i < 400; ++i) {
        const auto who = Send();
        {
          std::lock_guard lock(mu);
          ++seen[who];
        }
        if (sent.fetch_add(1) == 300 && !killed.exchange(true)) b_.process->Signal(SIGKILL);
      }
    });
  }
  for (auto& t : senders) t.join();
  ASSERT_TRUE(killed.load());
  EXPECT_EQ(seen["replica-a"] + seen["replica-b"], 1600) << ::testing::PrintToString(seen);
  EXPECT_GT(seen["replica-b"], 0);
}

}  // namespace
}  // namespace smtpbridge::integration
