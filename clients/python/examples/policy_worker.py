#!/usr/bin/env python3
"""An example policy worker: sender-domain allow/deny lists and a per-client-address rate limit.

Everything it needs comes from the binding's sink_properties, so one worker serves many bindings:

    sink_properties:
      deny_domains: "spam.example, bad.example"   # MAIL FROM these domains is rejected
      allow_domains: "partner.example"             # these skip the rate limit
      rate_limit: "30"                             # events per client address ...
      rate_window_s: "60"                          # ... per this many seconds (default 60)

Bind it to INBOUND_COMMAND with rule "MAIL" (sender checks) and/or CONNECT (rate limit only).

    python examples/policy_worker.py --listen 127.0.0.1:50051
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Dict, Tuple

from smtpbridge import EventContext, EventType, RateLimiter, Verdict, Worker


class SenderPolicy:
    """The decisions, apart from gRPC so tests drive them with a fake clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # One limiter per (limit, window) setting, so bindings with different limits don't mix.
        self._limiters: Dict[Tuple[int, float], RateLimiter] = {}

    def _limiter(self, limit: int, window: float) -> RateLimiter:
        key = (limit, window)
        if key not in self._limiters:
            self._limiters[key] = RateLimiter(limit, per=window, clock=self._clock)
        return self._limiters[key]

    def decide(self, ev: EventContext) -> Verdict:
        domain = ev.sender_domain
        if domain and _matches(domain, ev.property_list("deny_domains")):
            return (Verdict.reject(f"550 5.7.1 mail from {domain} is not accepted")
                    .tag("sender-denied").reason(f"sender domain {domain} is on deny_domains")
                    .cache_for(300, "sender"))
        if domain and _matches(domain, ev.property_list("allow_domains")):
            return Verdict.continue_().tag("sender-allowed")
        limit = ev.property_int("rate_limit", 0)
        if limit > 0 and ev.client_address:
            window = float(ev.property("rate_window_s", "60") or 60)
            limiter = self._limiter(limit, window)
            if not limiter.allow(f"{ev.instance}/{ev.client_address}"):
                wait = limiter.retry_after(f"{ev.instance}/{ev.client_address}")
                return (Verdict.tempfail("451 4.7.1 too many messages, slow down")
                        .tag("rate-limited").reason(f"{ev.client_address} over {limit}/{window:g}s, "
                                                    f"retry in {wait:.0f}s"))
        return Verdict.continue_()


def _matches(domain: str, patterns) -> bool:
    """"example.com" matches itself and its subdomains."""
    domain = domain.lower()
    return any(domain == p.lower() or domain.endswith("." + p.lower()) for p in patterns)


def build_worker(policy: SenderPolicy | None = None) -> Worker:
    policy = policy or SenderPolicy()
    worker = Worker("smtpbridge-policy-worker-python")

    @worker.on(EventType.INBOUND_COMMAND, keyword="MAIL")
    async def on_mail(ev: EventContext) -> Verdict:
        return policy.decide(ev)

    @worker.on_connect
    async def on_connect(ev: EventContext) -> Verdict:
        return policy.decide(ev)  # no sender yet: only the rate limit applies

    return worker


if __name__ == "__main__":
    sys.exit(build_worker().main())
