#!/usr/bin/env python3
"""End to end against a real Postfix 3.7: smtpbridge-milter and smtpbridge-policyd in front of
the real dispatcher and workers, mail submitted with swaks and smtp-source.

  P1 (Postfix) -> milter A (instance 1) : RCPT blocked@* rejected by the example worker,
                                          X-Policy header added at end of message
  P2 (Postfix) -> milter B (instance 2) : every message quarantined (conformance worker edit)
               -> policyd  (instance 3) : RCPT denied@* rejected through check_policy_service
  both: RCPT bare@* rejected with a reply that is a code alone ("554"), which must still reach
        the client as a rejection (554 5.7.1)

Exit 77 (ctest: skipped) when Postfix, swaks or root are missing. Needs root: Postfix's master
runs as root."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postfix_instance import PostfixInstance, postfix_available  # noqa: E402

SKIP = 77


class Stack:
    """Child processes started with --ready-file; stopped (SIGTERM, then SIGKILL) in reverse."""

    def __init__(self, work):
        self.work = work
        self.procs = []

    def start(self, name, argv):
        ready = os.path.join(self.work, name + ".ready")
        log = open(os.path.join(self.work, name + ".log"), "w")
        proc = subprocess.Popen(argv + ["--ready-file", ready], stdout=log, stderr=log)
        self.procs.append((name, proc))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(ready) and open(ready).read().strip():
                return open(ready).read().strip()
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {log.name}")
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not become ready; see {log.name}")

    def stop(self):
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def swaks(port, to, header="Subject: e2e", sender="sender@example.com"):
    args = ["swaks", "--server", f"127.0.0.1:{port}", "--from", sender, "--header", header,
            "--timeout", "30"]
    args += ["--to", ",".join(to)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def bindings_yaml(example, conformance):
    return f"""\
bindings:
  - name: milter-reject-rcpt
    instance: 1
    event: INBOUND_COMMAND
    rule: RCPT
    priority: 100
    sink: ipv4:{example}
    timeout: 2s
    on_error: continue
  - name: milter-add-header
    instance: 1
    event: INBOUND_COMMAND
    rule: _EOD
    priority: 100
    sink: ipv4:{example}
    timeout: 2s
    on_error: continue
  - name: milter-quarantine
    instance: 2
    event: INBOUND_COMMAND
    rule: _EOD
    priority: 100
    sink: ipv4:{conformance}
    sink_properties:
      edits: "quarantine:held by smtpbridge e2e"
    timeout: 2s
    on_error: continue
  # A REJECT whose reply is a code alone: each host must still make Postfix reject (a bare
  # "554" was a malformed milter reply, and an all-numerical policy action means OK).
  - name: milter-bare-code
    instance: 1
    event: INBOUND_COMMAND
    rule: RCPT TO=bare@*
    priority: 50
    sink: ipv4:{conformance}
    sink_properties:
      verdict: reject
      reply: "554"
    timeout: 2s
    on_error: continue
  - name: policy-bare-code
    instance: 3
    event: INBOUND_COMMAND
    rule: RCPT TO=bare@*
    priority: 50
    sink: ipv4:{conformance}
    sink_properties:
      verdict: reject
      reply: "554"
    timeout: 2s
    on_error: continue
  - name: policy-reject-rcpt
    instance: 3
    event: INBOUND_COMMAND
    rule: RCPT
    priority: 100
    sink: ipv4:{example}
    timeout: 2s
    on_error: continue
