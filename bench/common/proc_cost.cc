#include "proc_cost.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace smtpbridge::bench {
namespace {

double StatCpuSeconds(const std::string& dir) {
  std::ifstream in(dir + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // Fields after the command name (which may contain spaces or ')') start after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size()) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The process's CPU-time clock: utime + stime of every thread, exited ones included, in
// nanoseconds (what /proc/<pid>/stat reports in 10 ms clock ticks, too coarse for a round of a few
// thousand events). Linux lets any process read another's. Negative when unavailable.
double ClockCpuSeconds(pid_t pid) {
  clockid_t clock;
  if (::clock_getcpuclockid(pid, &clock) != 0) return -1;
  timespec ts{};
  if (::clock_gettime(clock, &ts) != 0) return -1;
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

void AddSwitches(const std::filesystem::path& status, ProcCost& cost) {
  std::ifstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) {
      cost.voluntary += std::stod(line.substr(line.find(':') + 1));
    } else if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
      cost.involuntary += std::stod(line.substr(line.find(':') + 1));
    }
  }
}

}  // namespace

ProcCost& ProcCost::operator+=(const ProcCost& o) {
  cpu_seconds += o.cpu_seconds;
  voluntary += o.voluntary;
  involuntary += o.involuntary;
  return *this;
}

ProcCost operator-(const ProcCost& a, const ProcCost& b) {
  return {a.cpu_seconds - b.cpu_seconds, a.voluntary - b.voluntary, a.involuntary - b.involuntary};
}

ProcCost ReadProcCost(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid == 0 ? ::getpid() : pid);
  ProcCost cost;
  // Both count every thread, exited ones too; the stat line only if the clock is unavailable.
  const double clock = ClockCpuSeconds(pid == 0 ? ::getpid() : pid);
  if (clock >= 0) {
    cost.cpu_seconds = clock;
  } else if (::access(dir.c_str(), F_OK) == 0) {
    cost.cpu_seconds = StatCpuSeconds(dir);
  } else {
    return cost;  // gone
  }
  // Its status counts the main thread only: sum every live thread's.
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir + "/task", ec)) {
    AddSwitches(task.path() / "status", cost);
  }
  return cost;
}

std::map<pid_t, ThreadCost> ReadThreadCosts(pid_t pid) {
  std::map<pid_t, ThreadCost> threads;
  const std::string dir = "/proc/" + std::to_string(pid == 0 ? ::getpid() : pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir, ec)) {
    ThreadCost t;
    std::ifstream comm(task.path() / "comm");
    std::getline(comm, t.name);
    std::ifstream sched(task.path() / "schedstat");
    double ns = -1;
    if (!(sched >> ns)) ns = -1;
    t.cost.cpu_seconds = ns >= 0 ? ns / 1e9 : StatCpuSeconds(task.path().string());
    AddSwitches(task.path() / "status", t.cost);
    if (t.name.empty()) continue;  // ended while being read
    threads.emplace(static_cast<pid_t>(std::stol(task.path().filename().string())), std::move(t));
  }
  return threads;
}

PathCost::PathCost(std::vector<PathProcess> processes, bool per_thread)
    : processes_(std::move(processes)),
      spent_(processes_.size()),
      start_(processes_.size()),
      per_thread_(per_thread),
      thread_start_(per_thread ? processes_.size() : 0),
      thread_spent_(per_thread ? processes_.size() : 0) {}

void PathCost::Begin() {
  for (size_t i = 0; i < processes_.size(); ++i) {
    start_[i] = ReadProcCost(processes_[i].pid);
    if (per_thread_) thread_start_[i] = ReadThreadCosts(processes_[i].pid);
  }
}

void PathCost::End() {
  for (size_t i = 0; i < processes_.size(); ++i) {
    spent_[i] += ReadProcCost(processes_[i].pid) - start_[i];
    if (!per_thread_) continue;
    for (const auto& [tid, now] : ReadThreadCosts(processes_[i].pid)) {
      const auto was = thread_start_[i].find(tid);
      // A thread born during the round spent all it has in it.
      thread_spent_[i][now.name] +=
          was == thread_start_[i].end() ? now.cost : now.cost - was->second.cost;
    }
  }
}

void PathCost::Merge(const PathCost& other) {
  if (processes_.empty()) {
    *this = other;
    return;
  }
  for (size_t i = 0; i < spent_.size() && i < other.spent_.size(); ++i)
    spent_[i] += other.spent_[i];
  for (size_t i = 0; i < thread_spent_.size() && i < other.thread_spent_.size(); ++i) {
    for (const auto& [name, c] : other.thread_spent_[i]) thread_spent_[i][name] += c;
  }
}

std::vector<std::string> PathCost::PerThread(double decisions) const {
  std::vector<std::string> lines;
  const double n = decisions > 0 ? decisions : 1;
  for (size_t i = 0; i < thread_spent_.size(); ++i) {
    std::vector<std::pair<std::string, ProcCost>> threads(thread_spent_[i].begin(),
                                                          thread_spent_[i].end());
    std::sort(threads.begin(), threads.end(), [](const auto& a, const auto& b) {
      return a.second.cpu_seconds > b.second.cpu_seconds;
    });
    std::string line = processes_[i].name + ":";
    bool first = true;
    for (const auto& [name, c] : threads) {
      if (c.cpu_seconds <= 0 && c.ctxt() <= 0) continue;
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s %s %.1f us %.2f cs", first ? "" : " |", name.c_str(),
                    c.cpu_seconds * 1e6 / n, c.ctxt() / n);
      line += buf;
      first = false;
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

ProcCost PathCost::Total() const {
  ProcCost total;
  for (const auto& c : spent_) total += c;
  return total;
}

std::string PathCost::Summary(double decisions) const {
  const ProcCost t = Total();
  const double n = decisions > 0 ? decisions : 1;
  char buf[96];
  std::snprintf(buf, sizeof buf, "cpu %7.1f us/dec, %5.2f cs/dec", t.cpu_seconds * 1e6 / n,
                t.ctxt() / n);
  return buf;
}

std::string PathCost::PerProcess(double decisions) const {
  const double n = decisions > 0 ? decisions : 1;
  std::string out;
  for (size_t i = 0; i < processes_.size(); ++i) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s%s %.1f us %.2f cs", i ? " | " : "",
                  processes_[i].name.c_str(), spent_[i].cpu_seconds * 1e6 / n,
                  spent_[i].ctxt() / n);
    out += buf;
  }
  return out;
}

}  // namespace smtpbridge::bench
