"""The example workers: the policy decisions with a fake clock, the conformance worker against every
vector (in-process), and both as real processes that exit 0 on SIGTERM."""
import json
import pathlib
import signal
import subprocess
import sys
import time

import conformance_worker  # noqa: E402
import grpc
import policy_worker  # noqa: E402
import pytest
from conftest import EXAMPLES, make_request
from google.protobuf import json_format

from smtpbridge import EventContext, pb

V = pb.verdict_pb2
VECTORS = pathlib.Path(__file__).resolve().parents[3] / "tests" / "vectors" / "cases"


def mail(sender, client="192.0.2.1", **props):
    return EventContext(make_request(keyword="MAIL", sender=sender, client=client, properties=props))


def test_policy_deny_and_allow_lists(clock):
    policy = policy_worker.SenderPolicy(clock)
    props = dict(deny_domains="spam.example, bad.example", allow_domains="partner.example")
    denied = policy.decide(mail("x@mx.spam.example", **props)).to_proto()
    assert denied.action == V.ACTION_REJECT and denied.reply.code == 550
    assert list(denied.tags) == ["sender-denied"] and denied.cache_scope == V.CACHE_SCOPE_SENDER
    assert list(policy.decide(mail("a@partner.example", **props)).to_proto().tags) == ["sender-allowed"]
    assert policy.decide(mail("a@notspam.example", **props)).to_proto().action == V.ACTION_CONTINUE


def test_policy_rate_limit_per_client_address(clock):
    policy = policy_worker.SenderPolicy(clock)
    props = dict(rate_limit="2", rate_window_s="60", allow_domains="partner.example")
    actions = [policy.decide(mail("a@example.org", "192.0.2.1", **props)).to_proto().action for _ in range(3)]
    assert actions == [V.ACTION_CONTINUE, V.ACTION_CONTINUE, V.ACTION_TEMPFAIL]
    limited = policy.decide(mail("a@example.org", "192.0.2.1", **props)).to_proto()
    assert limited.reply.code == 451 and "rate-limited" in limited.tags
    assert policy.decide(mail("a@example.org", "192.0.2.2", **props)).to_proto().action == V.ACTION_CONTINUE
    assert policy.decide(mail("a@partner.example", "192.0.2.1", **props)).to_proto().action == V.ACTION_CONTINUE
    clock.advance(30)
    assert policy.decide(mail("a@example.org", "192.0.2.1", **props)).to_proto().action == V.ACTION_CONTINUE


def _cases():
    for path in sorted(VECTORS.glob("*.json")):
        for case in json.loads(path.read_text()):
            yield pytest.param(case, id=case["name"])


@pytest.mark.parametrize("case", list(_cases()))
async def test_conformance_worker_in_process(case):
    request = pb.SinkRequest()
    json_format.ParseDict(case["event"], request.event)
    request.event.session.instance = 7
    request.binding.name = case["name"]
    request.binding.sink_properties.update(case["binding"].get("sink_properties", {}))
    ctx = EventContext(request)
    if case.get("expected_outcome") == "SINK_OUTCOME_KIND_ERROR":
        # The handler's own error (fail=1) or the SDK refusing the verdict it built.
        with pytest.raises((RuntimeError, ValueError)):
            await conformance_worker.worker.dispatch(ctx)
        return
    expected_json = json.dumps(case["expected"]).replace("${instance}", "7").replace("${binding}", case["name"])
    expected = json_format.Parse(expected_json, V.Verdict())
    assert await conformance_worker.worker.dispatch(ctx) == expected


@pytest.mark.parametrize("script", ["conformance_worker.py", "policy_worker.py"])
def test_example_process_serves_and_exits_cleanly_on_sigterm(tmp_path, script):
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / script), "--listen", "127.0.0.1:0",
                             "--ready-file", str(ready)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), proc.stderr.read().decode() if proc.poll() is not None else "not ready"
        with grpc.insecure_channel(ready.read_text().strip()) as channel:
            verdict = pb.PolicySinkStub(channel).OnEvent(make_request(keyword="MAIL", sender="a@b.example"), timeout=10)
        assert verdict.action == V.ACTION_CONTINUE
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
