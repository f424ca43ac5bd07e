#!/usr/bin/env python3
"""The README example of one SDK behind the real stack: smtp-sink (next hop) <- smtpbridge-proxy
-> smtpbridge-dispatcher (dispatcher_service/examples/bindings.yaml, sinks pointed at the worker)
-> the worker. swaks sends one message to a blocked recipient (mixed case, as a client may) and an
allowed one: the blocked one must get the worker's 550, the delivered message the worker's
X-Policy header.

    readme_stack.py NAME -- WORKER_COMMAND...   (the worker gets --listen 127.0.0.1:0 --ready-file F)

Binaries come from $SMTPBRIDGE_BUILD_DIR/bin (default <repo>/build/release/bin). Without them, or
without swaks or smtp-sink, it says why and exits 0 (the SDK's own tests still ran); with
SMTPBRIDGE_REQUIRE_E2E=1 a missing piece is a failure. Loopback only, ports chosen by the system.
"""
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, work: pathlib.Path) -> None:
        self.work = work
        self.procs = []

    def start(self, name, argv, ready=True, env=None):
        log = open(self.work / f"{name}.log", "w")
        path = self.work / f"{name}.ready"
        proc = subprocess.Popen(argv + (["--ready-file", str(path)] if ready else []), stdout=log,
                                stderr=subprocess.STDOUT, env=env)
        self.procs.append((name, proc))
        if not ready:
            return None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip():
                return path.read_text().strip()
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not become ready:\n{self.log(name)}")

    def log(self, name) -> str:
        return (self.work / f"{name}.log").read_text()[-3000:]

    def stop(self) -> dict:
        codes = {}
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            codes[name] = proc.returncode
        return codes


def roomy(bindings: str) -> str:
    """Every binding gets a 2 s timeout: this checks behaviour, and on a busy machine the first
    calls (channel set-up, a cold interpreter) could miss a tight one and fall back to on_error."""
    out = []
    for line in bindings.splitlines():
        if re.match(r"^\s+timeout:", line):
            continue
        out.append(line)
        m = re.match(r"^(\s*)- name:", line)
        if m:
            out.append(" " * (len(m.group(1)) + 2) + "timeout: 2s")
    return "\n".join(out) + "\n"


def main() -> int:
    name, sep, worker = sys.argv[1], sys.argv[2], sys.argv[3:]
    assert sep == "--" and worker, __doc__
    build = pathlib.Path(os.environ.get("SMTPBRIDGE_BUILD_DIR", REPO / "build" / "release"))
    binaries = {b: build / "bin" / b for b in ("smtpbridge-dispatcher", "smtpbridge-proxy")}
    missing = [str(p) for p in binaries.values() if not os.access(p, os.X_OK)]
    missing += [t for t in ("swaks", "smtp-sink") if shutil.which(t) is None]
    if missing:
        print(f"{name} README example behind the stack: skipped, missing {', '.join(missing)}")
        return 1 if os.environ.get("SMTPBRIDGE_REQUIRE_E2E") == "1" else 0

    work = pathlib.Path(tempfile.mkdtemp(prefix=f"smtpbridge-readme-{name}-"))
    os.chmod(work, 0o777)  # smtp-sink drops privileges before writing its dumps
    mail = work / "mail"
    mail.mkdir()
    os.chmod(mail, 0o777)
    stack = Stack(work)
    ok = False
    try:
        address = stack.start("worker", worker + ["--listen", "127.0.0.1:0", "--log-level", "debug"])
        bindings = (REPO / "dispatcher_service" / "examples" / "bindings.yaml").read_text()
        (work / "bindings.yaml").write_text(roomy(re.sub(r"ipv4:127\.0\.0\.1:\d+", f"ipv4:{address}", bindings)))
        dispatcher = stack.start("dispatcher", [str(binaries["smtpbridge-dispatcher"]), "--listen", "127.0.0.1:0",
                                                "--bindings", str(work / "bindings.yaml")])
        next_hop = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        stack.start("next-hop", ["smtp-sink", *user, "-d", f"{mail}/%H%M%S.", "-h", "next-hop.example",
                                 f"127.0.0.1:{next_hop}", "16"], ready=False)
        # Generous budgets: this checks behaviour, and the first calls open the channels.
        (work / "proxy.yaml").write_text("budgets:\n  default: 2s\n  _EOD: 2s\n")
        proxy = stack.start("proxy", [str(binaries["smtpbridge-proxy"]), "--listen", "127.0.0.1:0",
                                      "--next-hop", f"127.0.0.1:{next_hop}", "--dispatcher", f"ipv4:{dispatcher}",
                                      "--config", str(work / "proxy.yaml")])
        host, port = proxy.rsplit(":", 1)
        swaks = subprocess.run(["swaks", "--server", host, "--port", port, "--from", "sender@example.com",
                                "--to", "Blocked@Example.COM,ok@example.com", "--header", f"Subject: readme-{name}",
                                "--timeout", "30"], capture_output=True, text=True, timeout=120)
        out = swaks.stdout
        checks = [
            ("550 5.7.1 recipient blocked" in out, "the blocked recipient got the worker's 550"),
            ("queued" in out.lower() or "250 " in out.split("DATA")[-1], "the message was accepted for ok@"),
        ]
        delivered = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "readme-" not in delivered:
            delivered = "".join(p.read_text(errors="replace") for p in mail.iterdir() if p.is_file())
            time.sleep(0.1)
        checks.append(("X-Policy: checked" in delivered, "the delivered message carries X-Policy: checked"))
        rcpts = re.findall(r"^X-Rcpt-Args: <([^>]*)>", delivered, re.M)  # smtp-sink's envelope lines
        checks.append((rcpts == ["ok@example.com"], f"only the allowed recipient reached the next hop ({rcpts})"))
        failed = [what for good, what in checks if not good]
        for good, what in checks:
            print(f"{name} README example: {'ok' if good else 'FAILED'}: {what}")
        if failed:
            print(out[-3000:], "\n--- delivered\n", delivered[-2000:], "\n--- worker log\n", stack.log("worker"))
        ok = not failed
    finally:
        codes = stack.stop()
    if ok and codes.get("worker") != 0:
        print(f"{name} README example: FAILED: worker exit status {codes.get('worker')} after SIGTERM")
        ok = False
    if ok:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"logs kept in {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
