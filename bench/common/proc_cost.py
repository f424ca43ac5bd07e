#!/usr/bin/env python3
"""What a round of load cost the processes on the measured path: CPU time (utime + stime of every
thread, exited ones included: the process's CPU-time clock, in nanoseconds; /proc/<pid>/stat's
10 ms ticks where that clock is unavailable) and context switches (voluntary + involuntary,
summed over /proc/<pid>/task/*/status), per process and in total, per decision. The Python twin
of bench/common/proc_cost.{h,cc}; see bench/README.md.

As a module:
    path = PathCost({"milter": pid, "dispatcher": pid2, "worker": pid3})
    path.begin(); ...load...; path.end()          # rounds add up
    path.cpu_us(n), path.ctxt(n), path.per_process(n), path.summary(n)
From a shell (bench/smtp):
    proc_cost.py snap NAME=PID... > before.json
    proc_cost.py diff before.json NAME=PID... --decisions N [--json]
"""

import json
import os
import sys
import time

TCK = os.sysconf("SC_CLK_TCK")


def cpu_clock(pid):
    """The process's CPU-time clock (every thread, exited ones too) in seconds, or None. The
    clock id is glibc's clock_getcpuclockid(): MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2) / 1e9
    except OSError:
        return None


def read(pid):
    """(cpu_seconds, voluntary, involuntary) of a process so far; zeros when it is gone."""
    base = f"/proc/{pid}"
    try:
        with open(f"{base}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TCK
    except (OSError, IndexError, ValueError):
        return (0.0, 0, 0)
    precise = cpu_clock(pid)
    if precise is not None:
        cpu = precise
    vol = invol = 0
    try:
        tasks = os.listdir(f"{base}/task")
    except OSError:
        tasks = []
    for tid in tasks:
        try:
            with open(f"{base}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split(":")[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol += int(line.split(":")[1])
        except (OSError, ValueError):
            pass  # the thread ended meanwhile
    return (cpu, vol, invol)


def read_threads(pid):
    """{tid: (name, cpu_seconds, voluntary, involuntary)} of a live process's threads (CPU from
    schedstat, in nanoseconds)."""
    out = {}
    base = f"/proc/{pid}/task"
    try:
        tids = os.listdir(base)
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"{base}/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"{base}/{tid}/schedstat") as f:
                cpu = int(f.read().split()[0]) / 1e9
            vol = invol = 0
            with open(f"{base}/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol = int(line.split(":")[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol = int(line.split(":")[1])
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        out[int(tid)] = (name, cpu, vol, invol)
    return out


def read_all(pids):
    """Sum of read() over several pids (a process group like Postfix's smtpd + cleanup...)."""
    total = [0.0, 0, 0]
    for pid in pids:
        for i, v in enumerate(read(pid)):
            total[i] += v
    return tuple(total)


class PathCost:
    """`processes`: name -> pid, or name -> list of pids, or name -> callable returning pids
    (re-read at each begin/end: processes that come and go, e.g. Postfix's smtpd).
    `per_thread`: also what each thread spent, summed by thread name (threads that end inside a
    round lose what they spent in it; the process totals keep it)."""

    def __init__(self, processes, per_thread=False):
        self.processes = dict(processes)
        self.spent = {name: [0.0, 0, 0] for name in self.processes}
        self._start = {}
        self.per_thread = per_thread
        self.threads = {name: {} for name in self.processes}  # name -> thread name -> [cpu, vol, invol]
        self._thread_start = {}

    def _pids(self, name):
        p = self.processes[name]
        if callable(p):
            p = p()
        return p if isinstance(p, (list, tuple, set)) else [p]

    def begin(self):
        self._start = {name: read_all(self._pids(name)) for name in self.processes}
        if self.per_thread:
            self._thread_start = {name: {(pid, tid): t for pid in self._pids(name)
                                         for tid, t in read_threads(pid).items()}
                                  for name in self.processes}

    def end(self):
        for name in self.processes:
            now = read_all(self._pids(name))
            for i in range(3):
                self.spent[name][i] += now[i] - self._start[name][i]
            if not self.per_thread:
                continue
            for pid in self._pids(name):
                for tid, t in read_threads(pid).items():
                    was = self._thread_start[name].get((pid, tid))
                    acc = self.threads[name].setdefault(t[0], [0.0, 0, 0])
                    for i in range(3):
                        acc[i] += t[i + 1] - (was[i + 1] if was else 0)

    def per_thread_lines(self, decisions):
        """One line per process: its threads by name, the most CPU first."""
        n = max(decisions, 1)
        lines = []
        for name, threads in self.threads.items():
            items = sorted(threads.items(), key=lambda kv: -kv[1][0])
            lines.append(f"{name}: " + " | ".join(f"{t} {c[0] * 1e6 / n:.0f} us {(c[1] + c[2]) / n:.2f} cs"
                                                  for t, c in items if c[0] > 0 or c[1] + c[2] > 0))
        return lines

    def cpu_us(self, decisions, name=None):
        names = [name] if name else self.processes
        return sum(self.spent[n][0] for n in names) * 1e6 / max(decisions, 1)

    def ctxt(self, decisions, name=None):
        names = [name] if name else self.processes
        return sum(self.spent[n][1] + self.spent[n][2] for n in names) / max(decisions, 1)

    def per_process(self, decisions):
        return " | ".join(f"{n} {self.cpu_us(decisions, n):.0f} us {self.ctxt(decisions, n):.2f} cs"
                          for n in self.processes)

    def summary(self, decisions):
        return f"cpu {self.cpu_us(decisions):.0f} us/dec, {self.ctxt(decisions):.2f} cs/dec"

    def as_dict(self, decisions):
        d = {n: {"cpu_us": self.cpu_us(decisions, n), "ctxt": self.ctxt(decisions, n)} for n in self.processes}
        d["total"] = {"cpu_us": self.cpu_us(decisions), "ctxt": self.ctxt(decisions)}
        return d


def _parse_pairs(args):
    procs = {}
    for a in args:
        name, _, pids = a.partition("=")
        procs[name] = [int(p) for p in pids.split(",") if p]
    return procs


def main(argv):
    if len(argv) >= 2 and argv[1] == "snap":
        procs = _parse_pairs(argv[2:])
        json.dump({n: read_all(p) for n, p in procs.items()}, sys.stdout)
        print()
        return 0
    if len(argv) >= 3 and argv[1] == "diff":
        with open(argv[2]) as f:
            before = json.load(f)
        rest = argv[3:]
        decisions, as_json = 1, False
        if "--json" in rest:
            rest.remove("--json")
            as_json = True
        if "--decisions" in rest:
            i = rest.index("--decisions")
            decisions = float(rest[i + 1])
            del rest[i:i + 2]
        path = PathCost(_parse_pairs(rest))
        for name in path.processes:
            now = read_all(path._pids(name))
            path.spent[name] = [now[i] - before[name][i] for i in range(3)]
        if as_json:
            json.dump(path.as_dict(decisions), sys.stdout)
            print()
        else:
            print(f"{path.summary(decisions)} ({path.per_process(decisions)})")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
