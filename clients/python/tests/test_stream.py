"""OnEvents, the batched stream, on a real grpc.aio server over loopback with the raw stubs."""
import asyncio

import grpc
import pytest
from conftest import make_request

from smtpbridge import Abort, EventContext, EventType, Verdict, Worker, pb

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def stream_request(stream_id, keyword="RCPT", **kwargs):
    request = make_request(keyword=keyword, **kwargs)
    request.stream_id = stream_id
    return request


async def receive(call, n):
    """Reads answer messages until n answers came, keyed by stream_id."""
    got = {}
    while len(got) < n:
        message = await call.read()
        assert message is not grpc.aio.EOF, f"stream ended after {len(got)} of {n} answers"
        for answer in message.answers:
            assert answer.stream_id not in got, f"two answers for {answer.stream_id}"
            got[answer.stream_id] = answer
    return got


async def expect_end(call):
    await call.done_writing()
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


@pytest.fixture
async def worker():
    w = Worker("stream-test-worker", grace_period=5)
    w.release = asyncio.Event()
    w.started = asyncio.Event()
    w.seen = []

    @w.on(EventType.INBOUND_COMMAND, keyword="RCPT")
    async def rcpt(ev: EventContext) -> Verdict:
        w.seen.append((ev.trace_id, ev.time_left))
        return Verdict.reject(f"550 5.7.1 no {ev.recipient}").tag("blocked").reason(ev.trace_id or "-")

    @w.on_command("DATA")
    async def slow(ev: EventContext) -> Verdict:
        w.started.set()
        await w.release.wait()
        return Verdict.tempfail("451 4.3.0 slow")

    @w.on_command("MAIL")
    def broken(ev: EventContext) -> Verdict:
        raise RuntimeError("database is down")

    @w.on_command("VRFY")
    async def aborts(ev: EventContext) -> Verdict:
        raise Abort(grpc.StatusCode.UNAVAILABLE, "try another replica")

    @w.on_command("NOOP")
    async def forever(ev: EventContext) -> Verdict:
        w.started.set()
        await asyncio.Event().wait()

    await w.start("127.0.0.1:0")
    w.channel = grpc.aio.insecure_channel(w.address)
    yield w
    await w.channel.close()
    await w.stop(grace=1)


def open_stream(w):
    return pb.PolicySinkStub(w.channel).OnEvents(timeout=30)


async def test_a_batch_gets_one_answer_per_request_by_stream_id(worker):
    call = open_stream(worker)
    n = 20
    await call.write(pb.sink_pb2.SinkRequests(requests=[
        stream_request(i * 7, recipient=f"r{i * 7}@example.net") for i in range(1, n + 1)]))
    got = await receive(call, n)
    for i in range(1, n + 1):
        assert got[i * 7].error_code == 0
        assert list(got[i * 7].verdict.reply.lines) == [f"no r{i * 7}@example.net"]
    await expect_end(call)


async def test_a_slow_handler_holds_back_no_other_answer(worker):
    call = open_stream(worker)
    # The slow one comes first in the batch; the others complete before it, out of order.
    await call.write(pb.sink_pb2.SinkRequests(requests=[stream_request(1, keyword="DATA")] + [
        stream_request(i, recipient="x@example.net") for i in range(2, 6)]))
    fast = await receive(call, 4)  # hangs (the test times out) if the slow handler held them back
    assert 1 not in fast and all(a.verdict.action == pb.verdict_pb2.ACTION_REJECT for a in fast.values())
    worker.release.set()
    slow = await receive(call, 1)
    assert slow[1].verdict.action == pb.verdict_pb2.ACTION_TEMPFAIL
    await expect_end(call)


async def test_handler_errors_become_error_codes(worker):
    call = open_stream(worker)
    await call.write(pb.sink_pb2.SinkRequests(requests=[
        stream_request(1, keyword="MAIL"), stream_request(2, keyword="VRFY")]))
    got = await receive(call, 2)
    assert got[1].error_code == grpc.StatusCode.INTERNAL.value[0] and not got[1].HasField("verdict")
    assert "database is down" in got[1].error_message
    assert got[2].error_code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert got[2].error_message == "try another replica"
    await expect_end(call)


async def test_cancel_cancels_the_handler_and_still_answers(worker):
    call = open_stream(worker)
    await call.write(pb.sink_pb2.SinkRequests(requests=[stream_request(9, keyword="NOOP")]))
    await worker.started.wait()
    await call.write(pb.sink_pb2.SinkRequests(cancel=[9]))
    got = await receive(call, 1)
    assert got[9].error_code == grpc.StatusCode.CANCELLED.value[0]
    await expect_end(call)


