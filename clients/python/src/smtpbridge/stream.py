"""OnEvents, the batched dispatcher -> worker stream: each request runs as its own asyncio task
through the same path as a unary OnEvent, so a slow handler holds back no other; answers that
complete while a write is in flight go out together in the next message (never waiting to fill a
batch)."""
from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable, Dict, List, Optional, Set, Tuple

import grpc

from smtpbridge._gen.smtpbridge.v1 import sink_pb2, verdict_pb2

Decide = Callable[[sink_pb2.SinkRequest, str, Optional[float]],
                  Awaitable[Tuple[Optional[verdict_pb2.Verdict], grpc.StatusCode, str]]]
Write = Callable[[sink_pb2.SinkAnswers], Awaitable[None]]


class EventStream:
    """One OnEvents call. `decide` is the unary path (verdict, code, message); `write` sends one
    SinkAnswers message. run() returns once the dispatcher half-closed, or drain() was called,
    and every request read so far has its answer written."""

    def __init__(self, decide: Decide, write: Write, *, draining: bool = False) -> None:
        self._decide = decide
        self._write = write
        self._tasks: Dict[int, asyncio.Task] = {}
        self._expired: Set[int] = set()  # tasks cancelled because their time_left ran out
        self._pending: List[sink_pb2.SinkAnswer] = []
        self._wake = asyncio.Event()
        self._read_done = False
        self._draining = draining
        self._closed = False

    def drain(self) -> None:
        self._draining = True
        self._wake.set()

    async def run(self, requests: AsyncIterator[sink_pb2.SinkRequests]) -> None:
        reader = asyncio.ensure_future(self._read(requests))
        try:
            while True:
                if self._pending:
                    batch, self._pending = self._pending, []
                    await self._write(sink_pb2.SinkAnswers(answers=batch))
                    continue  # what completed during the write goes out next, together
                if reader.done() and not self._read_done:
                    reader.result()  # the read failed (the call was cancelled): raise it
                if (self._read_done or self._draining) and not self._tasks:
                    return
                self._wake.clear()
                await self._wake.wait()
        finally:
            self._closed = True
            reader.cancel()
            for task in self._tasks.values():
                task.cancel()

    async def _read(self, requests: AsyncIterator[sink_pb2.SinkRequests]) -> None:
        try:
            async for message in requests:
                for stream_id in message.cancel:
                    task = self._tasks.get(stream_id)
                    if task is not None:
                        task.cancel()  # the handler sees CancelledError; the answer still goes back
                for request in message.requests:
                    self._start(request)
            self._read_done = True
        finally:
            self._wake.set()

    def _start(self, request: sink_pb2.SinkRequest) -> None:
        stream_id = request.stream_id
        if self._draining:
            # As a unary call arriving during a drain: refused, so the dispatcher retries elsewhere.
            self._answer_now(sink_pb2.SinkAnswer(stream_id=stream_id, error_code=grpc.StatusCode.UNAVAILABLE.value[0],
                                                 error_message="worker is draining"))
            return
        if stream_id in self._tasks:
            self._answer_now(sink_pb2.SinkAnswer(stream_id=stream_id,
                                                 error_code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                                 error_message="stream_id already in flight on this stream"))
            return
        task = asyncio.ensure_future(self._run_one(request))
        self._tasks[stream_id] = task
        # No per-request gRPC deadline on a stream: time_left bounds the handler as the unary
        # call's deadline does (the task is cancelled when it runs out; a timer, not wait_for's
        # extra task per event).
        budget = request.time_left.ToTimedelta().total_seconds() if request.HasField("time_left") else 0.0
        if budget > 0:
            timer = asyncio.get_running_loop().call_later(budget, self._expire, stream_id, task)
            task.add_done_callback(lambda _: timer.cancel())

    def _expire(self, stream_id: int, task: asyncio.Task) -> None:
        if not task.done():
            self._expired.add(stream_id)
            task.cancel()

    async def _run_one(self, request: sink_pb2.SinkRequest) -> None:
        stream_id = request.stream_id
        answer = sink_pb2.SinkAnswer(stream_id=stream_id)
        try:
            verdict, code, message = await self._decide(request, request.traceparent, None)
        except asyncio.CancelledError:
            if self._closed:
                raise
            verdict = None
            if stream_id in self._expired:
                code, message = grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded (time_left)"
            else:
                code, message = grpc.StatusCode.CANCELLED, "cancelled by the dispatcher"
        self._expired.discard(stream_id)
        if verdict is not None:
            answer.verdict.CopyFrom(verdict)
        else:
            answer.error_code = code.value[0]
            answer.error_message = message
        del self._tasks[stream_id]
        self._answer_now(answer)

    def _answer_now(self, answer: sink_pb2.SinkAnswer) -> None:
        self._pending.append(answer)
        self._wake.set()
