// The batched EvaluateStream under load, through real processes: a sink on the stream keeps 32
// events in flight against a dispatcher and an example worker. Every event is answered by the
// dispatcher, and the sink's batch histograms (smtpbridge_sink_stream_batch_events) count every
// request and answer. How many share a message depends on the machine, so it is reported (a
// test property and a line on stdout), not asserted: the unit tests make batching a fact
// (tests/unit/sink/evaluate_stream_test.cc, tests/unit/dispatcher/evaluate_stream_test.cc).
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "stack.h"

namespace smtpbridge::integration {
namespace {

using namespace std::chrono_literals;

struct Histogram {
  uint64_t messages = 0;
  double events = 0;
};

Histogram Read(prometheus::Registry& registry, const std::string& direction) {
  Histogram h;
  for (const auto& family : registry.Collect()) {
    if (family.name != "smtpbridge_sink_stream_batch_events") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "direction" && label.value == direction) {
          h.messages = metric.histogram.sample_count;
          h.events = metric.histogram.sample_sum;
        }
      }
    }
  }
  return h;
}

TEST(StreamBatch, UnderLoadEveryEventIsAnsweredAndCountedPerMessage) {
  testing::TempDir dir;
  const auto file =
      dir.Write("bindings.yaml",
                BindingsYaml({{.name = "fast", .sink = Workers::Fast().address, .timeout = "5s"}}));
  const Server dispatcher = StartDispatcher(dir, file, "dispatcher");
  // Before the sink: its callbacks use them until it is gone.
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0, answered = 0, from_dispatcher = 0;
  auto registry = std::make_shared<prometheus::Registry>();
  auto options = TestSinkOptions(dispatcher.address);
  options.transport = sink::Transport::kStream;
  options.fresh_cache.enabled = false;
  options.metrics_registry = registry;
  auto sink = sink::MakeSink(options);

  constexpr int kEvents = 3000;
  constexpr int kInFlight = 32;
  for (int i = 0; i < kEvents; ++i) {
    {
      std::unique_lock lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return outstanding < kInFlight; })) << "no answers";
      ++outstanding;
    }
    sink->Evaluate(RcptEvent("user" + std::to_string(i) + "@example.com", 5000ms), 5000ms,
                   [&](sink::Evaluation e) {
                     std::lock_guard lock(mu);
                     --outstanding;
                     ++answered;
                     if (e.source == sink::VerdictSource::kDispatcher) ++from_dispatcher;
                     cv.notify_all();
                   });
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return answered == kEvents; }));
    EXPECT_EQ(from_dispatcher, kEvents);
  }
  const Histogram sent = Read(*registry, "sent");
  const Histogram received = Read(*registry, "received");
  EXPECT_EQ(sent.events, kEvents);
  EXPECT_EQ(received.events, kEvents);
  ASSERT_GT(sent.messages, 0u);
  ASSERT_GT(received.messages, 0u);
  std::printf(
      "%d events, %d in flight: %.2f requests per message sent (%lu messages), "
      "%.2f answers per message received (%lu messages)\n",
      kEvents, kInFlight, sent.events / static_cast<double>(sent.messages),
      static_cast<unsigned long>(sent.messages),
      received.events / static_cast<double>(received.messages),
      static_cast<unsigned long>(received.messages));
  RecordProperty("requests_per_message_x100",
                 static_cast<int>(100 * sent.events / static_cast<double>(sent.messages)));
  RecordProperty("answers_per_message_x100",
                 static_cast<int>(100 * received.events / static_cast<double>(received.messages)));
  sink->Shutdown();
}

}  // namespace
}  // namespace smtpbridge::integration
