"""smtpbridge: write smtpbridge policy workers in Python.

    from smtpbridge import EventContext, EventType, Verdict, Worker

    worker = Worker("my-policy")

    @worker.on(EventType.INBOUND_COMMAND, keyword="RCPT")
    async def rcpt(ev: EventContext) -> Verdict:
        if ev.recipient in ev.prop_list("blocked"):
            return Verdict.reject("550 5.7.1 recipient blocked")
        return Verdict.continue_()

    worker.run("0.0.0.0:50051")
"""
from smtpbridge.context import EOD, EventContext
from smtpbridge.enums import Action, CacheScope, EventType, OnError, OutboundState
from smtpbridge.ratelimit import RateLimiter
from smtpbridge.reply import Reply
from smtpbridge.router import Router
from smtpbridge.server import Abort, Worker
from smtpbridge.verdict import Verdict

__all__ = ["Abort", "Action", "CacheScope", "EOD", "EventContext", "EventType", "OnError",
           "OutboundState", "RateLimiter", "Reply", "Router", "Verdict", "Worker"]
__version__ = "0.1.0"
