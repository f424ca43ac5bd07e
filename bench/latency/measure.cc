#include "measure.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1) + 0.5));
  return sorted[i];
}

double ChildCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // Fields after the command name (which may contain spaces) start after the last ')'.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

void Summarize(Figures& f, std::vector<double>& latencies_us, double cpu_seconds) {
  f.samples_us = std::move(latencies_us);
  f.cpu_seconds = cpu_seconds;
  Finalize(f);
}

ProcessCost MiddleCost(const std::vector<pid_t>& children) {
  return children.empty() ? ProcessCost{} : ReadProcessCost(children.back());
}

void AddMiddle(Figures& f, const ProcessCost& before, const ProcessCost& after) {
  f.mid_cpu_seconds = after.cpu_seconds - before.cpu_seconds;
  f.mid_ctxt = after.ctxt - before.ctxt;
}

}  // namespace

ProcessCost ReadProcessCost(pid_t pid) {
  ProcessCost cost;
  cost.cpu_seconds = ChildCpuSeconds(pid);
  // /proc/<pid>/status counts the main thread only; sum every thread's.
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream in(task.path() / "status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        cost.ctxt += std::stod(line.substr(line.find(':') + 1));
      }
    }
  }
  return cost;
}

void Merge(Figures& total, const Figures& round) {
  if (total.label.empty()) total.label = round.label;
  total.sent += round.sent;
  total.answered += round.answered;
  total.dropped += round.dropped;
  for (const auto& [why, n] : round.drop_reasons) total.drop_reasons[why] += n;
  total.seconds += round.seconds;
  total.cpu_seconds += round.cpu_seconds;
  total.mid_cpu_seconds += round.mid_cpu_seconds;
  total.mid_ctxt += round.mid_ctxt;
  total.samples_us.insert(total.samples_us.end(), round.samples_us.begin(), round.samples_us.end());
}

void Finalize(Figures& f) {
  std::sort(f.samples_us.begin(), f.samples_us.end());
  f.p50_us = Percentile(f.samples_us, 0.50);
  f.p99_us = Percentile(f.samples_us, 0.99);
  f.p999_us = Percentile(f.samples_us, 0.999);
  f.events_per_s = f.seconds > 0 ? f.answered / f.seconds : 0;
  f.cpu_us_per_event = f.sent > 0 ? f.cpu_seconds * 1e6 / f.sent : 0;
  f.mid_cpu_us_per_event = f.sent > 0 ? f.mid_cpu_seconds * 1e6 / f.sent : 0;
  f.mid_ctxt_per_event = f.sent > 0 ? f.mid_ctxt / f.sent : 0;
}

double CpuSeconds(const std::vector<pid_t>& children) {
  rusage self{};
  ::getrusage(RUSAGE_SELF, &self);
  double total = self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 + self.ru_stime.tv_sec +
                 self.ru_stime.tv_usec / 1e6;
  for (pid_t pid : children) total += ChildCpuSeconds(pid);
  return total;
}

v1::Event BenchEvent(uint64_t n, std::chrono::microseconds budget) {
  v1::Event e;
  e.set_event_id("bench-" + std::to_string(n));
  e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  auto* s = e.mutable_session();
  s->set_session_id("bench-session-" + std::to_string(n / 8));
  s->set_instance(1);
  s->set_host_kind(v1::HOST_KIND_TEST);
  s->mutable_client()->set_address("192.0.2.10");
  s->mutable_client()->set_port(40000);
  s->set_helo_name("client.example.net");
  s->set_esmtp(true);
  e.mutable_envelope()->set_sender("sender@example.net");
  e.mutable_envelope()->set_has_sender(true);
  const std::string rcpt = "user" + std::to_string(n % 1000) + "@example.com";
  e.mutable_envelope()->set_recipient(rcpt);
  e.mutable_command()->set_keyword("RCPT");
  e.mutable_command()->set_argument("TO:<" + rcpt + ">");
  e.mutable_command()->set_line("RCPT TO:<" + rcpt + ">");
  e.mutable_response()->set_code(250);
  e.mutable_response()->set_enhanced_code("2.1.5");
  e.mutable_response()->add_lines("Ok");
  *e.mutable_budget() = v1::ToProtoDuration(budget);
  return e;
}

