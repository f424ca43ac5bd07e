// What a round of load cost the processes on the measured path: CPU time (utime + stime of every
// thread, exited ones included: the process's CPU-time clock, in nanoseconds; /proc/<pid>/stat's
// 10 ms ticks where that clock is unavailable) and context switches (voluntary + involuntary,
// summed over /proc/<pid>/task/*/status), before and after the round, per process and in total,
// so a bench can print CPU per decision and context switches per decision beside its latency.
// The same readings as bench/common/proc_cost.py (the Python-driven benches); see
// bench/README.md.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace smtpbridge::bench {

// One process's counters so far (or a difference of two readings).
struct ProcCost {
  double cpu_seconds = 0;  // utime + stime of every thread, exited ones included
  double voluntary = 0;    // context switches of the live threads
  double involuntary = 0;
  double ctxt() const { return voluntary + involuntary; }
  ProcCost& operator+=(const ProcCost& o);
};
ProcCost operator-(const ProcCost& a, const ProcCost& b);

// Reads /proc/<pid>; pid 0 is this process. A process that is gone reads as zeros.
ProcCost ReadProcCost(pid_t pid);

// Per thread of a live process, by tid: its name (/proc/<pid>/task/<tid>/comm) and counters (CPU
// from .../schedstat in nanoseconds, else .../stat ticks).
struct ThreadCost {
  std::string name;
  ProcCost cost;
};
std::map<pid_t, ThreadCost> ReadThreadCosts(pid_t pid);

struct PathProcess {
  std::string name;  // "sink", "dispatcher", "worker", "echo"...
  pid_t pid = 0;     // 0: this process (the load generator and any in-process client)
};

// The processes of one measured path, and what they spent over the rounds measured so far.
class PathCost {
 public:
  PathCost() = default;
  // `per_thread`: also what each thread spent, summed by thread name (threads that ended during a
  // round lose what they spent in it; the process totals keep it).
  explicit PathCost(std::vector<PathProcess> processes, bool per_thread = false);

  // Begin() before a round, End() after it: adds the difference to the totals. Rounds add up.
  void Begin();
  void End();
  // Adds another PathCost's totals (same processes, e.g. the same side's next round).
  void Merge(const PathCost& other);

  const std::vector<PathProcess>& processes() const { return processes_; }
  const std::vector<ProcCost>& per_process() const { return spent_; }
  ProcCost Total() const;

  // "cpu 512.3 us/dec, 4.21 cs/dec" for the whole path.
  std::string Summary(double decisions) const;
  // "sink 210.0 us 1.20 cs | dispatcher 190.1 us 2.45 cs | worker ..." per decision.
  std::string PerProcess(double decisions) const;
  // With per_thread, one line per process: "dispatcher: smtpbridge-cq 150.2 us 1.10 cs | ...",
  // its threads by name, the most CPU first; empty without.
  std::vector<std::string> PerThread(double decisions) const;

 private:
  std::vector<PathProcess> processes_;
  std::vector<ProcCost> spent_;
  std::vector<ProcCost> start_;
  bool per_thread_ = false;
  std::vector<std::map<pid_t, ThreadCost>> thread_start_;
  std::vector<std::map<std::string, ProcCost>> thread_spent_;  // by thread name
};

}  // namespace smtpbridge::bench
