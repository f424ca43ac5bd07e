// bench_scale, in two parts. Replicas (replicas.cc): events/s and cost through 1, 2 and 3
// dispatchers, their spread, and a replica killed under load. Overload (this file): what overload
// does with shedding off and on. One example worker, two dispatchers
// (one without limits, one with --max-in-flight / --pool-concurrency-limit, optionally
// --adaptive-concurrency), each behind its own sink. Finds the sustainable load (the highest
// offered rate answered with < 0.5 % misses and p99 under half the budget), then offers 1x, 2x
// and 4x that rate to each, and reports answered events/s, CPU per event, the answered events'
// p99.9 and the share shed — every figure also as a ratio to "off at 1x" from the same run.
// See bench/README.md and docs/overload.md.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "measure.h"
#include "replicas.h"
#include "smtpbridge/sink/sink_factory.h"
#include "smtpbridge/v1/names.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace {

using namespace smtpbridge;
using bench::Figures;
using bench::ProcCost;
using testing::Process;

using Child = testing::ReadyServer;

Child Spawn(const testing::TempDir& dir, const std::string& name, std::vector<std::string> argv) {
  return testing::StartReady(dir.path(), name, std::move(argv));
}

std::string SelfDir() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
}

struct Mode {
  std::string name;
  Child dispatcher;
  std::unique_ptr<sink::Sink> sink;
  bench::Submit submit;
  std::vector<bench::PathProcess> path;
};

double Share(const Figures& f, const std::string& reason) {
  const auto it = f.drop_reasons.find(reason);
  return f.sent > 0 && it != f.drop_reasons.end() ? 100.0 * it->second / f.sent : 0.0;
}

void Print(const Figures& f, double offered, const Figures& base) {
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  const ProcCost spent = f.cost.Total();
  const double cpu_per_answered = f.answered > 0 ? spent.cpu_seconds * 1e6 / f.answered : 0;
  std::printf(
      "%-12s offered %7.0f ev/s  answered %7.0f ev/s (%5.2fx)  p50 %8.1f us  p99 %8.1f us  "
      "p99.9 %9.1f us (%6.2fx)  shed %5.1f %%  other fallbacks %5.1f %%  cpu %6.1f us/sent ev "
      "(%5.2fx), %6.1f us/answered ev  %5.2f cs/sent ev (%5.2fx)\n",
      f.label.c_str(), offered, f.events_per_s, ratio(f.events_per_s, base.events_per_s), f.p50_us,
      f.p99_us, f.p999_us, ratio(f.p999_us, base.p999_us), Share(f, "shed"),
      100.0 * f.dropped / std::max<size_t>(f.sent, 1) - Share(f, "shed"), f.cpu_us_per_event,
      ratio(f.cpu_us_per_event, base.cpu_us_per_event), cpu_per_answered, f.ctxt_per_event,
      ratio(f.ctxt_per_event, base.ctxt_per_event));
  std::printf("%-12s per process, per sent event: %s\n", "",
              f.cost.PerProcess(static_cast<double>(f.sent)).c_str());
  if (!f.drop_reasons.empty()) {
    std::printf("%-12s fallbacks:", "");
    for (const auto& [why, n] : f.drop_reasons) std::printf(" %s %zu", why.c_str(), n);
    std::printf("\n");
  }
}

