"""smtpbridge: write smtpbridge policy workers in Python.

    from smtpbridge import EventContext, EventType, Verdict, Worker, address_in

    worker = Worker("my-policy")

    @worker.on(EventType.INBOUND_COMMAND, keyword="RCPT")
    async def rcpt(ev: EventContext) -> Verdict:
        if address_in(ev.recipient, ev.property_list("blocked")):
            return Verdict.reject(550, "5.7.1", "recipient blocked")
        return Verdict.continue_()

    worker.main()  # --listen (default 127.0.0.1:50051), --ready-file, --log-level, --tls-*
"""
from smtpbridge.address import address_in, same_address
from smtpbridge.checks import VerdictError
from smtpbridge.context import EOD, EventContext
from smtpbridge.enums import Action, CacheScope, EventType, OnError, OutboundState
from smtpbridge.ratelimit import RateLimiter
from smtpbridge.reply import Reply
from smtpbridge.router import Router
from smtpbridge.server import DEFAULT_GRACE_PERIOD, Abort, Worker
from smtpbridge.tls import TlsFiles, tls_server_credentials
from smtpbridge.verdict import Verdict

__all__ = ["Abort", "Action", "CacheScope", "DEFAULT_GRACE_PERIOD", "EOD", "EventContext", "EventType",
           "OnError", "OutboundState", "RateLimiter", "Reply", "Router", "TlsFiles", "Verdict",
           "VerdictError", "Worker", "address_in", "same_address", "tls_server_credentials"]
__version__ = "0.1.0"
