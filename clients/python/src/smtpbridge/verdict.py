"""The verdict builder: what a handler returns.

    return Verdict.reject("550 5.7.1 sender blocked").tag("blocklist").cache_for(60, "sender")
    return Verdict.continue_().add_header("X-Policy", "checked")

Every method returns the builder, so calls chain; `to_proto()` gives the wire `smtpbridge.v1.Verdict`.
"""
from __future__ import annotations

import datetime
from typing import Optional, Union

from smtpbridge._gen.smtpbridge.v1 import verdict_pb2
from smtpbridge.enums import Action, CacheScope, OutboundState
from smtpbridge.reply import ReplyLike, to_reply_proto

Seconds = Union[int, float, datetime.timedelta]


def _seconds(value: Seconds) -> float:
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)


class Verdict:
    """A mutable, chainable builder of one `smtpbridge.v1.Verdict`."""

    __slots__ = ("_pb",)

    def __init__(self, action: Action = Action.CONTINUE, reply: Optional[ReplyLike] = None) -> None:
        self._pb = verdict_pb2.Verdict(action=int(action))
        if reply is not None:
            self.with_reply(reply)

    # --- what happens to the event -------------------------------------------------------------
    @classmethod
    def continue_(cls) -> "Verdict":
        """Let the host proceed; rewrites, edits and tags still apply."""
        return cls(Action.CONTINUE)

    proceed = continue_

    @classmethod
    def respond(cls, reply: ReplyLike) -> "Verdict":
        """Answer the client with `reply` and consume the command (any reply class)."""
        return cls(Action.RESPOND, reply)

    @classmethod
    def reject(cls, reply: Optional[ReplyLike] = None) -> "Verdict":
        """Permanent failure; `reply` must be 5xx (the host says 550 5.7.1 without one)."""
        return cls(Action.REJECT, reply)._check_class("5", "reject")

    @classmethod
    def tempfail(cls, reply: Optional[ReplyLike] = None) -> "Verdict":
        """Transient failure; `reply` must be 4xx (the host says 451 4.7.1 without one)."""
        return cls(Action.TEMPFAIL, reply)._check_class("4", "tempfail")

    @classmethod
    def drop_session(cls, reply: Optional[ReplyLike] = None) -> "Verdict":
        """Say 421 (or `reply`) and close the session."""
        return cls(Action.DROP_SESSION, reply)

    @classmethod
    def skip_recipient(cls) -> "Verdict":
        """PER_RECIPIENT: do not send this recipient to the next hop."""
        return cls(Action.SKIP_RECIPIENT)

    def _check_class(self, first_digit: str, what: str) -> "Verdict":
        if self._pb.HasField("reply") and not str(self._pb.reply.code).startswith(first_digit):
            raise ValueError(f"{what} needs a {first_digit}xx reply, got {self._pb.reply.code}")
        return self

    @property
    def action(self) -> Action:
        return Action(self._pb.action)

    def with_reply(self, reply: ReplyLike) -> "Verdict":
        """The reply the client gets; on a CONTINUE at SERVER_RESPONSE it replaces the relayed one."""
        self._pb.reply.CopyFrom(to_reply_proto(reply))
        return self

    # --- outbound rewrites ---------------------------------------------------------------------
    def rewrite(self, command_line: str) -> "Verdict":
        """Replace the whole command sent to the next hop (SetCommand)."""
        self._pb.command.set_command = command_line
        return self

    def append(self, text: str) -> "Verdict":
        """Append to the command sent to the next hop, e.g. " NOTIFY=NEVER" (AppendCommand)."""
        self._pb.command.append += text
        return self

    def next_state(self, state: Union[OutboundState, str]) -> "Verdict":
        """Where the host's outbound state goes next (SetNextEventState)."""
        if isinstance(state, str):
            state = OutboundState.parse(state)
        self._pb.next_state = int(state)
        return self

    # --- message edits at _EOD, applied in order -----------------------------------------------
    def add_header(self, name: str, value: str) -> "Verdict":
        edit = self._pb.edits.add().add_header
        edit.name, edit.value = name, value
        edit.SetInParent()
        return self

    def insert_header(self, index: int, name: str, value: str) -> "Verdict":
        """Insert at 0-based `index` among the header fields (0 is the top)."""
        edit = self._pb.edits.add().insert_header
        edit.index, edit.name, edit.value = index, name, value
        edit.SetInParent()
        return self

    def change_header(self, name: str, value: str, occurrence: int = 0) -> "Verdict":
        """Change the `occurrence`-th (1-based; 0 = first) field `name`; an empty value deletes it."""
        edit = self._pb.edits.add().change_header
        edit.name, edit.occurrence, edit.value = name, occurrence, value
        edit.SetInParent()
        return self

    def delete_header(self, name: str, occurrence: int = 0) -> "Verdict":
        return self.change_header(name, "", occurrence)

    def change_sender(self, address: str, parameters: str = "") -> "Verdict":
        """New reverse path without angle brackets; "" is the null sender."""
        edit = self._pb.edits.add().change_sender
        edit.address, edit.parameters = address, parameters
        edit.SetInParent()
        return self

    def add_recipient(self, address: str, parameters: str = "") -> "Verdict":
        edit = self._pb.edits.add().add_recipient
        edit.address, edit.parameters = address, parameters
        edit.SetInParent()
        return self

    def delete_recipient(self, address: str) -> "Verdict":
        edit = self._pb.edits.add().delete_recipient
        edit.address = address
        edit.SetInParent()
        return self

    def quarantine(self, reason: str) -> "Verdict":
        edit = self._pb.edits.add().quarantine
        edit.reason = reason
        edit.SetInParent()
        return self

    def discard(self) -> "Verdict":
        """Accept towards the client, then silently drop the message."""
        self._pb.edits.add().discard.SetInParent()
        return self

    def replace_body(self, body: Union[bytes, str]) -> "Verdict":
        edit = self._pb.edits.add().replace_body
        edit.body = body.encode() if isinstance(body, str) else body
        edit.SetInParent()
        return self

    # --- caching, explanation, labels ----------------------------------------------------------
    def cache_for(self, ttl: Seconds, scope: Union[CacheScope, str, None] = None) -> "Verdict":
        """Let the dispatcher reuse this verdict for `ttl` (seconds or timedelta) for equivalent
        events; `scope` widens "equivalent" (client_address, sender, recipient, session)."""
        seconds = _seconds(ttl)
        if seconds < 0:
            raise ValueError("cache ttl must not be negative")
        nanos = round(seconds * 1e9)
        self._pb.cache_ttl.seconds, self._pb.cache_ttl.nanos = divmod(nanos, 1_000_000_000)
        if scope is not None:
            self._pb.cache_scope = int(CacheScope.parse(scope) if isinstance(scope, str) else scope)
        return self

    def reason(self, text: str) -> "Verdict":
        """Why, for logs and `bridgectl test-event`."""
        self._pb.reason = text
        return self

    def tag(self, *tags: str) -> "Verdict":
        """Labels for metrics and logs, e.g. "spam", "rate-limited"."""
        self._pb.tags.extend(tags)
        return self

    def to_proto(self) -> verdict_pb2.Verdict:
        out = verdict_pb2.Verdict()
        out.CopyFrom(self._pb)
        return out

    def __repr__(self) -> str:
        from google.protobuf import text_format
        return f"Verdict({text_format.MessageToString(self._pb, as_one_line=True)})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Verdict):
            return self._pb == other._pb
        if isinstance(other, verdict_pb2.Verdict):
            return self._pb == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]