"""


class Checks:
    def __init__(self):
        self.failures = []
        self.passed = 0

    def expect(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failures.append(what)
            print(f"FAIL {what}\n{detail}")


def main():
    ap = argparse.ArgumentParser()
    for flag in ("--milter", "--policyd", "--dispatcher", "--worker", "--conformance-worker"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    if not postfix_available() or shutil.which("swaks") is None or shutil.which("smtp-source") is None:
        print("skipped: postfix, swaks or smtp-source not installed")
        return SKIP
    if os.geteuid() != 0:
        print("skipped: a throwaway Postfix instance needs root")
        return SKIP

    work = tempfile.mkdtemp(prefix="smtpbridge-e2e-")
    os.chmod(work, 0o755)
    stack = Stack(work)
    instances = []
    checks = Checks()
    try:
        example = stack.start("example-worker", [args.worker, "--listen", "127.0.0.1:0",
                                                 "--reject-rcpt", "blocked@*", "--reject-rcpt", "denied@*",
                                                 "--add-header", "X-Policy: checked"])
        conformance = stack.start("conformance-worker", [args.conformance_worker, "--listen", "127.0.0.1:0"])
        bindings = os.path.join(work, "bindings.yaml")
        with open(bindings, "w") as f:
            f.write(bindings_yaml(example, conformance))
        dispatcher = stack.start("dispatcher", [args.dispatcher, "--listen", "127.0.0.1:0",
                                                "--bindings", bindings])
        # Generous budgets: this test checks behaviour, and the first call opens the channels.
        budgets = ["--budget-command", "2s", "--budget-eom", "2s", "--dispatcher", "ipv4:" + dispatcher]
        milter_a = stack.start("milter-a", [args.milter, "--listen", "inet:127.0.0.1:0", "--instance", "1",
                                            "--log-level", "debug"] + budgets)
        milter_b = stack.start("milter-b", [args.milter, "--listen", "unix:" + os.path.join(work, "milter-b.sock"),
                                            "--instance", "2"] + budgets)
        os.chmod(os.path.join(work, "milter-b.sock"), 0o666)
        policyd = stack.start("policyd", [args.policyd, "--listen", "127.0.0.1:0", "--instance", "3",
                                          "--budget", "2s", "--dispatcher", "ipv4:" + dispatcher])

        p1 = PostfixInstance(os.path.join(work, "p1"), milter="inet:" + milter_a)
        instances.append(p1)
        p1.start()
        p2 = PostfixInstance(os.path.join(work, "p2"), milter="unix:" + os.path.join(work, "milter-b.sock"),
                             policy="inet:" + policyd)
        instances.append(p2)
        p2.start()

        # 1. A recipient rejected by the milter, the other delivered with the added header.
        r = swaks(p1.port, ["blocked@example.net", "ok@example.net"], header="Subject: e2e-milter")
        checks.expect("550 5.7.1 Recipient <blocked@example.net> blocked by policy" in r.stdout,
                      "milter: RCPT blocked@ rejected with the worker's reply", r.stdout[-2000:])
        checks.expect("queued as" in r.stdout, "milter: message accepted for ok@", r.stdout[-1000:])
        delivered = p1.wait_delivered("Subject: e2e-milter")
        checks.expect(delivered is not None and "X-Policy: checked" in delivered,
                      "milter: delivered message carries X-Policy: checked", (delivered or p1.log())[-2000:])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "to=<ok@example.net>, relay=mbox" not in p1.log():
            time.sleep(0.1)
        log = p1.log()
        checks.expect("to=<ok@example.net>, relay=mbox" in log and "to=<blocked@example.net>, relay" not in log,
                      "milter: only the accepted recipient was delivered", log[-1500:])

        # 2. Load through the milter: every message gets through (smtp-source fails on a refused command).
        src = subprocess.run(["smtp-source", "-s", "4", "-m", "40", "-f", "load@example.com",
                              "-t", "ok@example.net", f"127.0.0.1:{p1.port}"],
                             capture_output=True, text=True, timeout=120)
        checks.expect(src.returncode == 0 and "fatal" not in src.stderr,
                      "milter: smtp-source 4 sessions x 40 messages accepted", src.stderr[-1000:])
        deadline = time.monotonic() + 30
        count = 0
        while time.monotonic() < deadline:
            count = p1.delivered().count("From load@example.com")
            if count >= 40:
                break
            time.sleep(0.2)
        checks.expect(count == 40, f"milter: all 40 load messages delivered (got {count})")

        # 3. Quarantine: accepted, then held in P2's queue.
        r = swaks(p2.port, ["someone@example.net"], header="Subject: e2e-quarantine")
        checks.expect("queued as" in r.stdout, "quarantine: message accepted", r.stdout[-1000:])
        held = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not held:
            held = p2.held_ids()
            time.sleep(0.2)
        checks.expect(len(held) == 1, "quarantine: message is in the hold queue", p2.queue() + p2.log()[-1500:])
        if held:
            checks.expect("e2e-quarantine" in p2.postcat(held[0]), "quarantine: postcat shows the held message")
        checks.expect(p2.wait_delivered("e2e-quarantine", timeout=1) is None, "quarantine: nothing delivered")

        # 4. The policy service rejects a recipient (and the milter on P2 is not involved in it).
        r = swaks(p2.port, ["denied@example.net"], header="Subject: e2e-policy")
        checks.expect("Recipient address rejected" in r.stdout and "blocked by policy" in r.stdout,
                      "policy: RCPT denied@ rejected through check_policy_service", r.stdout[-2000:])
        r = swaks(p2.port, ["fine@example.net"], header="Subject: e2e-policy-ok")
        checks.expect("queued as" in r.stdout, "policy: other recipients pass (DUNNO)", r.stdout[-1000:])

        # 5. A reply that is a code alone still rejects, on both hosts (docs/verdicts.md section 3).
        r = swaks(p1.port, ["bare@example.net"], header="Subject: e2e-bare-milter")
        checks.expect("554 5.7.1" in r.stdout and "queued as" not in r.stdout,
                      "milter: REJECT with a bare 554 is a 554 5.7.1", r.stdout[-1500:] + p1.log()[-800:])
        r = swaks(p2.port, ["bare@example.net"], header="Subject: e2e-bare-policy")
        checks.expect("554 5.7.1" in r.stdout and "queued as" not in r.stdout,
                      "policy: REJECT with a bare 554 is a 554 5.7.1", r.stdout[-1500:] + p2.log()[-800:])
    except Exception:  # noqa: BLE001 - report any setup failure as a test failure
        traceback.print_exc()
        checks.failures.append("setup")
    finally:
        for inst in instances:
            inst.stop()
        stack.stop()
        if checks.failures:
            for name in os.listdir(work):
                if name.endswith(".log"):
                    print(f"--- {name} (tail)")
                    print(open(os.path.join(work, name), errors="replace").read()[-1500:])
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("work directory:", work)
    print(f"{checks.passed} checks passed, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
