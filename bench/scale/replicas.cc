#include "replicas.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>
#include <thread>

#include "smtpbridge/sink/sink_factory.h"
#include "support/metrics_scrape.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace smtpbridge::bench {
namespace {

using testing::ReadyServer;

constexpr int kSinks = 4;
constexpr int kMaxDispatchers = 3;

struct Dispatcher {
  ReadyServer server;
  int metrics_port = 0;
};

double EventsTotal(int metrics_port) {
  return testing::MetricSum(testing::HttpGet(metrics_port, "/metrics"),
                            "smtpbridge_dispatcher_events_total");
}

std::string Target(const std::vector<Dispatcher>& dispatchers, size_t n) {
  std::string target = "ipv4:";
  for (size_t i = 0; i < n; ++i) target += (i ? "," : "") + dispatchers[i].server.address;
  return target;
}

std::vector<std::unique_ptr<sink::Sink>> MakeSinks(const std::string& target) {
  std::vector<std::unique_ptr<sink::Sink>> sinks;
  for (int i = 0; i < kSinks; ++i) {
    sink::SinkOptions options;
    options.dispatcher_target = target;
    options.host_name = "bench-" + std::to_string(i);
    options.interests.enabled = false;
    options.stale_cache.enabled = false;
    options.transport = sink::Transport::kStream;
    sinks.push_back(sink::MakeSink(options));
  }
  return sinks;
}

std::vector<sink::Sink*> Raw(const std::vector<std::unique_ptr<sink::Sink>>& sinks) {
  std::vector<sink::Sink*> raw;
  for (const auto& s : sinks) raw.push_back(s.get());
  return raw;
}

// Load through `sinks` for at least `period`: each sink replaces its stream once a second, so
// after a couple of seconds the streams have spread over every replica the target lists.
void Warm(const std::vector<std::unique_ptr<sink::Sink>>& sinks, const ReplicaBenchOptions& o,
          const std::vector<PathProcess>& path) {
  const auto period = o.smoke ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2500);
  const auto until = std::chrono::steady_clock::now() + period;
  do {
    RunInFlight("warm", SinkSubmit(Raw(sinks), o.budget), o.in_flight, 1000, 0, o.budget, path);
  } while (std::chrono::steady_clock::now() < until);
}

double Ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

void PrintFallbacks(const Figures& f) {
  if (f.drop_reasons.empty()) return;
  std::printf("%-14s fallbacks:", "");
  for (const auto& [why, n] : f.drop_reasons) std::printf(" %s %zu", why.c_str(), n);
  std::printf("\n");
}

// Events/s and cost through the first `n` dispatchers, and how the events spread over them.
Figures MeasureReplicas(const std::vector<Dispatcher>& dispatchers, size_t n,
                        const std::vector<PathProcess>& workers, const ReplicaBenchOptions& o,
                        const Figures* base) {
  auto sinks = MakeSinks(Target(dispatchers, n));
  std::vector<PathProcess> path{{"sink", 0}};
  path.insert(path.end(), workers.begin(), workers.end());
  for (size_t i = 0; i < n; ++i)
    path.push_back({"dispatcher" + std::to_string(i), dispatchers[i].server.process->pid()});
  Warm(sinks, o, path);
  std::vector<double> before(n);
  for (size_t i = 0; i < n; ++i) before[i] = EventsTotal(dispatchers[i].metrics_port);
  const std::string label = std::to_string(n) + " dispatcher" + (n > 1 ? "s" : "");
  Figures f = RunInFlight(label, SinkSubmit(Raw(sinks), o.budget), o.in_flight, o.events, 0,
                          o.budget, path);
  std::vector<double> share(n);
  for (size_t i = 0; i < n; ++i) share[i] = EventsTotal(dispatchers[i].metrics_port) - before[i];
  for (auto& s : sinks) s->Shutdown();

  const Figures& b = base ? *base : f;
  std::printf(
      "%-14s %7.0f ev/s (%4.2fx)  p50 %7.1f us  p99 %7.1f us  p99.9 %8.1f us  cpu %6.1f us/ev "
      "(%4.2fx)  "
      "%5.2f cs/ev (%4.2fx)  fallbacks %zu\n",
      label.c_str(), f.events_per_s, Ratio(f.events_per_s, b.events_per_s), f.p50_us, f.p99_us,
      f.p999_us, f.cpu_us_per_event, Ratio(f.cpu_us_per_event, b.cpu_us_per_event),
      f.ctxt_per_event, Ratio(f.ctxt_per_event, b.ctxt_per_event), f.dropped);
  const double total = std::accumulate(share.begin(), share.end(), 0.0);
  if (n > 1 && total > 0) {
    const double mean = total / static_cast<double>(n);
    double worst = 0;
    std::printf("%-14s spread:", "");
    for (size_t i = 0; i < n; ++i) {
      std::printf(" d%zu %.0f %%", i, 100.0 * share[i] / total);
      worst = std::max(worst, std::abs(share[i] - mean) / mean);
    }
    std::printf("  (furthest from the mean: %.0f %%)\n", 100.0 * worst);
  }
  std::printf("%-14s per process, per event: %s\n", "",
              f.cost.PerProcess(static_cast<double>(f.sent)).c_str());
  PrintFallbacks(f);
  return f;
}

}  // namespace