Figures RunClosedLoop(const std::string& label, const Submit& submit, size_t events, size_t warmup,
                      std::chrono::microseconds budget, const std::vector<pid_t>& children) {
  std::atomic<uint64_t> completed{0};
  std::atomic<size_t> answered{0};
  std::mutex mu;
  std::map<std::string, size_t> reasons;
  auto one = [&](uint64_t n) {
    submit(BenchEvent(n, budget), [&](bool ok, std::string_view why) {
      if (ok) {
        answered.fetch_add(1, std::memory_order_relaxed);
      } else {
        std::lock_guard lock(mu);
        ++reasons[std::string(why)];
      }
      completed.fetch_add(1, std::memory_order_release);
      completed.notify_one();
    });
    // One in flight: wait for this event's answer before sending the next.
    uint64_t seen = completed.load(std::memory_order_acquire);
    while (seen < n + 1) {
      completed.wait(seen, std::memory_order_acquire);
      seen = completed.load(std::memory_order_acquire);
    }
  };
  uint64_t n = 0;
  for (size_t i = 0; i < warmup; ++i) one(n++);
  answered.store(0);
  {
    std::lock_guard lock(mu);
    reasons.clear();
  }

  Figures f;
  f.label = label;
  std::vector<double> latencies;
  latencies.reserve(events);
  const ProcessCost mid0 = MiddleCost(children);
  const double cpu0 = CpuSeconds(children);
  const auto start = Clock::now();
  for (size_t i = 0; i < events; ++i) {
    const auto t0 = Clock::now();
    one(n++);
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = CpuSeconds(children) - cpu0;
  const ProcessCost mid1 = MiddleCost(children);
  f.sent = events;
  f.answered = answered.load();
  f.dropped = f.sent - f.answered;
  {
    std::lock_guard lock(mu);
    f.drop_reasons = reasons;
  }
  AddMiddle(f, mid0, mid1);
  Summarize(f, latencies, cpu);
  return f;
}

Figures RunOpenLoop(const std::string& label, const Submit& submit, double rate,
                    std::chrono::milliseconds duration, std::chrono::microseconds budget,
                    const std::vector<pid_t>& children) {
  const size_t total = static_cast<size_t>(rate * duration.count() / 1000.0);
  const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  // One slot per event, written once by its completion: no locking on the hot path.
  auto latency_us = std::make_shared<std::vector<std::atomic<double>>>(total);
  auto ok = std::make_shared<std::vector<std::atomic<bool>>>(total);
  auto outstanding = std::make_shared<std::atomic<size_t>>(total);
  struct Reasons {
    std::mutex mu;
    std::map<std::string, size_t> counts;
  };
  auto reasons = std::make_shared<Reasons>();
  for (size_t i = 0; i < total; ++i) (*latency_us)[i].store(-1);

  const ProcessCost mid0 = MiddleCost(children);
  const double cpu0 = CpuSeconds(children);
  const auto start = Clock::now();
  for (size_t i = 0; i < total; ++i) {
    const auto scheduled = start + interval * i;
    std::this_thread::sleep_until(scheduled);
    submit(BenchEvent(i, budget), [latency_us, ok, outstanding, reasons, i, scheduled](
                                      bool answered, std::string_view why) {
      if (!answered) {
        std::lock_guard lock(reasons->mu);
        ++reasons->counts[std::string(why)];
      }
      (*latency_us)[i].store(std::chrono::duration<double, std::micro>(Clock::now() - scheduled).count());
      (*ok)[i].store(answered);
      outstanding->fetch_sub(1);
    });
  }
  // Give the last events their budget and a grace period; whatever is still out is dropped.
  const auto give_up = Clock::now() + budget + std::chrono::seconds(2);
  while (outstanding->load() > 0 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Figures f;
  f.label = label;
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = CpuSeconds(children) - cpu0;
  const ProcessCost mid1 = MiddleCost(children);
  std::vector<double> latencies;
  latencies.reserve(total);
  f.sent = total;
  for (size_t i = 0; i < total; ++i) {
    const double l = (*latency_us)[i].load();
    if (l >= 0 && (*ok)[i].load()) {
      ++f.answered;
      latencies.push_back(l);
    }
  }
  f.dropped = f.sent - f.answered;
  {
    std::lock_guard lock(reasons->mu);
    f.drop_reasons = reasons->counts;
  }
  if (const size_t never = f.dropped - [&] {
        size_t n = 0;
        for (const auto& [why, c] : f.drop_reasons) n += c;
        return n;
      }();
      never > 0) {
    f.drop_reasons["no answer"] += never;
  }
  // Achieved rate over the sending period (the drain tail is not offered load).
  f.seconds = std::min(f.seconds, duration.count() / 1000.0 + 0.001);
  AddMiddle(f, mid0, mid1);
  Summarize(f, latencies, cpu);
  return f;
}

}  // namespace smtpbridge::bench
