#!/usr/bin/env python3
"""Conformance runner: drives each language's conformance worker behind a real smtpbridge-dispatcher
with the vectors in tests/vectors/cases/ (contract: tests/vectors/SPEC.md).

    tests/conformance/run.sh [--languages cpp,python,go,node,unary-raw] [--build-dir build/release/bin]
                             [--allow-missing] [--prepare] [--cases GLOB] [--direct]
                             [--transports OnEvent,OnEvents] [-v]

Each vector runs through the dispatcher (whichever transport it negotiates with the worker), then
straight to the worker over each PolicySink transport: unary OnEvent, and the batched OnEvents
stream (every case in a few SinkRequests messages, answers matched by stream_id). Prints one line
per language and a closing `N passed, N failed` (one check per case and pass); exits non-zero on
any unexpected result (a failing case not in known_failures/<lang>.txt, a listed case that
passes, or a worker answering OnEvents UNIMPLEMENTED without `OnEvents` listed there).
"""
from __future__ import annotations

import argparse
import copy
import fnmatch
import ipaddress
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import grpc
from google.protobuf import json_format

from smtpbridge import pb
from smtpbridge.enums import EventType, OnError

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
VECTORS = REPO / "tests" / "vectors" / "cases"
LANGUAGES = ["cpp", "python", "go", "node", "unary-raw"]
TRANSPORTS = ["OnEvent", "OnEvents"]
STREAM_BATCH = 16  # requests per SinkRequests message on the OnEvents pass
STREAM_DEADLINE_S = 10.0  # the whole OnEvents pass of one language
CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
START_TIMEOUT_S = 180.0   # `go run` may compile first
STOP_TIMEOUT_S = 10.0
EVALUATE_DEADLINE_S = 15.0
DEFAULT_BUDGET = "5s"
ANSWERED = "SINK_OUTCOME_KIND_ANSWERED"
ERROR = "SINK_OUTCOME_KIND_ERROR"


class SetupError(Exception):
    """Something the run needs is broken (bad vector, process did not start): not a case failure."""


# --------------------------------------------------------------------------------------------------
# vectors

@dataclass
class Case:
    name: str
    description: str
    source: str
    event_name: str
    rule: str
    sink_properties: Dict[str, str]
    on_error: str
    timeout: str
    body_limit: Optional[int]
    event: pb.Event
    expected_json: dict
    expected_outcome: str
    instance: int = 0

    def expected(self) -> pb.Verdict:
        text = json.dumps(self.expected_json)
        text = text.replace("${instance}", str(self.instance)).replace("${binding}", self.name)
        return json_format.Parse(text, pb.Verdict())


def load_cases(folder: pathlib.Path) -> List[Case]:
    cases: List[Case] = []
    seen: Dict[str, str] = {}
    files = sorted(folder.glob("*.json"))
    if not files:
        raise SetupError(f"no vector files in {folder}")
    for path in files:
        try:
            entries = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise SetupError(f"{path}: not JSON: {err}") from None
        if not isinstance(entries, list):
            raise SetupError(f"{path}: want a JSON array of cases")
        for i, entry in enumerate(entries):
            where = f"{path.name}[{i}]"
            try:
                case = _parse_case(entry, where)
            except (KeyError, TypeError, ValueError, json_format.ParseError) as err:
                raise SetupError(f"{where} ({entry.get('name', '?') if isinstance(entry, dict) else '?'}): {err}") from None
            if case.name in seen:
                raise SetupError(f"{where}: duplicate case name {case.name!r} (also in {seen[case.name]})")
            seen[case.name] = where
            cases.append(case)
    for index, case in enumerate(cases):
        case.instance = index + 1
    return cases