// Lets the servers finish what an overloaded phase left queued, so it is not billed to the next.
void Settle(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"smtpbridge scale bench: overload with shedding off vs on"};
  std::string bin_dir;
  std::string budget_text = "20ms";
  std::string worker_delay = "1ms";
  double rate = 0;  // 0: find the sustainable rate
  double seconds = 3;
  size_t max_in_flight = 0, pool_limit = 0;  // 0: derived from the rate and budget
  bool adaptive = false;
  bool smoke = false;
  std::string part = "all";
  size_t replica_events = 20000;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--bin-dir", bin_dir,
                 "where smtpbridge-dispatcher and smtpbridge-example-worker are");
  app.add_option("--budget", budget_text, "per-event budget (sink) and binding timeout")
      ->capture_default_str();
  app.add_option("--worker-delay", worker_delay, "example worker --delay")->capture_default_str();
  app.add_option("--rate", rate, "the sustainable rate in events/s (0: find it)")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "duration of each phase")->capture_default_str();
  app.add_option("--max-in-flight", max_in_flight,
                 "shedding on: --max-in-flight (0: half a budget's worth of the sustainable rate)");
  app.add_option("--pool-limit", pool_limit,
                 "shedding on: --pool-concurrency-limit (0: the same as --max-in-flight)");
  app.add_flag("--adaptive", adaptive, "shedding on: also --adaptive-concurrency");
  app.add_option("--part", part, "replicas, overload or all")
      ->check(CLI::IsMember({"replicas", "overload", "all"}))
      ->capture_default_str();
  app.add_option("--replica-events", replica_events, "replicas: events per dispatcher count")
      ->capture_default_str();
  app.add_flag("--smoke", smoke, "a few seconds: proves the bench runs; its figures mean nothing");
  CLI11_PARSE(app, argc, argv);
  if (smoke) {
    if (rate == 0) rate = 300;
    seconds = 0.4;
  }
  const auto budget_ns = v1::ParseDurationText(budget_text);
  if (!budget_ns || budget_ns->count() <= 0) {
    std::fprintf(stderr, "--budget: expected a duration like 20ms\n");
    return 2;
  }
  const auto budget = std::chrono::duration_cast<std::chrono::microseconds>(*budget_ns);
  if (bin_dir.empty()) bin_dir = SelfDir();
  const auto phase = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  const auto settle = std::chrono::milliseconds(smoke ? 100 : 1000);

  try {
    if (part != "overload") {
      bench::ReplicaBenchOptions r{.bin_dir = bin_dir,
                                   .budget_text = budget_text,
                                   .budget = budget,
                                   .events = smoke ? 1000 : replica_events,
                                   .seconds = seconds,
                                   .smoke = smoke};
      bench::RunReplicaBench(r);
      if (part == "replicas") return 0;
      std::printf("\n");
    }
    testing::TempDir dir;
    Child worker =
        Spawn(dir, "worker",
              {(std::filesystem::path(bin_dir) / "smtpbridge-example-worker").string(), "--listen",
               "127.0.0.1:0", "--log-level", "error", "--name", "bench", "--delay", worker_delay});
    const auto bindings =
        dir.Write("bindings.yaml", bench::RcptBindingYaml("ipv4:" + worker.address, budget_text));
    auto start_mode = [&](const std::string& name, std::vector<std::string> limits) {
      Mode m;
      m.name = name;
      std::vector<std::string> argv{
          (std::filesystem::path(bin_dir) / "smtpbridge-dispatcher").string(),
          "--listen",
          "127.0.0.1:0",
          "--bindings",
          bindings.string(),
          "--log-level",
          "error",
          "--cache-entries",
          "0"};
      argv.insert(argv.end(), limits.begin(), limits.end());
      m.dispatcher = Spawn(dir, "dispatcher-" + name, argv);
      sink::SinkOptions options;
      options.dispatcher_target = "ipv4:" + m.dispatcher.address;
      options.host_name = "bench";
      options.interests.enabled = false;
      options.stale_cache.enabled = false;
      options.transport = sink::Transport::kStream;
      m.sink = sink::MakeSink(options);
      m.submit = bench::SinkSubmit({m.sink.get()}, budget);
      m.path = {{"sink", 0},
                {"worker", worker.process->pid()},
                {"dispatcher", m.dispatcher.process->pid()}};
      return m;
    };
    Mode off = start_mode("off", {"--max-in-flight", "0", "--pool-concurrency-limit", "0"});

    if (rate <= 0) {
      // The sustainable rate: double while the unlimited stack keeps up.
      std::printf("finding the sustainable rate (shedding off, %.1f s per step):\n", seconds / 2);
      double good = 0;
      for (double r = 500; r <= 64000; r *= 2) {
        Settle(settle);
        const auto f = bench::RunOpenLoop(
            "probe", off.submit, r, std::chrono::milliseconds(static_cast<long>(seconds * 500)),
            budget, off.path);
        const bool ok = f.dropped * 200 < f.sent && f.p99_us < budget.count() / 2.0;
        std::printf("  %7.0f ev/s: answered %zu of %zu, p99 %.1f us -> %s\n", r, f.answered, f.sent,
                    f.p99_us, ok ? "kept up" : "fell behind");
        if (!ok) break;
        good = r;
      }
      if (good == 0) throw std::runtime_error("the stack did not keep up even at 500 ev/s");
      rate = good;
    }
    if (max_in_flight == 0) {
      max_in_flight =
          std::max<size_t>(8, static_cast<size_t>(std::ceil(rate * budget.count() / 2e6)));
    }
    if (pool_limit == 0) pool_limit = max_in_flight;
    std::vector<std::string> on_flags{"--max-in-flight", std::to_string(max_in_flight),
                                      "--pool-concurrency-limit", std::to_string(pool_limit)};
    if (adaptive) on_flags.push_back("--adaptive-concurrency");
    Mode on = start_mode("on", on_flags);

    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    std::printf(
        "\nbench_scale: %ld cores, host %s, budget %s, worker delay %s, sustainable %.0f ev/s, "
        "%.1f s per phase%s\n",
        ::sysconf(_SC_NPROCESSORS_ONLN), host, budget_text.c_str(), worker_delay.c_str(), rate,
        seconds, smoke ? " (smoke: figures mean nothing)" : "");
    std::printf("shedding off: no limits; on: --max-in-flight %zu --pool-concurrency-limit %zu%s\n",
                max_in_flight, pool_limit, adaptive ? " --adaptive-concurrency" : "");
    std::printf(
        "cpu, cs (context switches): this process (load + sinks) + worker + that dispatcher, from "
        "/proc; "
        "ratios to \"off 1x\"\n\n");

    Figures base;
    for (const int mult : {1, 2, 4}) {
      for (Mode* m : {&off, &on}) {
        Settle(settle);
        const std::string label = m->name + " " + std::to_string(mult) + "x";
        Figures f = bench::RunOpenLoop(label, m->submit, rate * mult, phase, budget, m->path);
        if (mult == 1 && m == &off) base = f;
        Print(f, rate * mult, base);
      }
    }
    off.sink->Shutdown();
    on.sink->Shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_scale: %s\n", e.what());
    return 1;
  }
  return 0;
}
