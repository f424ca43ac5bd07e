"""EventContext: one event as a handler sees it, with the binding's sink_properties at hand."""
from __future__ import annotations

import builtins
import re
import time
from typing import Callable, List, Mapping, Optional, Tuple

from smtpbridge._gen.smtpbridge.v1 import binding_pb2, event_pb2, sink_pb2
from smtpbridge.enums import EventType, OutboundState

EOD = "_EOD"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


class EventContext:
    """Read-only view of a `SinkRequest`. The raw protos stay reachable as `.event` / `.binding`."""

    def __init__(self, request: sink_pb2.SinkRequest, clock: Callable[[], float] = time.monotonic,
                 deadline_left: Optional[float] = None, traceparent: str = "") -> None:
        self.request = request
        # W3C trace context of this call (gRPC metadata `traceparent`); "" when absent or malformed.
        self.traceparent = traceparent if _TRACEPARENT.match(traceparent or "") else ""
        self.event: event_pb2.Event = request.event
        self.binding: binding_pb2.Binding = request.binding
        self._clock = clock
        self._received = clock()
        budget = None
        if request.HasField("time_left"):
            budget = request.time_left.ToTimedelta().total_seconds()
        if deadline_left is not None:  # the gRPC deadline, when tighter
            budget = deadline_left if budget is None else min(budget, deadline_left)
        self._budget = budget

    @property
    def trace_id(self) -> str:
        """The trace id part of traceparent (32 hex digits), "" without one."""
        return self.traceparent[3:35]

    @property
    def event_id(self) -> str:
        return self.event.event_id

    # --- what happened ---------------------------------------------------------------------------
    @property
    def type(self) -> EventType:
        return EventType(self.event.type)

    @property
    def keyword(self) -> str:
        """Upper-case command verb ("RCPT", "_EOD", ...); empty for CONNECT."""
        return self.event.command.keyword

    @property
    def argument(self) -> str:
        return self.event.command.argument

    @property
    def command_line(self) -> str:
        return self.event.command.line

    @property
    def is_eod(self) -> bool:
        return self.event.type == EventType.INBOUND_COMMAND and self.keyword == EOD

    @property
    def response(self) -> event_pb2.SmtpReply:
        """INBOUND_COMMAND: the reply the host will give; SERVER_RESPONSE: the next hop's reply."""
        return self.event.response

    @property
    def host_next_state(self) -> OutboundState:
        return OutboundState(self.event.next_state)

    # --- session and envelope --------------------------------------------------------------------
    @property
    def session_id(self) -> str:
        return self.event.session.session_id

    @property
    def instance(self) -> int:
        return self.event.session.instance

    @property
    def client_address(self) -> str:
        return self.event.session.client.address

    @property
    def client_hostname(self) -> str:
        return self.event.session.client.hostname

    @property
    def helo(self) -> str:
        return self.event.session.helo_name

    @property
    def sender(self) -> str:
        """MAIL FROM path without brackets; "" for the null sender or before MAIL (see has_sender)."""
        return self.event.envelope.sender

    @property
    def has_sender(self) -> bool:
        return self.event.envelope.has_sender

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2].lower() if "@" in self.sender else ""

    @property
    def recipient(self) -> str:
        """RCPT / PER_RECIPIENT: the recipient this event is about."""
        return self.event.envelope.recipient

    @property
    def recipients(self) -> List[str]:
        return list(self.event.envelope.recipients)

    # --- the message at _EOD ---------------------------------------------------------------------
    @property
    def headers(self) -> List[Tuple[str, str]]:
        return [(h.name, h.value) for h in self.event.message.headers]

    def header(self, name: str) -> Optional[str]:
        """First value of header `name` (case-insensitive), or None."""
        lower = name.lower()
        for h in self.event.message.headers:
            if h.name.lower() == lower:
                return h.value
        return None

    @property
    def body(self) -> bytes:
        return self.event.message.body

    @property
    def body_truncated(self) -> bool:
        return self.event.message.body_truncated

    # --- the binding -----------------------------------------------------------------------------
    @property
    def binding_name(self) -> str:
        return self.binding.name

    @property
    def properties(self) -> Mapping[str, str]:
        """The binding's sink_properties."""
        return self.binding.sink_properties

    def property(self, name: str, default: str = "") -> str:
        return self.binding.sink_properties.get(name, default)

    def property_list(self, name: str, sep: str = ",") -> List[str]:
        """A separated property as a list, blanks dropped: "a, b,,c" -> ["a", "b", "c"]."""
        return [p.strip() for p in self.property(name).split(sep) if p.strip()]

    def property_int(self, name: str, default: int = 0) -> int:
        text = self.property(name)
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"sink property {name}={text!r} is not an integer") from None

    prop, prop_list, prop_int = property, property_list, property_int  # deprecated names

    # --- time ------------------------------------------------------------------------------------
    @builtins.property  # `property` is the method above from here on
    def time_left(self) -> Optional[float]:
        """Seconds left of this binding's time (None when the dispatcher sent no budget)."""
        if self._budget is None:
            return None
        return max(0.0, self._budget - (self._clock() - self._received))

    def __repr__(self) -> str:
        return (f"EventContext({self.type.name} {self.keyword} {self.argument!r} "
                f"binding={self.binding_name!r} instance={self.instance})")
