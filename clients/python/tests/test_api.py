"""The API every SDK shares (docs/sdk.md): verdicts checked when built, the address helper,
traceparent on the event and in the logs, the README example as a process, the drain."""
import asyncio
import logging
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import grpc
import pytest
from conftest import make_request
from grpc_health.v1 import health_pb2, health_pb2_grpc

from smtpbridge import EventContext, Verdict, VerdictError, Worker, address_in, pb, same_address

V = pb.verdict_pb2
README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize("build", [
    lambda: Verdict.reject(250, "2.0.0", "ok"),                 # a 2xx reject
    lambda: Verdict.reject("250 2.0.0 ok"),
    lambda: Verdict.tempfail(550, "5.7.1", "no"),
    lambda: Verdict.drop_session(250),
    lambda: Verdict.respond(999),
    lambda: Verdict.reject(550, "4.7.1", "class mismatch"),
    lambda: Verdict.respond(250, "2.0", "bad enhanced syntax"),
    lambda: Verdict.reject(550, "5.7.1", "no\r\n250 ok"),       # CR/LF in reply text
    lambda: Verdict.continue_().add_header("X-A", "v\r\nX-Injected: yes"),
    lambda: Verdict.continue_().add_header("Bad Name", "v"),
    lambda: Verdict.continue_().insert_header(0, "X-A:", "v"),
    lambda: Verdict.continue_().change_header("", "v"),
    lambda: Verdict.continue_().with_command("RCPT TO:<a@b>\nRSET"),
    lambda: Verdict.continue_().append_command(" X=1\r"),
    lambda: Verdict.continue_().change_sender("a@b\r\n"),
    lambda: Verdict.continue_().cache_for(-1),
    lambda: Verdict.skip_recipient().with_reply(250, "2.0.0", "ok"),
])
def test_hostile_or_wrong_verdicts_fail_when_built(build):
    with pytest.raises(VerdictError):
        build()


def test_every_sdk_signature_builds_the_same_reply():
    structured = Verdict.reject(550, "5.7.1", "no", "thanks").to_proto()
    assert structured.reply == pb.SmtpReply(code=550, enhanced_code="5.7.1", lines=["no", "thanks"])
    assert Verdict.reject("550 5.7.1 no\nthanks").to_proto() == structured
    assert not Verdict.reject().to_proto().HasField("reply")
    assert Verdict.drop_session(554, "5.3.2", "bye").to_proto().reply.code == 554
    v = Verdict.continue_().with_command("MAIL FROM:<a@b>").append_command(" X=1").with_next_state("SESSION_END")
    assert v.to_proto().command.set_command == "MAIL FROM:<a@b>" and v.to_proto().command.append == " X=1"
    assert Verdict.continue_().cache_for(1.5).to_proto().cache_ttl.ToMilliseconds() == 1500
    assert Verdict.continue_().add_header("X-Folded", "a\tb").to_proto().edits[0].add_header.value == "a\tb"


def test_address_helper_ignores_case():
    assert address_in("Blocked@Example.COM", ["a@x", " blocked@example.com "])
    assert same_address("<A@B>", "a@b")
    assert not address_in("", [""]) and not address_in("a@b", ["a@c"])


def test_property_names_and_deprecated_aliases():
    ev = EventContext(make_request(properties={"blocked": "a@x, b@y", "n": "3"}))
    assert ev.property_list("blocked") == ["a@x", "b@y"] == ev.prop_list("blocked")
    assert ev.property("n") == "3" and ev.property_int("n") == 3 and ev.property("x", "d") == "d"


def test_traceparent_is_kept_only_when_well_formed():
    assert EventContext(make_request(), traceparent=TRACEPARENT).trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert EventContext(make_request(), traceparent="junk").traceparent == ""


