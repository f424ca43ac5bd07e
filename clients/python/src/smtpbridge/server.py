"""Worker: a Router served as `smtpbridge.v1.PolicySink` over grpc.aio, with health, reflection and
graceful shutdown on SIGTERM / SIGINT."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from typing import AsyncIterator, Optional, Sequence, Tuple

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from smtpbridge._gen.smtpbridge.v1 import sink_pb2, sink_pb2_grpc, verdict_pb2
from smtpbridge.context import EventContext
from smtpbridge.router import Router
from smtpbridge.stream import EventStream
from smtpbridge.tls import TlsFiles, tls_server_credentials

log = logging.getLogger("smtpbridge.worker")

SERVICE_NAME = sink_pb2.DESCRIPTOR.services_by_name["PolicySink"].full_name
DEFAULT_GRACE_PERIOD = 10.0  # seconds a drain waits for in-flight calls: the same in every SDK
DEFAULT_LISTEN = "127.0.0.1:50051"


class Abort(Exception):
    """Raise from a handler to answer with a specific gRPC status instead of INTERNAL.
    The dispatcher applies the binding's on_error either way."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _PolicySink(sink_pb2_grpc.PolicySinkServicer):
    def __init__(self, router: Router, name: str) -> None:
        self._router = router
        self._name = name
        self._streams: "set[EventStream]" = set()
        self._draining = False

    async def decide(self, request: sink_pb2.SinkRequest, traceparent: str,
                     deadline_left: Optional[float]) -> Tuple[Optional[verdict_pb2.Verdict], grpc.StatusCode, str]:
        """One event's whole path, shared by OnEvent and OnEvents: the handler's EventContext, the
        verdict checks and the error mapping. Returns (verdict, OK, "") or (None, code, message)."""
        ctx = EventContext(request, deadline_left=deadline_left,
                           traceparent=traceparent if isinstance(traceparent, str) else "")
        fields = (f"event_id={ctx.event_id} event={ctx.type.name} keyword={ctx.keyword} "
                  f"binding={ctx.binding_name} trace_id={ctx.trace_id or '-'}")
        try:
            verdict = await self._router.dispatch(ctx)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: event %s action=%s", self._name, fields,
                          verdict_pb2.Action.Name(verdict.action).removeprefix("ACTION_"))
            return verdict, grpc.StatusCode.OK, ""
        except Abort as err:
            log.warning("%s: handler aborted %s: %s %s", self._name, fields, err.code.name, err.message)
            return None, err.code, err.message
        except Exception as err:  # a handler bug must not kill the worker; on_error decides
            log.exception("%s: handler failed %s", self._name, fields)
            return None, grpc.StatusCode.INTERNAL, f"handler failed: {type(err).__name__}: {err}"

    async def OnEvent(self, request: sink_pb2.SinkRequest, context: grpc.aio.ServicerContext
                      ) -> verdict_pb2.Verdict:
        traceparent = next((v for k, v in (context.invocation_metadata() or ())
                            if k == "traceparent" and isinstance(v, str)), "")
        verdict, code, message = await self.decide(request, traceparent, context.time_remaining())
        if verdict is None:
            await context.abort(code, message)
            raise AssertionError("unreachable")  # context.abort raises
        return verdict

    async def OnEvents(self, request_iterator: AsyncIterator[sink_pb2.SinkRequests],
                       context: grpc.aio.ServicerContext) -> None:
        stream = EventStream(self.decide, context.write, draining=self._draining)
        self._streams.add(stream)
        try:
            await stream.run(request_iterator)
        finally:
            self._streams.discard(stream)

    def drain(self) -> None:
        """Open OnEvents streams answer what they owe, then end with OK."""
        self._draining = True
        for stream in list(self._streams):
            stream.drain()


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

        worker.main()        # flags; or worker.run("127.0.0.1:50051"), or await worker.serve(...)

    `grace_period`: seconds a drain lets in-flight calls finish (default 10, as in every SDK).
    `tls`: serve mutual TLS from these files (re-read when they change) instead of plaintext.
    """

    def __init__(self, name: str = "smtpbridge-worker", *, sync_in_thread: bool = True,
                 grace_period: float = DEFAULT_GRACE_PERIOD, max_concurrent_rpcs: Optional[int] = None,
                 tls: Optional[TlsFiles] = None, grace: Optional[float] = None) -> None:
        super().__init__(sync_in_thread=sync_in_thread)
        self.name = name
        self.grace = grace_period if grace is None else grace  # `grace`: deprecated spelling
        self.tls = tls
        self._max_concurrent_rpcs = max_concurrent_rpcs
        self._server: Optional[grpc.aio.Server] = None
        self._health: Optional[health.aio.HealthServicer] = None
        self._sink: Optional[_PolicySink] = None
        self._stopping: Optional[asyncio.Event] = None
        self.address: Optional[str] = None

    async def start(self, listen: str = "127.0.0.1:0", ready_file: Optional[str] = None) -> str:
        """Bind HOST:PORT (port 0 picks one) or unix:PATH and start serving; returns the bound
        address ("host:port" or the unix: target) and writes it to ready_file."""
        unix = listen.startswith("unix:")
        host, port = ("", 0) if unix else _split_listen(listen)
        server = grpc.aio.server(maximum_concurrent_rpcs=self._max_concurrent_rpcs)
        self._sink = _PolicySink(self, self.name)
        sink_pb2_grpc.add_PolicySinkServicer_to_server(self._sink, server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME], server)
        target = listen if unix else f"{host}:{port}"
        if self.tls is not None:
            bound = server.add_secure_port(target, tls_server_credentials(self.tls))
        else:
            bound = server.add_insecure_port(target)
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
        log.info("%s: listening on %s%s", self.name, self.address, " (mutual TLS)" if self.tls else "")
        return self.address

    async def stop(self, grace: Optional[float] = None) -> None:
        """Report NOT_SERVING, refuse new calls and let in-flight ones finish within `grace`."""
        if self._server is None:
            return
        server, self._server = self._server, None
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._sink is not None:
            self._sink.drain()
        await server.stop(self.grace if grace is None else grace)
        if self._stopping is not None:
            self._stopping.set()
        log.info("%s: stopped", self.name)

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
                loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            await self.wait()
        finally:
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    asyncio.get_running_loop().remove_signal_handler(sig)

    def _on_signal(self, sig: int) -> None:
        log.info("%s: got %s, draining", self.name, signal.Signals(sig).name)
        asyncio.get_running_loop().create_task(self.stop())

    def run(self, listen: str = "127.0.0.1:0", ready_file: Optional[str] = None) -> None:
        """Blocking entry point for scripts that don't run their own event loop."""
        asyncio.run(self.serve(listen, ready_file))

    def main(self, argv: Optional[Sequence[str]] = None, default_listen: str = DEFAULT_LISTEN) -> int:
        """The usual worker command line; each flag falls back to the environment:
        --listen HOST:PORT|unix:PATH (SMTPBRIDGE_LISTEN, default 127.0.0.1:50051),
        --ready-file PATH (SMTPBRIDGE_READY_FILE), --log-level (SMTPBRIDGE_LOG_LEVEL, info),
        --tls-cert/--tls-key/--tls-client-ca FILE (SMTPBRIDGE_TLS_CERT/_KEY/_CLIENT_CA): mutual TLS."""
        env = os.environ.get
        parser = argparse.ArgumentParser(prog=self.name)
        parser.add_argument("--listen", default=env("SMTPBRIDGE_LISTEN") or default_listen,
                            help="HOST:PORT (port 0 picks one) or unix:PATH")
        parser.add_argument("--ready-file", default=env("SMTPBRIDGE_READY_FILE") or None,
                            help="write the bound host:port here once listening")
        parser.add_argument("--log-level", default=(env("SMTPBRIDGE_LOG_LEVEL") or "info").lower(),
                            choices=["trace", "debug", "info", "warn", "warning", "error", "critical", "off"])
        parser.add_argument("--tls-cert", default=env("SMTPBRIDGE_TLS_CERT") or None)
        parser.add_argument("--tls-key", default=env("SMTPBRIDGE_TLS_KEY") or None)
        parser.add_argument("--tls-client-ca", default=env("SMTPBRIDGE_TLS_CLIENT_CA") or None)
        args = parser.parse_args(argv)
        level = {"trace": "DEBUG", "warn": "WARNING", "off": "CRITICAL"}.get(args.log_level, args.log_level.upper())
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        tls_args = (args.tls_cert, args.tls_key, args.tls_client_ca)
        if any(tls_args):
            if not all(tls_args):
                parser.error("TLS needs all of --tls-cert, --tls-key and --tls-client-ca")
            self.tls = TlsFiles(*tls_args)
        try:
            self.run(args.listen, args.ready_file)
        except (OSError, ValueError) as err:
            log.error("%s: %s", self.name, err)
            return 1
        return 0
