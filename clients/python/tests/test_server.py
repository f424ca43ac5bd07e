"""A real grpc.aio server on port 0, called over loopback with the raw generated stubs."""
import grpc
import pytest
from conftest import make_request
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from smtpbridge import Abort, EventContext, EventType, Verdict, Worker, address_in, pb


@pytest.fixture
async def running(tmp_path):
    worker = Worker("test-worker")

    @worker.on(EventType.INBOUND_COMMAND, keyword="RCPT")
    async def rcpt(ev: EventContext) -> Verdict:
        if address_in(ev.recipient, ev.property_list("blocked")):
            return Verdict.reject("550 5.7.1 blocked").tag("blocked")
        return Verdict.continue_().reason(f"time_left>0:{ev.time_left > 0}")

    @worker.on_command("MAIL")
    def mail(ev: EventContext) -> Verdict:
        raise RuntimeError("database is down")

    @worker.on_command("VRFY")
    async def vrfy(ev: EventContext) -> Verdict:
        raise Abort(grpc.StatusCode.UNAVAILABLE, "try another replica")

    ready = tmp_path / "ready"
    address = await worker.start("127.0.0.1:0", str(ready))
    channel = grpc.aio.insecure_channel(address)
    yield worker, channel, ready
    await channel.close()
    await worker.stop(grace=1)


async def test_ready_file_has_the_bound_address(running):
    worker, _, ready = running
    host, port = ready.read_text().strip().split(":")
    assert ready.read_text().endswith("\n")
    assert host == "127.0.0.1" and int(port) > 0
    assert worker.address == f"{host}:{port}"


async def test_on_event_returns_the_handlers_verdict(running):
    _, channel, _ = running
    stub = pb.PolicySinkStub(channel)
    blocked = make_request(keyword="RCPT", recipient="x@example.net", properties={"blocked": "x@example.net"})
    verdict = await stub.OnEvent(blocked, timeout=5)
    assert verdict.action == pb.verdict_pb2.ACTION_REJECT
    assert verdict.reply.code == 550 and list(verdict.tags) == ["blocked"]
    fine = make_request(keyword="RCPT", recipient="y@example.net", time_left_ms=2000)
    assert (await stub.OnEvent(fine, timeout=5)).reason == "time_left>0:True"
    unhandled = make_request(pb.event_pb2.EVENT_TYPE_SESSION_END)
    assert (await stub.OnEvent(unhandled, timeout=5)).action == pb.verdict_pb2.ACTION_CONTINUE


async def test_handler_exception_is_internal_and_logged(running, caplog):
    _, channel, _ = running
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await pb.PolicySinkStub(channel).OnEvent(make_request(keyword="MAIL"), timeout=5)
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "database is down" in err.value.details()
    assert any("handler failed" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_abort_picks_the_status(running):
    _, channel, _ = running
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await pb.PolicySinkStub(channel).OnEvent(make_request(keyword="VRFY"), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert err.value.details() == "try another replica"


async def test_health_serving_then_not_serving_after_stop(running):
    worker, channel, _ = running
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "smtpbridge.v1.PolicySink"):
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    await worker.stop(grace=1)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)


async def test_reflection_lists_the_policy_sink(running):
    _, channel, _ = running
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for answer in stub.ServerReflectionInfo(iter([request])):
        names = {s.name for s in answer.list_services_response.service}
        break
    assert {"smtpbridge.v1.PolicySink", "grpc.health.v1.Health"} <= names


async def test_bad_listen_address_is_a_clear_error():
    with pytest.raises(ValueError, match="HOST:PORT"):
        await Worker().start("no-port-here")


async def test_unix_socket_listen(tmp_path):
    worker = Worker()
    worker.on_any(lambda ev: Verdict.tempfail())
    address = await worker.start(f"unix:{tmp_path}/w.sock", str(tmp_path / "ready"))
    try:
        assert (tmp_path / "ready").read_text() == address + "\n"
        async with grpc.aio.insecure_channel(address) as channel:
            verdict = await pb.PolicySinkStub(channel).OnEvent(make_request(), timeout=5)
        assert verdict.action == pb.verdict_pb2.ACTION_TEMPFAIL
    finally:
        await worker.stop(grace=1)
