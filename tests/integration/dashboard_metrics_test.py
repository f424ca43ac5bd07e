#!/usr/bin/env python3
"""Every metric the Grafana dashboard queries is one the binaries export.

Reads helm/smtpbridge/dashboards/smtpbridge.json, takes the metric names out of each PromQL
expression (panels' targets and the template variables' label_values), then starts the real
smtpbridge-example-worker, smtpbridge-dispatcher and smtpbridge-policyd (a host: its sink's
metrics) on loopback with --metrics-listen, sends one policy request through them, scrapes both
/metrics endpoints and checks each name is there (a histogram's _bucket/_sum/_count count as its
family). Also checks the dashboard covers what #10 asks (latency by binding, verdicts by action,
fallbacks by reason, breaker state, shed events) and that the chart ships this file.

    dashboard_metrics_test.py --dashboard FILE --chart-dir DIR --dispatcher BIN --worker BIN --policyd BIN
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, List, Set

# Words of PromQL that look like identifiers but are not metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan", "atan2"}
IDENT = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)")

# What #10 asks the dashboard to show, as the metric each needs.
REQUIRED = {
    "latency by binding": "smtpbridge_dispatcher_binding_call_seconds_bucket",
    "verdicts by action": "smtpbridge_dispatcher_decisions_total",
    "fallbacks by reason": "smtpbridge_sink_fallbacks_total",
    "breaker state": "smtpbridge_sink_breaker_open",
    "shed events": "smtpbridge_dispatcher_shed_total",
}


def metric_names(expr: str) -> Set[str]:
    """The metric names one PromQL expression selects (a small tokenizer, not a full parser)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', " ", expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    # Label lists of grouping and vector matching modifiers.
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in IDENT.finditer(text):
        word = m.group(1)
        rest = text[m.end():].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("("):  # a function or an aggregation
            continue
        names.add(word)
    return names


def dashboard_queries(node) -> Iterable[str]:
    """Every PromQL expression in the dashboard: targets' expr, and label_values(...) metrics."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            elif key in ("query", "definition") and isinstance(value, str):
                for m in re.finditer(r"label_values\(\s*([^,)]+)", value):
                    yield m.group(1)  # a series selector
            else:
                yield from dashboard_queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from dashboard_queries(item)


def exported(scrape: str) -> Dict[str, str]:
    """name -> type of each sample name in a Prometheus text exposition (families by TYPE too)."""
    types: Dict[str, str] = {}
    names: Dict[str, str] = {}
    for line in scrape.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            names[name] = ""
    for name in names:
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in types:
                family = name[: -len(suffix)]
        names[name] = types.get(family, "untyped")
    return names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: List[str], name: str, tmp: Path, procs: list) -> str:
    """Starts a server with --ready-file and returns the address it wrote there."""
    ready = tmp / f"{name}.ready"
    log = open(tmp / f"{name}.log", "wb")
    procs.append((name, subprocess.Popen(argv + ["--ready-file", str(ready)], stdout=log, stderr=log)))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text().strip():
            return ready.read_text().strip()
        if procs[-1][1].poll() is not None:
            break
        time.sleep(0.02)
    sys.exit(f"{name} did not become ready:\n{(tmp / f'{name}.log').read_text()}")


def policy_request(port: int, recipient: str) -> str:
    request = ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
               "client_address=192.0.2.1\nclient_name=client.example\nhelo_name=client.example\n"
               f"sender=alice@example.org\nrecipient={recipient}\ninstance=1a2b.3c\n\n")
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(request.encode())
        answer = b""
        while b"\n\n" not in answer:
            chunk = s.recv(512)
            if not chunk:
                break
            answer += chunk
    return answer.decode(errors="replace")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dashboard", required=True, type=Path)
    ap.add_argument("--chart-dir", required=True, type=Path)
    ap.add_argument("--dispatcher", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--policyd", required=True)
    args = ap.parse_args()
    failures: List[str] = []

    dashboard = json.loads(args.dashboard.read_text())
    queried: Set[str] = set()
    for expr in dashboard_queries(dashboard):
        queried |= metric_names(expr)
    print(f"dashboard queries {len(queried)} metric names")
    for what, name in REQUIRED.items():
        if name not in queried:
            failures.append(f"the dashboard has no panel for {what} ({name})")
    template = "\n".join(p.read_text() for p in (args.chart_dir / "templates").glob("*.yaml"))
    rel = args.dashboard.relative_to(args.chart_dir).as_posix()
    if f'.Files.Get "{rel}"' not in template:
        failures.append(f"no chart template ships {rel}")

    procs: list = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            worker = start([args.worker, "--listen", "127.0.0.1:0", "--log-level", "warn",
                            "--reject-rcpt", "blocked@*"], "worker", tmp, procs)
            bindings = tmp / "bindings.yaml"
            bindings.write_text("bindings:\n  - {name: rcpt, instance: 1, event: INBOUND_COMMAND, "
                                f"rule: RCPT, sink: \"ipv4:{worker}\", timeout: 5s}}\n")
            dispatcher_metrics = free_port()
            dispatcher = start([args.dispatcher, "--listen", "127.0.0.1:0", "--bindings", str(bindings),
                                "--metrics-listen", f"127.0.0.1:{dispatcher_metrics}",
                                "--log-level", "warn"], "dispatcher", tmp, procs)
            policyd_metrics = free_port()
            policyd = start([args.policyd, "--listen", "127.0.0.1:0", "--dispatcher", f"ipv4:{dispatcher}",
                             "--budget", "5s", "--metrics-listen", f"127.0.0.1:{policyd_metrics}",
                             "--log-level", "warn"], "policyd", tmp, procs)
            answer = policy_request(int(policyd.rsplit(":", 1)[1]), "blocked@example.com")
            if "action=5" not in answer:
                failures.append(f"the worker's reject did not come back through policyd: {answer!r}")
            names = exported(scrape(dispatcher_metrics))
            names.update(exported(scrape(policyd_metrics)))
        finally:
            for name, p in reversed(procs):
                p.send_signal(signal.SIGTERM)
            for name, p in procs:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    for name in sorted(queried):
        if name not in names:
            failures.append(f"the dashboard queries {name}, which no binary exports")
        elif name.endswith("_bucket") and names[name] != "histogram":
            failures.append(f"{name} is not a histogram's buckets ({names[name]})")
    for f in failures:
        print("FAIL:", f)
    if failures:
        print("exported:", ", ".join(sorted(n for n in names if n.startswith("smtpbridge_"))))
        return 1
    print("every metric the dashboard queries is exported:", ", ".join(sorted(queried)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