async def test_time_left_bounds_the_handler_as_the_unary_deadline_does(worker):
    call = open_stream(worker)
    await call.write(pb.sink_pb2.SinkRequests(requests=[stream_request(3, keyword="NOOP", time_left_ms=50)]))
    got = await receive(call, 1)
    assert got[3].error_code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    with pytest.raises(grpc.aio.AioRpcError) as err:  # the same event over unary
        await pb.PolicySinkStub(worker.channel).OnEvent(make_request(keyword="NOOP"), timeout=0.05)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await expect_end(call)


async def test_the_same_event_gets_the_same_verdict_over_both_transports(worker):
    request = make_request(keyword="RCPT", recipient="bad@example.net", time_left_ms=2000)
    unary = await pb.PolicySinkStub(worker.channel).OnEvent(
        request, timeout=5, metadata=(("traceparent", TRACEPARENT),))
    call = open_stream(worker)
    streamed = pb.SinkRequest()
    streamed.CopyFrom(request)
    streamed.stream_id, streamed.traceparent = 1, TRACEPARENT
    await call.write(pb.sink_pb2.SinkRequests(requests=[streamed]))
    got = await receive(call, 1)
    assert got[1].verdict == unary
    assert unary.reason == "4bf92f3577b34da6a3ce929d0e0e4736"
    (trace_a, left_a), (trace_b, left_b) = worker.seen
    assert trace_a == trace_b and 0 < left_a <= 2 and 0 < left_b <= 2
    await expect_end(call)


async def test_drain_answers_what_is_owed_then_ends_the_stream_ok(worker):
    call = open_stream(worker)
    await call.write(pb.sink_pb2.SinkRequests(requests=[stream_request(1, keyword="DATA")]))
    await worker.started.wait()
    stopping = asyncio.ensure_future(worker.stop(grace=10))
    for _ in range(100_000):  # stop() reports NOT_SERVING, then drains the streams
        if worker._sink._draining:
            break
        await asyncio.sleep(0)
    assert worker._sink._draining
    worker.release.set()
    got = await receive(call, 1)  # no half-close from this side: the worker ends the stream
    assert got[1].verdict.action == pb.verdict_pb2.ACTION_TEMPFAIL
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK
    await stopping


async def test_answers_completed_during_a_write_go_out_together():
    await asyncio.wait_for(_write_batching(), 10)


async def _write_batching():
    # EventStream without a network: `write` blocks until released; `decide` answers at once and
    # says so (the answer is queued in the same step, before this test runs again).
    from smtpbridge.stream import EventStream
    inbox: asyncio.Queue = asyncio.Queue()
    sent, release, decided = [], asyncio.Event(), asyncio.Queue()

    async def requests():
        while (message := await inbox.get()) is not None:
            yield message

    async def write(message):
        sent.append(message)
        await release.wait()
        release.clear()

    async def decide(request, traceparent, deadline_left):
        decided.put_nowait(request.stream_id)
        return pb.Verdict(reason=str(request.stream_id)), grpc.StatusCode.OK, ""

    run = asyncio.ensure_future(EventStream(decide, write).run(requests()))
    inbox.put_nowait(pb.sink_pb2.SinkRequests(requests=[stream_request(1)]))
    assert await decided.get() == 1
    while not sent:  # written at once, alone: no waiting to fill a batch
        await asyncio.sleep(0)
    assert [a.stream_id for a in sent[0].answers] == [1]
    inbox.put_nowait(pb.sink_pb2.SinkRequests(requests=[stream_request(2), stream_request(3)]))
    assert {await decided.get(), await decided.get()} == {2, 3}
    release.set()  # the first write completes; both queued answers go in the next one
    while len(sent) < 2:
        await asyncio.sleep(0)
    assert sorted(a.stream_id for a in sent[1].answers) == [2, 3]
    release.set()
    inbox.put_nowait(None)  # half-close
    await run
    assert len(sent) == 2


async def test_a_cancelled_stream_cancels_its_handlers():
    w = Worker("stream-cancel-worker", grace_period=5)
    started, cancelled = asyncio.Event(), asyncio.Event()

    @w.on_command("NOOP")
    async def forever(ev: EventContext) -> Verdict:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await w.start("127.0.0.1:0")
    async with grpc.aio.insecure_channel(w.address) as channel:
        call = pb.PolicySinkStub(channel).OnEvents(timeout=30)
        await call.write(pb.sink_pb2.SinkRequests(requests=[stream_request(1, keyword="NOOP")]))
        await asyncio.wait_for(started.wait(), 10)
        call.cancel()
        await asyncio.wait_for(cancelled.wait(), 10)
    await w.stop(grace=1)
