#!/usr/bin/env python3
"""bench/postfix: the same smtp-source load against Postfix set up six ways, side by side, loaded
in turn for a few rounds (so a change in the machine's load lands on each):

  postfix      Postfix alone
  null         Postfix + bench_null_milter (C++, answers continue at once: the limit a milter
               can reach; negotiates what smtpbridge-milter does for one RCPT binding)
  pymilter     Postfix + a pymilter filter that rejects RCPT to blocked@... (one process)
  smtpbridge   Postfix + smtpbridge-milter + dispatcher + example worker, the same policy (one
               RCPT binding: every RCPT evaluated remotely)
  policy-py    Postfix + a minimal asyncio policy daemon (check_policy_service), the same rule
  policyd      Postfix + smtpbridge-policyd + dispatcher + example worker, the same rule

For each: msg/s per round and the median, how busy the machine was (a CPU-bound setup shows
~100 %, a latency-bound one less), and the cost of its filter path per message from /proc
(bench/common/proc_cost.py): CPU (user + system) and context switches of every process of the
path (milter / policy server, dispatcher, worker), per process and in total. PASS/FAIL lines use
CPU per message where the baseline is latency-bound (pymilter over TCP stalls on Nagle / delayed
ACK: see bench/README.md) and msg/s where it is not. Needs root (Postfix).

--pin puts Postfix (every process of each instance) and smtp-source on CPU 0 and the filter
processes on the other CPUs (taskset), so the MTA and the filters do not compete for a core.
--socket unix runs the three milters on unix sockets instead of loopback TCP."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from postfix_instance import PostfixInstance, free_port, postfix_available  # noqa: E402
from proc_cost import PathCost  # noqa: E402

SETUPS = ("postfix", "null", "pymilter", "smtpbridge", "policy-py", "policyd")
# Issue #15's targets (ratios in one run).
SMTPBRIDGE_VS_NULL_MSGS = 0.9        # msg/s, >=
SMTPBRIDGE_VS_PYMILTER_CPU = 1.0     # filter path CPU per message, <=
SMTPBRIDGE_PATH_CPU_US = 480         # whole milter path, absolute, <= (the peer figure)
POLICYD_VS_ASYNCIO_CPU = 2.0         # <=
POLICYD_VS_ASYNCIO_MSGS = 1.0        # >=


def start(work, name, argv, prefix=()):
    ready = os.path.join(work, name + ".ready")
    log = open(os.path.join(work, name + ".log"), "w")
    proc = subprocess.Popen(list(prefix) + argv + ["--ready-file", ready], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if os.path.exists(ready) and open(ready).read().strip():
            return proc, open(ready).read().strip()
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited; see {log.name}")
        time.sleep(0.05)
    raise RuntimeError(f"{name} not ready; see {log.name}")


def stop(procs):
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_port(port=None, path=None, timeout=20):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(1)
                s.connect(path)
                s.close()
            else:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {path or port}")


def descendants(root):
    """root and every process below it (Postfix's master and the daemons it started)."""
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(pid))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def pin(pids, cpus):
    for pid in pids:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:
            pass  # gone meanwhile


