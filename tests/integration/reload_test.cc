// Reloading the bindings under load drops nothing: every evaluation in flight or started during
// the reloads gets the dispatcher's answer, and the new binding takes effect.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "stack.h"

namespace smtpbridge::integration {
namespace {

using namespace std::chrono_literals;

constexpr int kThreads = 3;
constexpr int kReloads = 6;
constexpr auto kBudget = 1000ms;

std::string Generation(int n, bool block_target) {
  BindingSpec b{.name = "policy-gen-" + std::to_string(n), .sink = Workers::Fast().address};
  // The fast worker also reads its block list from the binding's properties.
  b.properties["blocked_recipients"] =
      block_target ? "target@*" : "nobody-" + std::to_string(n) + "@*";
  return BindingsYaml({b});
}

TEST(Reload, ReloadsUnderLoadDropNothingAndTakeEffect) {
  testing::TempDir dir;
  const auto bindings = dir.Write("bindings.yaml", Generation(0, false));
  auto dispatcher = StartDispatcher(dir, bindings, "dispatcher");
  auto options = TestSinkOptions(dispatcher.address);
  options.stale_cache.enabled = false;
  auto sink = sink::MakeSink(options);

  std::atomic<bool> stop{false};
  std::atomic<int> total{0}, rejected{0};
  std::mutex mu;
  std::vector<std::string> problems;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        const auto e = EvaluateAndWait(*sink, RcptEvent("target@example.com", kBudget), kBudget);
        total.fetch_add(1);
        std::string problem;
        if (!e) {
          problem = "no answer";
        } else if (e->source != sink::VerdictSource::kDispatcher) {
          problem = "fallback: " + std::string(sink::FallbackReasonName(e->reason));
        } else if (e->verdict.action() == v1::ACTION_REJECT) {
          rejected.fetch_add(1);
        }
        if (!problem.empty()) {
          std::lock_guard lock(mu);
          problems.push_back(problem);
        }
      }
    });
  }

  // Several generations that keep the target allowed, then one that blocks it.
  for (int gen = 1; gen <= kReloads; ++gen) {
    std::this_thread::sleep_for(100ms);
    WriteAtomically(bindings, Generation(gen, gen == kReloads));
    dispatcher.process->Signal(SIGHUP);
  }
  for (int i = 0; i < 500 && rejected.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(100ms);  // a few more evaluations on the final generation
  stop.store(true);
  for (auto& t : threads) t.join();

  EXPECT_GT(total.load(), kThreads * kReloads);
  EXPECT_GT(rejected.load(), 0) << "the last generation never took effect";
  EXPECT_TRUE(problems.empty()) << problems.size() << " evaluations went wrong, first: "
                                << (problems.empty() ? "" : problems.front());
  EXPECT_TRUE(dispatcher.process->Running());
  // SIGTERM drains and exits 0.
  EXPECT_EQ(dispatcher.process->Stop(), 0);
}

}  // namespace
}  // namespace smtpbridge::integration