Submit SinkSubmit(std::vector<sink::Sink*> sinks, std::chrono::microseconds budget) {
  auto next = std::make_shared<std::atomic<size_t>>(0);
  return [sinks = std::move(sinks), budget, next](v1::Event event, Done done) {
    sink::Sink* s = sinks[next->fetch_add(1, std::memory_order_relaxed) % sinks.size()];
    s->Evaluate(std::move(event), budget, [done = std::move(done)](sink::Evaluation e) {
      done(e.source == sink::VerdictSource::kDispatcher, sink::FallbackReasonName(e.reason));
    });
  };
}

void RunReplicaBench(const ReplicaBenchOptions& o) {
  testing::TempDir dir;
  const auto bin = std::filesystem::path(o.bin_dir);
  // Two replicas of a worker that answers at once: the dispatchers are what is measured.
  std::vector<ReadyServer> workers;
  std::vector<PathProcess> worker_path;
  for (int i = 0; i < 2; ++i) {
    workers.push_back(
        testing::StartReady(dir.path(), "worker" + std::to_string(i),
                            {(bin / "smtpbridge-example-worker").string(), "--listen",
                             "127.0.0.1:0", "--log-level", "error", "--name", "bench"}));
    worker_path.push_back({"worker" + std::to_string(i), workers.back().process->pid()});
  }
  const auto bindings = dir.Write(
      "bindings.yaml",
      RcptBindingYaml("ipv4:" + workers[0].address + "," + workers[1].address, o.budget_text));
  std::vector<Dispatcher> dispatchers(kMaxDispatchers);
  for (int i = 0; i < kMaxDispatchers; ++i) {
    dispatchers[i].metrics_port = testing::FreeTcpPort();
    dispatchers[i].server = testing::StartReady(
        dir.path(), "dispatcher" + std::to_string(i),
        {(bin / "smtpbridge-dispatcher").string(), "--listen", "127.0.0.1:0", "--metrics-listen",
         "127.0.0.1:" + std::to_string(dispatchers[i].metrics_port), "--bindings",
         bindings.string(), "--log-level", "error", "--cache-entries", "0"});
  }

  std::printf(
      "replicas: %d sinks (streams) -> 1..3 dispatchers (one ipv4: target, round_robin) -> 2 "
      "example "
      "workers (no delay); %zu events in flight, %zu events per count; ratios to 1 dispatcher\n",
      kSinks, o.in_flight, o.events);
  Figures one;
  for (size_t n = 1; n <= kMaxDispatchers; ++n) {
    Figures f = MeasureReplicas(dispatchers, n, worker_path, o, n == 1 ? nullptr : &one);
    if (n == 1) one = f;
  }

  // A replica killed under a steady load: before, the phase it dies in, after.
  auto sinks = MakeSinks(Target(dispatchers, kMaxDispatchers));
  std::vector<PathProcess> path{{"sink", 0}};
  path.insert(path.end(), worker_path.begin(), worker_path.end());
  for (const auto& d : dispatchers) path.push_back({"dispatcher", d.server.process->pid()});
  const double rate = o.smoke ? 300 : 0.5 * one.events_per_s;
  const auto phase = std::chrono::milliseconds(static_cast<long>(o.seconds * 1000));
  std::printf(
      "\nkill -9 under load: 3 dispatchers, 2 workers, open loop at %.0f ev/s (half of one "
      "dispatcher's "
      "rate), %.1f s per phase; ratios to \"before\"\n",
      rate, o.seconds);
  Warm(sinks, o, path);
  Figures before;
  for (const std::string label : {"before", "kill", "after"}) {
    std::thread killer;
    if (label == "kill") {
      killer = std::thread([&] {
        std::this_thread::sleep_for(phase / 2);
        dispatchers[2].server.process->Signal(SIGKILL);
        workers[1].process->Signal(SIGKILL);
      });
    }
    Figures f = RunOpenLoop(label, SinkSubmit(Raw(sinks), o.budget), rate, phase, o.budget, path);
    if (killer.joinable()) killer.join();
    if (label == "before") before = f;
    std::printf(
        "%-14s answered %7.0f ev/s  p50 %7.1f us (%4.2fx)  p99 %7.1f us (%4.2fx)  p99.9 %8.1f us "
        "(%4.2fx)  "
        "fallbacks %zu of %zu  cpu %6.1f us/ev\n",
        label.c_str(), f.events_per_s, f.p50_us, Ratio(f.p50_us, before.p50_us), f.p99_us,
        Ratio(f.p99_us, before.p99_us), f.p999_us, Ratio(f.p999_us, before.p999_us), f.dropped,
        f.sent, f.cpu_us_per_event);
    PrintFallbacks(f);
  }
  for (auto& s : sinks) s->Shutdown();
}

}  // namespace smtpbridge::bench