async def test_traceparent_reaches_the_handler_and_the_log_line(caplog):
    worker = Worker("trace-worker")
    seen = []

    @worker.on_command("RCPT")
    async def rcpt(ev: EventContext) -> Verdict:
        seen.append(ev.traceparent)
        return Verdict.continue_()

    @worker.on_command("MAIL")
    async def mail(ev: EventContext) -> Verdict:
        raise RuntimeError("boom in the handler")

    address = await worker.start("127.0.0.1:0")
    try:
        with caplog.at_level(logging.DEBUG, logger="smtpbridge.worker"):
            async with grpc.aio.insecure_channel(address) as channel:
                stub = pb.PolicySinkStub(channel)
                md = (("traceparent", TRACEPARENT),)
                await stub.OnEvent(make_request(keyword="RCPT"), metadata=md, timeout=5)
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.OnEvent(make_request(keyword="MAIL"), metadata=md, timeout=5)
    finally:
        await worker.stop(grace=1)
    assert seen == [TRACEPARENT]
    event_lines = [r for r in caplog.records if r.levelno == logging.DEBUG and "event " in r.getMessage()]
    assert event_lines and "trace_id=4bf92f3577b34da6a3ce929d0e0e4736" in event_lines[0].getMessage()
    failed = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert failed and failed[0].exc_info is not None  # logged with its stack
    assert "trace_id=4bf92f3577b34da6a3ce929d0e0e4736" in failed[0].getMessage()


async def test_drain_turns_health_not_serving_while_a_call_finishes():
    worker = Worker("drain-worker", grace_period=10)
    entered, release = asyncio.Event(), asyncio.Event()

    @worker.on_connect
    async def slow(ev: EventContext) -> Verdict:
        entered.set()
        await release.wait()
        return Verdict.continue_().reason("finished")

    address = await worker.start("127.0.0.1:0")
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert (await health.Check(health_pb2.HealthCheckRequest(service=""))).status == \
            health_pb2.HealthCheckResponse.SERVING
        call = asyncio.ensure_future(pb.PolicySinkStub(channel).OnEvent(
            make_request(pb.event_pb2.EVENT_TYPE_CONNECT), timeout=20))
        await entered.wait()
        # A Watch stream is an open call, so it sees the flip a probe would see before the
        # listening socket closes.
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.ensure_future(worker.stop())
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert not call.done()
        watch.cancel()
        release.set()
        assert (await call).reason == "finished"
        await stopping


def _readme_example() -> str:
    text = README.read_text()
    block = re.search(r"<!-- readme-example -->\n```python\n(.*?)```", text, re.S)
    assert block, "README has no readme-example block"
    return block.group(1)


def test_readme_example_runs_with_env_flags_logs_and_drains(tmp_path):
    script = tmp_path / "readme_worker.py"
    script.write_text(_readme_example())
    ready = tmp_path / "ready"
    env = dict(os.environ, SMTPBRIDGE_LISTEN="127.0.0.1:0", SMTPBRIDGE_READY_FILE=str(ready),
               SMTPBRIDGE_LOG_LEVEL="debug")
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "no ready file"
        address = ready.read_text().strip()
        assert address.startswith("127.0.0.1:")
        with grpc.insecure_channel(address) as channel:
            stub = pb.PolicySinkStub(channel)
            props = {"blocked": "blocked@example.com, other@example.com"}
            blocked = stub.OnEvent(make_request(keyword="RCPT", recipient="Blocked@Example.COM",
                                                properties=props), timeout=10)
            assert blocked.action == V.ACTION_REJECT and blocked.reply.code == 550
            fine = stub.OnEvent(make_request(keyword="RCPT", recipient="x@example.com", properties=props),
                                timeout=10)
            assert fine.action == V.ACTION_CONTINUE
            eod = stub.OnEvent(make_request(keyword="_EOD"), timeout=10)
            assert eod.edits[0].add_header.name == "X-Policy"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        log = proc.stderr.read()
        assert "event event_id=" in log and "stopped" in log, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