def machine_busy():
    """(busy, total) jiffies of all CPUs so far (/proc/stat)."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def smtp_source(port, sessions, messages, prefix):
    return subprocess.run(list(prefix) + ["smtp-source", "-s", str(sessions), "-m", str(messages), "-f",
                                          "bench@example.com", "-t", "ok@example.net", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=600)


def load(port, sessions, messages, path, prefix):
    """smtp-source: `messages` messages over `sessions` parallel sessions. Returns (msg/s, machine
    busy share, machine CPU us per message); `path` (a PathCost) accumulates its processes' cost."""
    # A short warm-up opens the milter/gRPC channels and starts the smtpd processes.
    smtp_source(port, sessions, sessions * 2, prefix)
    b0 = machine_busy()
    path.begin()
    t0 = time.monotonic()
    r = smtp_source(port, sessions, messages, prefix)
    elapsed = time.monotonic() - t0
    path.end()
    b1 = machine_busy()
    if r.returncode != 0 or "fatal" in r.stderr:
        raise RuntimeError("smtp-source failed: " + r.stderr[-500:])
    busy = (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
    machine_us = (b1[0] - b0[0]) / os.sysconf("SC_CLK_TCK") * 1e6 / messages
    return messages / elapsed, busy, machine_us


def bindings_file(work, worker):
    path = os.path.join(work, "bindings.yaml")
    with open(path, "w") as f:
        f.write(f"""bindings:
  - name: reject-blocked
    instance: 1
    event: INBOUND_COMMAND
    rule: RCPT
    priority: 100
    sink: ipv4:{worker}
    timeout: 50ms
    on_error: continue
""")
    return path


def median(values):
    values = sorted(values)
    if not values:
        return 0
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def pass_fail(ok, text):
    print(f"{'PASS' if ok else 'FAIL'} {text}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="folder with smtpbridge-milter, -policyd, -dispatcher, "
                    "-example-worker and bench_null_milter")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3, help="each round loads every setup once, in turn")
    ap.add_argument("--setups", default=",".join(SETUPS), help="comma-separated subset of " + ",".join(SETUPS))
    ap.add_argument("--pin", action="store_true", help="Postfix + smtp-source on CPU 0, filters on the others")
    ap.add_argument("--socket", choices=("tcp", "unix"), default="tcp", help="the milters' socket")
    ap.add_argument("--per-thread", action="store_true",
                    help="also print each filter process's CPU and switches per message by thread name")
    args = ap.parse_args()
    if not postfix_available() or os.geteuid() != 0 or not shutil.which("smtp-source"):
        print("bench/postfix: needs root, postfix and smtp-source; skipped")
        return 0
    names = [n for n in args.setups.split(",") if n]
    unknown = [n for n in names if n not in SETUPS]
    if unknown:
        ap.error(f"unknown setups {unknown}")
    binp = lambda n: os.path.join(args.bin, n)  # noqa: E731
    Cost = lambda procs: PathCost(procs, per_thread=args.per_thread)  # noqa: E731
    ncpu = os.cpu_count() or 1
    if args.pin and ncpu < 2:
        ap.error("--pin needs 2 CPUs or more")
    mta_cpus = {0}
    filter_prefix = ["taskset", "-c", f"1-{ncpu - 1}"] if args.pin else []
    load_prefix = ["taskset", "-c", "0"] if args.pin else []

    work = tempfile.mkdtemp(prefix="smtpbridge-bench-postfix-")
    os.chmod(work, 0o755)
    rate = {n: [] for n in names}
    busy = {n: [] for n in names}
    machine = {n: [] for n in names}
    paths = {}
    procs, instances = [], []

    def milter_spec(name):
        """(listen argument, Postfix milter spec) for a milter of ours."""
        if args.socket == "unix":
            sock = os.path.join(work, name + ".sock")
            return "unix:" + sock, "unix:" + sock
        return "inet:127.0.0.1:0", None

    try:
        # Every setup runs side by side (idle Postfix instances cost nothing), so the rounds can
        # alternate between them.
        specs = {"postfix": (None, None)}
        stack = None

        def smtpbridge_stack():
            nonlocal stack
            if stack is None:
                wproc, worker = start(work, "worker", [binp("smtpbridge-example-worker"), "--listen", "127.0.0.1:0",
                                                       "--reject-rcpt", "blocked@*", "--log-level", "warn"],
                                      filter_prefix)
                procs.append(wproc)
                dproc, dispatcher = start(work, "dispatcher", [binp("smtpbridge-dispatcher"), "--listen",
                                                               "127.0.0.1:0", "--bindings",
                                                               bindings_file(work, worker), "--log-level", "warn"],
                                          filter_prefix)
                procs.append(dproc)
                stack = (wproc, dproc, dispatcher)
            return stack

        if "null" in names:
            listen, spec = milter_spec("null")
            nproc, bound = start(work, "null", [binp("bench_null_milter"), "--listen", listen], filter_prefix)
            procs.append(nproc)
            specs["null"] = (spec or "inet:" + bound, Cost({"null milter": nproc.pid}))
        if "pymilter" in names:
            if args.socket == "unix":
                sock = os.path.join(work, "pymilter.sock")
                conn, spec = "unix:" + sock, "unix:" + sock
            else:
                port = free_port()
                conn, spec = f"inet:{port}@127.0.0.1", f"inet:127.0.0.1:{port}"
            py = subprocess.Popen(filter_prefix + ["/usr/bin/python3", os.path.join(HERE, "pymilter_filter.py"), conn],
                                  stdout=open(os.path.join(work, "pymilter.log"), "w"), stderr=subprocess.STDOUT)
            procs.append(py)
            if args.socket == "unix":
                wait_port(path=sock)
                os.chmod(sock, 0o666)
            else:
                wait_port(int(spec.rsplit(":", 1)[1]))
            specs["pymilter"] = (spec, Cost({"pymilter": py.pid}))
        if "smtpbridge" in names:
            wproc, dproc, dispatcher = smtpbridge_stack()
            listen, spec = milter_spec("milter")
            mproc, bound = start(work, "milter", [binp("smtpbridge-milter"), "--listen", listen, "--dispatcher",
                                                  "ipv4:" + dispatcher, "--log-level", "warn"], filter_prefix)
            procs.append(mproc)
            if args.socket == "unix":
                os.chmod(listen[5:], 0o666)
            specs["smtpbridge"] = (spec or "inet:" + bound,
                                   Cost({"milter": mproc.pid, "dispatcher": dproc.pid, "worker": wproc.pid}))
        if "policy-py" in names:
            port = free_port()
            pp = subprocess.Popen(filter_prefix + [sys.executable, os.path.join(HERE, "policy_asyncio.py"), str(port)],
                                  stdout=open(os.path.join(work, "policy-py.log"), "w"), stderr=subprocess.STDOUT)
            procs.append(pp)
            wait_port(port)
            specs["policy-py"] = (f"inet:127.0.0.1:{port}", Cost({"asyncio policy": pp.pid}))
        if "policyd" in names:
            wproc, dproc, dispatcher = smtpbridge_stack()
            pdproc, bound = start(work, "policyd", [binp("smtpbridge-policyd"), "--listen", "127.0.0.1:0",
                                                    "--dispatcher", "ipv4:" + dispatcher, "--log-level", "warn"],
                                  filter_prefix)
            procs.append(pdproc)
            specs["policyd"] = ("inet:" + bound,
                                Cost({"policyd": pdproc.pid, "dispatcher": dproc.pid, "worker": wproc.pid}))

        ports = {}
        for name in names:
            spec, path = specs[name]
            paths[name] = path or PathCost({})
            policy = name in ("policy-py", "policyd")
            pf = PostfixInstance(os.path.join(work, name), milter=None if policy else spec,
                                 policy=spec if policy else None, deliver="discard")
            pf.start()
            instances.append(pf)
            ports[name] = pf.port
        time.sleep(1)  # the sinks learn the interests (GetInterests) before the load
        if args.pin:
            for pf in instances:
                # smtpd, cleanup... started later are forked by master and inherit its affinity.
                master = pf.master_pid()
                if master is None:
                    raise RuntimeError(f"no master.pid for {pf.base}: cannot pin it")
                pin(descendants(master), mta_cpus)
            print(f"pinned: Postfix and smtp-source on CPU 0, filter processes on CPUs 1-{ncpu - 1}")

        for r in range(args.rounds):
            for name in names:
                msgs, b, m = load(ports[name], args.sessions, args.messages, paths[name], load_prefix)
                rate[name].append(msgs)
                busy[name].append(b)
                machine[name].append(m)
            print(f"  round {r + 1}: " + ", ".join(f"{n} {rate[n][-1]:.0f} msg/s" for n in names), flush=True)

        result = {n: median(rate[n]) for n in names}
        total = args.messages * args.rounds
        print(f"bench/postfix: {args.messages} messages x {args.rounds} rounds, {args.sessions} smtp-source "
              f"sessions, {ncpu} CPUs, milters on {args.socket}{', pinned' if args.pin else ''}; medians:")
        print(f"  {'setup':<11} {'msg/s':>8} {'x alone':>8} {'busy':>5}  {'path cpu/msg':>12} {'cs/msg':>7}"
              f"  {'machine cpu/msg':>15}  per process (per message)")
        for name in names:
            alone = result.get("postfix")
            x = f"{result[name] / alone:.2f}x" if alone else "-"
            p = paths[name]
            per = p.per_process(total) if p.processes else "(Postfix only)"
            print(f"  {name:<11} {result[name]:8.0f} {x:>8} {100 * median(busy[name]):4.0f}%  "
                  f"{p.cpu_us(total):9.0f} us {p.ctxt(total):7.2f}  {median(machine[name]):12.0f} us  {per}")
        if args.per_thread:
            print("  per thread, per message (threads that ended inside a round are left out):")
            for name in names:
                for line in paths[name].per_thread_lines(total) if paths[name].processes else []:
                    print(f"    {name:<11} {line}")
        print("  path cpu/msg: the filter path's processes (user + system); machine cpu/msg: every CPU's busy "
              "time (Postfix, smtp-source and anything else running) per message")

        def ratio(a, b, what):
            return (what(a) / what(b)) if what(b) > 0 else 0.0
        msgs = lambda n: result[n]  # noqa: E731
        cpu = lambda n: paths[n].cpu_us(total)  # noqa: E731
        cs = lambda n: paths[n].ctxt(total)  # noqa: E731
        if "smtpbridge" in names and "null" in names:
            r_msgs, r_cpu = ratio("smtpbridge", "null", msgs), ratio("smtpbridge", "null", cpu)
            print(f"  smtpbridge / null milter: {r_msgs:.2f}x msg/s, {r_cpu:.2f}x path CPU per message, "
                  f"{ratio('smtpbridge', 'null', cs):.2f}x context switches")
            pass_fail(r_msgs >= SMTPBRIDGE_VS_NULL_MSGS,
                      f"smtpbridge msg/s {r_msgs:.2f}x the null milter's (target >= {SMTPBRIDGE_VS_NULL_MSGS}x)")
        if "smtpbridge" in names and "pymilter" in names:
            r_msgs, r_cpu = ratio("smtpbridge", "pymilter", msgs), ratio("smtpbridge", "pymilter", cpu)
            print(f"  smtpbridge / pymilter: {r_msgs:.2f}x msg/s, {r_cpu:.2f}x path CPU per message, "
                  f"{ratio('smtpbridge', 'pymilter', cs):.2f}x context switches (pymilter "
                  f"stalls on Nagle / delayed ACK over TCP, so its msg/s is latency-bound there: judged on CPU)")
            pass_fail(0 < r_cpu <= SMTPBRIDGE_VS_PYMILTER_CPU,
                      f"smtpbridge path CPU per message {r_cpu:.2f}x pymilter's (target <= {SMTPBRIDGE_VS_PYMILTER_CPU}x)")
        if "smtpbridge" in names:
            c = cpu("smtpbridge")
            pass_fail(c <= SMTPBRIDGE_PATH_CPU_US,
                      f"smtpbridge milter path {c:.0f} us CPU per message (absolute target <= {SMTPBRIDGE_PATH_CPU_US} us)")
        if "policyd" in names and "policy-py" in names:
            r_msgs, r_cpu = ratio("policyd", "policy-py", msgs), ratio("policyd", "policy-py", cpu)
            print(f"  policyd / asyncio policy daemon: {r_msgs:.2f}x msg/s, {r_cpu:.2f}x path CPU per message, "
                  f"{ratio('policyd', 'policy-py', cs):.2f}x context switches")
            pass_fail(0 < r_cpu <= POLICYD_VS_ASYNCIO_CPU,
                      f"policy host path CPU per message {r_cpu:.2f}x the asyncio daemon's (target <= {POLICYD_VS_ASYNCIO_CPU}x)")
            pass_fail(r_msgs >= POLICYD_VS_ASYNCIO_MSGS,
                      f"policy host msg/s {r_msgs:.2f}x the asyncio daemon's (target >= {POLICYD_VS_ASYNCIO_MSGS}x)")
        for name, log in (("smtpbridge", "milter.log"), ("policyd", "policyd.log")):
            if name in names:
                count = open(os.path.join(work, log)).read().count("sink fallback")
                print(f"  fallback warnings in the {name} log: {count}")
        print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {ncpu} CPUs")
        return 0
    finally:
        for pf in instances:
            pf.stop()
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
