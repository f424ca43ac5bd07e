"""Worker: a Router served as `smtpbridge.v1.PolicySink` over grpc.aio, with health, reflection and
graceful shutdown on SIGTERM / SIGINT."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from typing import Optional, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from smtpbridge._gen.smtpbridge.v1 import sink_pb2, sink_pb2_grpc, verdict_pb2
from smtpbridge.context import EventContext
from smtpbridge.router import Router

log = logging.getLogger("smtpbridge.worker")

SERVICE_NAME = sink_pb2.DESCRIPTOR.services_by_name["PolicySink"].full_name


class Abort(Exception):
    """Raise from a handler to answer with a specific gRPC status instead of INTERNAL.
    The dispatcher applies the binding's on_error either way."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _PolicySink(sink_pb2_grpc.PolicySinkServicer):
    def __init__(self, router: Router) -> None:
        self._router = router

    async def OnEvent(self, request: sink_pb2.SinkRequest, context: grpc.aio.ServicerContext
                      ) -> verdict_pb2.Verdict:
        ctx = EventContext(request, deadline_left=context.time_remaining())
        try:
            return await self._router.dispatch(ctx)
        except Abort as err:
            log.warning("handler aborted %r: %s %s", ctx, err.code.name, err.message)
            await context.abort(err.code, err.message)
        except Exception as err:  # a handler bug must not kill the worker; on_error decides
            log.exception("handler failed on %r", ctx)
            await context.abort(grpc.StatusCode.INTERNAL, f"handler failed: {type(err).__name__}: {err}")
        raise AssertionError("unreachable")  # context.abort raises


def _split_listen(listen: str) -> tuple:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"--listen wants HOST:PORT (port 0 picks one), got {listen!r}")
    return host, int(port)


def _write_ready_file(path: str, address: str) -> None:
    # Atomic, so a poller never reads a half-written line.
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(address + "\n")
    os.replace(tmp, path)


class Worker(Router):
    """A policy worker.

        worker = Worker()

        @worker.on(EventType.INBOUND_COMMAND, keyword="RCPT")
        async def rcpt(ev: EventContext) -> Verdict: ...

        worker.run("0.0.0.0:50051")            # blocking; or: await worker.serve(...)
    """

    def __init__(self, name: str = "smtpbridge-worker", *, sync_in_thread: bool = True,
                 grace: float = 5.0, max_concurrent_rpcs: Optional[int] = None) -> None:
        super().__init__(sync_in_thread=sync_in_thread)
        self.name = name
        self.grace = grace
        self._max_concurrent_rpcs = max_concurrent_rpcs
        self._server: Optional[grpc.aio.Server] = None
        self._health: Optional[health.aio.HealthServicer] = None
        self._stopping: Optional[asyncio.Event] = None
        self.address: Optional[str] = None

    async def start(self, listen: str = "127.0.0.1:0", ready_file: Optional[str] = None) -> str:
        """Bind HOST:PORT (port 0 picks one) or unix:PATH and start serving; returns the bound
        address ("host:port" or the unix: target) and writes it to ready_file."""
        unix = listen.startswith("unix:")
        host, port = ("", 0) if unix else _split_listen(listen)
        server = grpc.aio.server(maximum_concurrent_rpcs=self._max_concurrent_rpcs)
        sink_pb2_grpc.add_PolicySinkServicer_to_server(_PolicySink(self), server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME], server)
        bound = server.add_insecure_port(listen if unix else f"{host}:{port}")
        if bound == 0 and not unix:
            raise OSError(f"cannot listen on {listen}")
        await server.start()
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        self._stopping = asyncio.Event()
        self.address = listen if unix else f"{host}:{bound}"
        if ready_file:
            _write_ready_file(ready_file, self.address)
        log.info("%s listening on %s", self.name, self.address)
        return self.address

    async def stop(self, grace: Optional[float] = None) -> None:
        """Report NOT_SERVING, refuse new calls and let in-flight ones finish within `grace`."""
        if self._server is None:
            return
        server, self._server = self._server, None
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        await server.stop(self.grace if grace is None else grace)
        if self._stopping is not None:
            self._stopping.set()
        log.info("%s stopped", self.name)

    async def wait(self) -> None:
        """Until stop() completed."""
        if self._stopping is not None:
            await self._stopping.wait()

    async def serve(self, listen: str = "127.0.0.1:0", ready_file: Optional[str] = None, *,
                    handle_signals: bool = True) -> None:
        """Start, then run until SIGTERM/SIGINT (or stop()), draining in-flight calls."""
        await self.start(listen, ready_file)
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda s=sig: self._on_signal(s))
        try:
            await self.wait()
        finally:
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    asyncio.get_running_loop().remove_signal_handler(sig)

    def _on_signal(self, sig: int) -> None:
        log.info("%s got %s, draining", self.name, signal.Signals(sig).name)
        asyncio.get_running_loop().create_task(self.stop())

    def run(self, listen: str = "127.0.0.1:0", ready_file: Optional[str] = None) -> None:
        """Blocking entry point for scripts that don't run their own event loop."""
        asyncio.run(self.serve(listen, ready_file))

    def main(self, argv: Optional[Sequence[str]] = None, default_listen: str = "127.0.0.1:50051") -> int:
        """The usual worker command line: --listen HOST:PORT, --ready-file PATH, --log-level."""
        parser = argparse.ArgumentParser(prog=self.name)
        parser.add_argument("--listen", default=default_listen, help="HOST:PORT (port 0 picks one) or unix:PATH")
        parser.add_argument("--ready-file", help="write the bound host:port here once listening")
        parser.add_argument("--log-level", default="info",
                            choices=["trace", "debug", "info", "warn", "error", "critical", "off"])
        args = parser.parse_args(argv)
        level = {"trace": "DEBUG", "warn": "WARNING", "off": "CRITICAL"}.get(args.log_level, args.log_level.upper())
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            self.run(args.listen, args.ready_file)
        except (OSError, ValueError) as err:
            log.error("%s", err)
            return 1
        return 0
