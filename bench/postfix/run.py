#!/usr/bin/env python3
"""bench/postfix: the same smtp-source load against Postfix alone, Postfix + a pymilter filter,
and Postfix + smtpbridge-milter + dispatcher + example worker (policy: reject RCPT to
blocked@...), side by side, loaded in turn for a few rounds. Prints messages/s per round, the
medians and their ratios. Needs root (Postfix)."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
from postfix_instance import PostfixInstance, free_port, postfix_available  # noqa: E402


def start(work, name, argv):
    ready = os.path.join(work, name + ".ready")
    log = open(os.path.join(work, name + ".log"), "w")
    proc = subprocess.Popen(argv + ["--ready-file", ready], stdout=log, stderr=log)
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


def wait_port(port, timeout=20):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(procs):
    """User + system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for p in procs:
        try:
            fields = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy():
    """(busy, total) jiffies of all CPUs so far (/proc/stat): tells a CPU-bound run from a
    latency-bound one."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def load(port, sessions, messages, groups=None, cpu=None, busy=None):
    """smtp-source: `messages` messages over `sessions` parallel sessions; returns msg/s."""
    # A short warm-up opens the milter/gRPC channels and starts the smtpd processes.
    subprocess.run(["smtp-source", "-s", str(sessions), "-m", str(sessions * 2), "-f", "bench@example.com",
                    "-t", "ok@example.net", f"127.0.0.1:{port}"], capture_output=True, timeout=120)
    groups = groups or {}
    c0 = {name: cpu_seconds(procs) for name, procs in groups.items()}
    b0 = machine_busy()
    t0 = time.monotonic()
    r = subprocess.run(["smtp-source", "-s", str(sessions), "-m", str(messages), "-f", "bench@example.com",
                        "-t", "ok@example.net", f"127.0.0.1:{port}"], capture_output=True, text=True,
                       timeout=600)
    elapsed = time.monotonic() - t0
    b1 = machine_busy()
    if busy is not None:
        busy.append((b1[0] - b0[0]) / max(1, b1[1] - b0[1]))
    if cpu is not None:
        for name, procs in groups.items():
            cpu[name] = (cpu_seconds(procs) - c0[name]) / messages * 1e6
    if r.returncode != 0 or "fatal" in r.stderr:
        raise RuntimeError("smtp-source failed: " + r.stderr[-500:])
    return messages / elapsed


def start_smtpbridge(work, binp):
    """Example worker (rejects RCPT to blocked@...) -> dispatcher (one RCPT binding) -> milter."""
    procs = []
    wproc, worker = start(work, "worker", [binp("smtpbridge-example-worker"), "--listen", "127.0.0.1:0",
                                           "--reject-rcpt", "blocked@*", "--log-level", "warn"])
    procs.append(wproc)
    bindings = os.path.join(work, "bindings.yaml")
    with open(bindings, "w") as f:
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
    dproc, dispatcher = start(work, "dispatcher", [binp("smtpbridge-dispatcher"), "--listen", "127.0.0.1:0",
                                                   "--bindings", bindings, "--log-level", "warn"])
    procs.append(dproc)
    mproc, milter = start(work, "milter", [binp("smtpbridge-milter"), "--listen", "inet:127.0.0.1:0",
                                           "--dispatcher", "ipv4:" + dispatcher, "--log-level", "warn"])
    procs.append(mproc)
    return procs, milter


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="folder with smtpbridge-milter, -dispatcher, -example-worker")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3, help="each round loads every setup once, in turn")
    args = ap.parse_args()
    if not postfix_available() or os.geteuid() != 0 or not shutil.which("smtp-source"):
        print("bench/postfix: needs root, postfix and smtp-source; skipped")
        return 0
    binp = lambda n: os.path.join(args.bin, n)  # noqa: E731
    work = tempfile.mkdtemp(prefix="smtpbridge-bench-postfix-")
    os.chmod(work, 0o755)
    names = ("postfix", "pymilter", "smtpbridge")
    rate = {n: [] for n in names}
    busy = {n: [] for n in names}
    cpu_rounds = []
    procs, instances = [], []
    try:
        # All three setups run side by side (idle Postfix instances cost nothing), so the rounds
        # can alternate between them and a change in the machine's load lands on each.
        pymilter_port = free_port()
        py = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "pymilter_filter.py"), str(pymilter_port)],
                              stdout=open(os.path.join(work, "pymilter.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(py)
        wait_port(pymilter_port)
        stack, milter = start_smtpbridge(work, binp)
        procs += stack
        mproc = stack[-1]
        milters = {"postfix": None, "pymilter": f"inet:127.0.0.1:{pymilter_port}", "smtpbridge": "inet:" + milter}
        ports = {}
        for name in names:
            pf = PostfixInstance(os.path.join(work, name), milter=milters[name], deliver="discard")
            pf.start()
            instances.append(pf)
            ports[name] = pf.port
        time.sleep(1)  # the sink learns the interests (GetInterests) before the load
        groups = {"postfix": {}, "pymilter": {"pymilter": [py]},
                  "smtpbridge": {"milter": [mproc], "stack": stack}}
        for r in range(args.rounds):
            cpu = {}
            for name in names:
                rate[name].append(load(ports[name], args.sessions, args.messages, groups[name], cpu, busy[name]))
            cpu_rounds.append(cpu)
            print(f"  round {r + 1}: " + ", ".join(f"{n} {rate[n][-1]:.0f} msg/s" for n in names) +
                  f"  (smtpbridge / pymilter {rate['smtpbridge'][-1] / rate['pymilter'][-1]:.2f}x)", flush=True)
        fallbacks = open(os.path.join(work, "milter.log")).read().count("sink fallback")

        result = {n: median(rate[n]) for n in names}
        print(f"bench/postfix: {args.messages} messages x {args.rounds} rounds, {args.sessions} smtp-source "
              f"sessions, {os.cpu_count()} CPUs; medians:")
        for name in names:
            print(f"  {name:<11} {result[name]:8.0f} msg/s  ({result[name] / result['postfix']:.2f}x Postfix alone)"
                  f"  machine busy {100 * median(busy[name]):.0f}%")
        ratio = result["smtpbridge"] / result["pymilter"]
        print(f"  smtpbridge / pymilter = {ratio:.2f}x (target >= 1.5x)")
        print(f"{'PASS' if ratio >= 1.5 else 'FAIL'} postfix ratio {ratio:.2f} {'>=' if ratio >= 1.5 else '<'} 1.5 "
              f"(median of {args.rounds} rounds)")
        print(f"  fallback warnings in the milter log: {fallbacks}")
        cpu = {k: median([c[k] for c in cpu_rounds]) for k in cpu_rounds[0]}
        print(f"  CPU per message: pymilter {cpu['pymilter']:.0f} us; smtpbridge-milter {cpu['milter']:.0f} us, "
              f"with dispatcher and worker {cpu['stack']:.0f} us")
        print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        return 0
    finally:
        for pf in instances:
            pf.stop()
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