def _parse_case(entry: dict, where: str) -> Case:
    unknown = set(entry) - {"name", "description", "binding", "event", "expected", "expected_outcome"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    name = entry["name"]
    if not name or any(c.isspace() for c in name):
        raise ValueError("name must be non-empty without spaces")
    b = entry["binding"]
    unknown = set(b) - {"event", "rule", "sink_properties", "on_error", "timeout", "body_limit"}
    if unknown:
        raise ValueError(f"binding: unknown keys {sorted(unknown)}")
    event_name = EventType.parse(b["event"]).name
    on_error = OnError.parse(b.get("on_error", "continue")).name.lower()
    props = b.get("sink_properties", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in props.items()):
        raise ValueError("sink_properties must map strings to strings")
    event = json_format.ParseDict(entry["event"], pb.Event())
    if event.type != EventType[event_name]:
        raise ValueError(f"event.type {pb.event_pb2.EventType.Name(event.type)} does not match binding.event {event_name}")
    outcome = entry.get("expected_outcome", ANSWERED)
    if outcome not in (ANSWERED, ERROR):
        raise ValueError(f"expected_outcome must be {ANSWERED} or {ERROR}")
    expected = entry["expected"]
    json_format.ParseDict(json.loads(json.dumps(expected).replace("${instance}", "1")), pb.Verdict())
    return Case(name=name, description=entry.get("description", ""), source=where, event_name=event_name,
                rule=b.get("rule", "*"), sink_properties=dict(props), on_error=on_error,
                timeout=b.get("timeout", "3s"), body_limit=b.get("body_limit"), event=event,
                expected_json=expected, expected_outcome=outcome)


def event_for(case: Case) -> pb.Event:
    event = pb.Event()
    event.CopyFrom(case.event)
    event.session.instance = case.instance
    if not event.event_id:
        event.event_id = f"conformance-{case.instance}"
    if not event.session.session_id:
        event.session.session_id = f"conformance-session-{case.instance}"
    if not event.session.host_kind:
        event.session.host_kind = pb.event_pb2.HOST_KIND_TEST
    if not event.HasField("budget"):
        json_format.Parse(json.dumps(DEFAULT_BUDGET), event.budget)
    return event


def bindings_yaml(cases: List[Case], sink: str) -> str:
    q = json.dumps  # a JSON string is a valid YAML double-quoted scalar
    out = ["# generated by tests/conformance/run.py: one binding per vector, each on its own instance",
           "bindings:"]
    for case in cases:
        out += [f"  - name: {q(case.name)}",
                f"    instance: {case.instance}",
                f"    event: {q(case.event_name)}",
                f"    rule: {q(case.rule)}",
                "    priority: 24575",
                f"    sink: {q(sink)}"]
        if case.sink_properties:
            out.append("    sink_properties:")
            out += [f"      {q(k)}: {q(v)}" for k, v in case.sink_properties.items()]
        else:
            out.append("    sink_properties: {}")
        out += [f"    timeout: {q(case.timeout)}",
                f"    on_error: {q(case.on_error)}",
                "    mode: \"enforce\"",
                "    enabled: true"]
        if case.body_limit is not None:
            out.append(f"    body_limit: {int(case.body_limit)}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------
# comparison

def normalized(verdict: pb.Verdict) -> pb.Verdict:
    out = pb.Verdict()
    out.CopyFrom(verdict)
    if out.action == pb.verdict_pb2.ACTION_UNSPECIFIED:
        out.action = pb.verdict_pb2.ACTION_CONTINUE
    return out


def _flatten(value, prefix: str, out: Dict[str, object]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else k, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}[{i}]", out)
        if not value:
            out[prefix] = []
    else:
        out[prefix] = value


def verdict_diff(expected: pb.Verdict, actual: pb.Verdict) -> List[str]:
    """Field-by-field: `- path: expected` / `+ path: actual`."""
    e: Dict[str, object] = {}
    a: Dict[str, object] = {}
    _flatten(json_format.MessageToDict(expected, preserving_proto_field_name=True), "", e)
    _flatten(json_format.MessageToDict(actual, preserving_proto_field_name=True), "", a)
    lines = []
    for key in sorted(set(e) | set(a)):
        if e.get(key) != a.get(key):
            if key in e:
                lines.append(f"- {key}: {json.dumps(e[key])}")
            if key in a:
                lines.append(f"+ {key}: {json.dumps(a[key])}")
    return lines


def action_name(action: int) -> str:
    return pb.verdict_pb2.Action.Name(action)


def check_evaluate(case: Case, response: pb.EvaluateResponse) -> List[str]:
    """Problems with a dispatcher answer; empty when the case passes."""
    expected = normalized(case.expected())
    merged = normalized(response.verdict)
    outcome = next((o for o in response.outcomes if o.binding == case.name), None)
    problems: List[str] = []
    if response.outcomes and outcome is None:
        problems.append(f"no outcome for binding {case.name!r} (got {[o.binding for o in response.outcomes]})")
        return problems
    if outcome is not None:
        kind = pb.dispatcher_pb2.SinkOutcomeKind.Name(outcome.kind)
        if kind != case.expected_outcome:
            problems.append(f"outcome {kind}, want {case.expected_outcome}"
                            + (f" (error: {outcome.error})" if outcome.error else ""))
            return problems
        actual = normalized(outcome.verdict)
    else:
        actual = merged  # a dispatcher without explain support: the merged verdict is all we have
    if case.expected_outcome == ERROR:
        if actual.action != expected.action:
            problems.append(f"on_error verdict action {action_name(actual.action)}, want {action_name(expected.action)}")
    elif actual != expected:
        problems.append("verdict differs (- expected, + actual):")
        problems += ["    " + line for line in verdict_diff(expected, actual)]
    if merged.action != expected.action:
        problems.append(f"merged verdict action {action_name(merged.action)}, want {action_name(expected.action)}")
    return problems


def check_direct(case: Case, verdict: Optional[pb.Verdict], error: Optional[str]) -> List[str]:
    """A worker's own answer (no dispatcher): `error` is the status ("CODE: message") if it failed."""
    expected = normalized(case.expected())
    if case.expected_outcome == ERROR:
        if error is None:
            return [f"worker answered {action_name(verdict.action)}, want an error status"]
        return []
    if error is not None:
        return [f"worker failed: {error}"]
    actual = normalized(verdict)
    if actual == expected:
        return []
    return ["verdict differs (- expected, + actual):"] + ["    " + l for l in verdict_diff(expected, actual)]


# --------------------------------------------------------------------------------------------------
# processes

class Process:
    """A child started in its own process group, so `go run` and friends stop with it."""

    def __init__(self, label: str, argv: List[str], cwd: pathlib.Path, workdir: pathlib.Path) -> None:
        self.label = label
        self.ready_file = workdir / f"{label}.ready"
        self.log_path = workdir / f"{label}.log"
        self.argv = argv + ["--listen", "127.0.0.1:0", "--ready-file", str(self.ready_file)]
        self._log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as err:
            self._log.close()
            raise SetupError(f"{label}: cannot start {' '.join(self.argv)}: {err}") from None

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                text = self.ready_file.read_text()
                if text.endswith("\n") and text.strip():
                    return text.strip()
            if self.proc.poll() is not None:
                raise SetupError(f"{self.label} exited with status {self.proc.returncode} before it was ready\n"
                                 + self.log_tail())
            time.sleep(0.05)
        raise SetupError(f"{self.label} not ready after {timeout:.0f}s\n" + self.log_tail())

    def stop(self) -> Optional[int]:
        """SIGTERM the group, then SIGKILL it if it lingers; returns the exit status."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:  # children of a wrapper (go run) may outlive it
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        return self.proc.returncode

    def sanitizer_reports(self) -> List[str]:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        markers = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")
        return [line for line in text if any(m in line for m in markers)]

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join(f"    | {line}" for line in text)


def sink_target(address: str) -> str:
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"dns:///{host}:{port}"
    return f"ipv4:{host}:{port}" if ip.version == 4 else f"ipv6:[{host}]:{port}"


# --------------------------------------------------------------------------------------------------
# languages

@dataclass
class WorkerSpec:
    name: str
    command: List[str]
    cwd: pathlib.Path
    requires: List[str]
    prepare: List[List[str]] = field(default_factory=list)
    transports: List[str] = field(default_factory=lambda: list(TRANSPORTS))  # what it serves
    properties: Optional[List[str]] = None  # only cases using these sink_properties (None: all)

    def covers(self, case: Case) -> bool:
        if self.properties is None:
            return True
        used = set(case.sink_properties)
        if case.sink_properties.get("reason") == "@echo":
            used.add("@echo")
        return used <= set(self.properties)


def load_workers(path: pathlib.Path, build_dir: pathlib.Path) -> Dict[str, WorkerSpec]:
    subst = {"{repo}": str(REPO), "{build_dir}": str(build_dir), "{python}": sys.executable}

    def expand(text: str) -> str:
        for k, v in subst.items():
            text = text.replace(k, v)
        return text

    raw = json.loads(path.read_text())["workers"]
    specs = {}
    for name, w in raw.items():
        spec = WorkerSpec(name, [expand(a) for a in w["command"]], pathlib.Path(expand(w.get("cwd", "{repo}"))),
                          [expand(r) for r in w.get("requires", [])],
                          [[expand(a) for a in cmd] for cmd in w.get("prepare", [])],
                          list(w.get("transports", TRANSPORTS)), w.get("properties"))
        if "OnEvent" not in spec.transports or set(spec.transports) - set(TRANSPORTS):
            raise SetupError(f"{path}: {name}: transports must include OnEvent, from {TRANSPORTS}")
        specs[name] = spec
    return specs


def missing_requirements(spec: WorkerSpec) -> List[str]:
    missing = []
    for req in spec.requires:
        if "/" in req:
            if not pathlib.Path(req).exists():
                missing.append(req)
        elif shutil.which(req) is None:
            missing.append(f"{req} (not on PATH)")
    return missing


def prepare(spec: WorkerSpec, workdir: pathlib.Path) -> None:
    for argv in spec.prepare:
        log = workdir / f"{spec.name}-prepare.log"
        with open(log, "ab") as out:
            status = subprocess.call(argv, cwd=spec.cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        if status != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise SetupError(f"{spec.name}: prepare step `{' '.join(argv)}` failed ({status}):\n{tail}")


def read_known_failures(lang: str, cases: List[Case]) -> Dict[str, str]:
    """Case name -> why. The line `OnEvents` (a transport, not a case) says the worker answers
    OnEvents UNIMPLEMENTED for now: the OnEvents pass then reports it instead of failing."""
    path = HERE / "known_failures" / f"{lang}.txt"
    known: Dict[str, str] = {}
    if not path.exists():
        return known
    names = {c.name for c in cases}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line, _, comment = raw.partition("#")
        line = line.strip()
        if not line:
            continue
        if line not in names and line != "OnEvents":
            raise SetupError(f"{path}:{number}: {line!r} is not a case name (stale entry?)")
        known[line] = comment.strip()
    return known


@dataclass
class LanguageResult:
    passed: int = 0
    failed: int = 0           # unexpected: unlisted failures + listed cases that pass
    known: int = 0            # listed and still failing
    report: List[str] = field(default_factory=list)
    passes: List[str] = field(default_factory=list)   # "dispatcher", "OnEvent", "OnEvents"
    notes: List[str] = field(default_factory=list)    # shown on the summary line


class Unimplemented(Exception):
    """The worker does not serve OnEvents: it answered UNIMPLEMENTED (or never answered)."""


def run_language(spec: WorkerSpec, cases: List[Case], args, workdir: pathlib.Path) -> LanguageResult:
    result = LanguageResult()
    known = read_known_failures(spec.name, cases)
    cases = [c for c in cases if spec.covers(c)]
    worker = Process(f"{spec.name}-worker", spec.command, spec.cwd, workdir)
    dispatcher: Optional[Process] = None
    passes: List[Tuple[str, List[Tuple[Case, List[str]]]]] = []
    stream_unimplemented: Optional[str] = None
    try:
        worker_address = worker.wait_ready()
        if not args.direct:
            bindings = workdir / f"{spec.name}-bindings.yaml"
            bindings.write_text(bindings_yaml(cases, sink_target(worker_address)))
            dispatcher = Process(f"{spec.name}-dispatcher",
                                 [str(args.dispatcher), "--bindings", str(bindings)], REPO, workdir)
            passes.append(("dispatcher", _run_dispatched(cases, dispatcher.wait_ready())))
        if "OnEvent" in args.transports:
            passes.append(("OnEvent", _run_direct(cases, worker_address)))
        if "OnEvents" in args.transports:
            try:
                passes.append(("OnEvents", _run_stream(cases, worker_address)))
            except Unimplemented as err:
                stream_unimplemented = str(err)
    except SetupError:
        raise
    except grpc.RpcError as err:
        raise SetupError(f"{spec.name}: gRPC failure outside a case: {err}") from None
    finally:
        stopped = [(dispatcher, dispatcher.stop())] if dispatcher is not None else []
        stopped.append((worker, worker.stop()))
    # SIGTERM must drain and exit 0; sanitizer builds report at exit, UBSan without changing it.
    for process, status in stopped:
        wrapper = process is worker and spec.command[:2] == ["go", "run"]  # go run reports -15
        if status != 0 and not wrapper:
            result.failed += 1
            result.report.append(f"  FAIL {process.label} exited with status {status} on SIGTERM (want 0)")
            result.report.append(process.log_tail())
        reports = process.sanitizer_reports()
        if reports:
            result.failed += 1
            result.report.append(f"  FAIL {process.label}: sanitizer reports in its log:")
            result.report += [f"    | {line}" for line in reports[:20]]
    if "OnEvents" in args.transports:
        _judge_stream_support(spec, known, stream_unimplemented, result)
    result.passes = [name for name, _ in passes]
    tally(spec.name, cases, known, passes, result, args.verbose)
    return result


def tally(lang: str, cases: List[Case], known: Dict[str, str],
          passes: List[Tuple[str, List[Tuple[Case, List[str]]]]], result: LanguageResult, verbose: bool) -> None:
    """Counts every (case, pass) check into result, against the known failures."""
    # A listed case is known while it fails in at least one pass (a dispatcher-side gap passes
    # direct); it is an unexpected pass once it passes in all of them.
    failing_somewhere = {case.name for _, outcomes in passes for case, problems in outcomes if problems}
    for case in cases:
        if case.name in known and case.name not in failing_somewhere and passes:
            result.failed += 1
            result.report.append(f"  UNEXPECTED PASS {case.name}: listed in known_failures/{lang}.txt; remove it")
    for name, outcomes in passes:
        for case, problems in outcomes:
            if not problems:
                result.passed += case.name not in known or case.name in failing_somewhere
            elif case.name in known:
                result.known += 1
                if verbose:
                    result.report.append(f"  known failure [{name}] {case.name}: {known[case.name] or 'listed'}")
            else:
                result.failed += 1
                result.report.append(f"  FAIL [{name}] {case.name} ({case.source}): {case.description}")
                result.report += [f"    {p}" for p in problems]


def _judge_stream_support(spec: WorkerSpec, known: Dict[str, str], unimplemented: Optional[str],
                          result: LanguageResult) -> None:
    """Whether the worker serving OnEvents or not is what workers.json and known_failures say."""
    listed = "OnEvents" in known
    if "OnEvents" not in spec.transports:  # an OnEvent-only worker, on purpose
        if unimplemented is None:
            result.failed += 1
            result.report.append(f"  FAIL {spec.name} serves OnEvents, but workers.json says it serves OnEvent only")
        else:
            result.passed += 1
            result.notes.append("OnEvents UNIMPLEMENTED as declared")
    elif unimplemented is not None:
        if listed:
            result.known += 1
            result.notes.append(f"OnEvents not served, listed in known_failures/{spec.name}.txt")
            result.report.append(f"  known failure [OnEvents] {spec.name}: {unimplemented}")
        else:
            result.failed += 1
            result.report.append(f"  FAIL [OnEvents] the {spec.name} worker does not serve OnEvents ({unimplemented}): "
                                 f"unary OnEvent only (list `OnEvents` in known_failures/{spec.name}.txt "
                                 "while that is expected)")
    elif listed:
        result.failed += 1
        result.report.append(f"  UNEXPECTED PASS [OnEvents] {spec.name} serves OnEvents: remove the `OnEvents` "
                             f"line from known_failures/{spec.name}.txt")


def _wait_for_channel(channel: grpc.Channel, what: str) -> None:
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
    except grpc.FutureTimeoutError:
        raise SetupError(f"cannot connect to the {what}") from None


def _run_dispatched(cases: List[Case], address: str) -> List[Tuple[Case, List[str]]]:
    out = []
    with grpc.insecure_channel(sink_target(address)) as channel:
        _wait_for_channel(channel, f"dispatcher at {address}")
        stub = pb.DispatcherStub(channel)
        for case in cases:
            request = pb.EvaluateRequest(event=event_for(case), explain=True)
            try:
                response = stub.Evaluate(request, timeout=EVALUATE_DEADLINE_S)
            except grpc.RpcError as err:
                out.append((case, [f"Dispatcher.Evaluate failed: {err.code().name}: {err.details()}"]))
                continue
            out.append((case, check_evaluate(case, response)))
    return out


def sink_request(case: Case, stream_id: int = 0) -> pb.SinkRequest:
    """What a dispatcher would send this case's worker (run.py's own, without a dispatcher)."""
    binding = pb.Binding(name=case.name, id=case.name, instance=case.instance,
                         event=EventType[case.event_name], rule=case.rule, priority=24575,
                         sink_properties=case.sink_properties, enabled=True,
                         on_error=OnError[case.on_error.upper()], body_limit=case.body_limit or 0)
    request = pb.SinkRequest(event=event_for(case), binding=binding, stream_id=stream_id)
    json_format.Parse(json.dumps("3s"), request.time_left)
    return request


def _run_direct(cases: List[Case], address: str) -> List[Tuple[Case, List[str]]]:
    out = []
    with grpc.insecure_channel(sink_target(address)) as channel:
        _wait_for_channel(channel, f"worker at {address}")
        stub = pb.PolicySinkStub(channel)
        for case in cases:
            try:
                verdict, error = stub.OnEvent(sink_request(case), timeout=EVALUATE_DEADLINE_S), None
            except grpc.RpcError as err:
                verdict, error = None, f"{err.code().name}: {err.details()}"
            out.append((case, check_direct(case, verdict, error)))
    return out


def _run_stream(cases: List[Case], address: str) -> List[Tuple[Case, List[str]]]:
    """Every case on one OnEvents stream, STREAM_BATCH requests a message, then a half-close;
    answers are matched by stream_id (case i has stream_id i + 1) in whatever order they come."""
    requests = [sink_request(case, i + 1) for i, case in enumerate(cases)]
    messages = [pb.sink_pb2.SinkRequests(requests=requests[i:i + STREAM_BATCH])
                for i in range(0, len(requests), STREAM_BATCH)]
    answers: Dict[int, pb.sink_pb2.SinkAnswer] = {}
    problems: List[str] = []
    with grpc.insecure_channel(sink_target(address)) as channel:
        _wait_for_channel(channel, f"worker at {address}")
        try:
            for message in pb.PolicySinkStub(channel).OnEvents(iter(messages), timeout=STREAM_DEADLINE_S):
                for answer in message.answers:
                    if answer.stream_id in answers or not 1 <= answer.stream_id <= len(cases):
                        problems.append(f"unexpected answer for stream_id {answer.stream_id}")
                    answers[answer.stream_id] = answer
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                raise Unimplemented(err.details() or "UNIMPLEMENTED") from None
            if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED and not answers:
                # A C++ async server whose generated service has OnEvents but never requests it
                # leaves the call waiting instead of answering UNIMPLEMENTED.
                raise Unimplemented(f"no answer at all in {STREAM_DEADLINE_S:.0f}s: the call hangs, as "
                                    "on a C++ async service that never requests OnEvents") from None
            problems.append(f"stream ended {err.code().name}: {err.details()}")
    out = []
    for i, case in enumerate(cases):
        answer = answers.get(i + 1)
        if answer is None:
            out.append((case, [f"no answer for stream_id {i + 1}"] + problems))
            continue
        error = (f"{CODE_NAMES.get(answer.error_code, answer.error_code)}: {answer.error_message}"
                 if answer.error_code else None)
        out.append((case, check_direct(case, answer.verdict if error is None else None, error) + problems))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", help="comma-separated subset of " + ",".join(LANGUAGES)
                        + " (default: every language whose toolchain/binary is present)")
    parser.add_argument("--build-dir", default=str(REPO / "build" / "release" / "bin"),
                        help="folder with smtpbridge-dispatcher and the C++ conformance worker (or the build tree holding it in bin/)")
    parser.add_argument("--dispatcher", help="dispatcher binary (default: BUILD_DIR/smtpbridge-dispatcher)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="skip requested languages whose toolchain or binary is missing instead of failing")
    parser.add_argument("--prepare", action="store_true",
                        help="run a language's 'prepare' commands (workers.json) when its worker is not built")
    parser.add_argument("--cases", default="*", help="only cases whose name matches this glob")
    parser.add_argument("--vectors", default=str(VECTORS), help="folder of vector files")
    parser.add_argument("--workers", default=str(HERE / "workers.json"))
    parser.add_argument("--direct", action="store_true",
                        help="no dispatcher: only call each worker's PolicySink directly (SDK development)")
    parser.add_argument("--transports", default=",".join(TRANSPORTS),
                        help="the direct passes after the dispatcher's, comma-separated subset of "
                        + ",".join(TRANSPORTS) + " (default: both; empty: none)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    args.transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    if set(args.transports) - set(TRANSPORTS) or (args.direct and not args.transports):
        parser.error(f"--transports takes a subset of {','.join(TRANSPORTS)} (not empty with --direct)")

    build_dir = pathlib.Path(args.build_dir).resolve()
    if (build_dir / "bin").is_dir():  # a build tree (build/release) rather than its bin folder
        build_dir = build_dir / "bin"
    args.dispatcher = pathlib.Path(args.dispatcher or build_dir / "smtpbridge-dispatcher").resolve()
    try:
        all_cases = load_cases(pathlib.Path(args.vectors))
        cases = [c for c in all_cases if fnmatch.fnmatchcase(c.name, args.cases)]
        if not cases:
            raise SetupError(f"no case matches {args.cases!r}")
        specs = load_workers(pathlib.Path(args.workers), build_dir)
    except SetupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.direct and not os.access(args.dispatcher, os.X_OK):
        print(f"error: no dispatcher at {args.dispatcher} (build smtpbridge-dispatcher or pass --build-dir)",
              file=sys.stderr)
        return 2

    explicit = args.languages is not None
    languages = [l.strip() for l in args.languages.split(",") if l.strip()] if explicit else LANGUAGES
    unknown = [l for l in languages if l not in specs]
    if unknown:
        print(f"error: unknown language(s) {unknown}; workers.json has {sorted(specs)}", file=sys.stderr)
        return 2

    total_passed = total_failed = 0
    unexpected = False
    with tempfile.TemporaryDirectory(prefix="smtpbridge-conformance-") as tmp:
        workdir = pathlib.Path(tmp)
        for lang in languages:
            spec = specs[lang]
            missing = missing_requirements(spec)
            if missing and args.prepare and spec.prepare:
                try:
                    prepare(spec, workdir)
                except SetupError as err:
                    print(f"{lang}: ERROR {err}")
                    unexpected = True
                    continue
                missing = missing_requirements(spec)
            if missing:
                if explicit and not args.allow_missing:
                    print(f"{lang}: ERROR missing {', '.join(missing)} (use --allow-missing to skip)")
                    unexpected = True
                else:
                    print(f"{lang}: skipped, missing {', '.join(missing)}")
                continue
            if not any(spec.covers(c) for c in cases):
                print(f"{lang}: skipped, no selected case uses only the properties it covers")
                continue
            started = time.monotonic()
            try:
                result = run_language(spec, cases, args, workdir)
            except SetupError as err:
                print(f"{lang}: ERROR {err}")
                unexpected = True
                continue
            took = time.monotonic() - started
            known = f", {result.known} known failures" if result.known else ""
            via = " + ".join("via dispatcher" if p == "dispatcher" else f"{p} direct" for p in result.passes)
            notes = "".join(f"; {n}" for n in result.notes)
            print(f"{lang}: {result.passed} passed, {result.failed} failed{known} ({via}{notes}, {took:.1f}s)")
            for line in result.report:
                print(line)
            total_passed += result.passed
            total_failed += result.failed
            unexpected |= result.failed > 0
            if result.failed:
                # Keep the logs of a failing run: copy them next to nothing else the tree owns.
                keep = pathlib.Path(tempfile.mkdtemp(prefix=f"smtpbridge-conformance-{lang}-"))
                for log in workdir.glob(f"{lang}-*"):
                    shutil.copy(log, keep)
                print(f"  kept logs and bindings in {keep}")
    print(f"{total_passed} passed, {total_failed} failed")
    return 1 if unexpected or total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
