"""The verdict builder: what a handler returns.

    return Verdict.reject(550, "5.7.1", "sender blocked").tag("blocklist").cache_for(60, "sender")
    return Verdict.continue_().add_header("X-Policy", "checked")

Every method returns the builder, so calls chain; `to_proto()` gives the wire `smtpbridge.v1.Verdict`.
Every method checks what it is given and raises VerdictError (a ValueError) for what the host
could not send: a 2xx reject, CR/LF in a reply, command or header, a header name with a space.
"""
from __future__ import annotations

import datetime
from typing import Optional, Union, cast

from smtpbridge._gen.smtpbridge.v1 import event_pb2, verdict_pb2
from smtpbridge.checks import VerdictError, check_header, check_no_line_break
from smtpbridge.enums import Action, CacheScope, OutboundState
from smtpbridge.reply import Reply, ReplyLike, to_reply_proto

Seconds = Union[int, float, datetime.timedelta]
# A reply as (code, enhanced, *lines) like every SDK, or one ReplyLike ("550 5.7.1 text", Reply).
CodeOrReply = Union[int, ReplyLike, None]

# Reply classes each action allows; CONTINUE and RESPOND take any.
_CLASSES = {Action.REJECT: "5", Action.TEMPFAIL: "4", Action.DROP_SESSION: "45"}


def _make_reply(code: CodeOrReply, enhanced: str, lines: tuple) -> Optional[ReplyLike]:
    if code is None or (isinstance(code, int) and code == 0):  # the host's default reply for the action
        if enhanced or lines:
            raise VerdictError("a reply needs a code")
        return None
    if isinstance(code, int):
        return Reply(code, enhanced, lines)
    if enhanced or lines:
        raise VerdictError("pass either (code, enhanced, *lines) or one reply, not both")
    return code


def _seconds(value: Seconds) -> float:
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)


class Verdict:
    """A mutable, chainable builder of one `smtpbridge.v1.Verdict`."""

    __slots__ = ("_pb",)

    def __init__(self, action: Action = Action.CONTINUE, reply: Optional[ReplyLike] = None) -> None:
        self._pb = verdict_pb2.Verdict(action=cast(verdict_pb2.Action, int(action)))
        if reply is not None:
            self.with_reply(reply)

    @classmethod
    def _with(cls, action: Action, code: CodeOrReply, enhanced: str, lines: tuple) -> "Verdict":
        return cls(action, _make_reply(code, enhanced, lines))

    # --- what happens to the event -------------------------------------------------------------
    @classmethod
    def continue_(cls) -> "Verdict":
        """Let the host proceed; rewrites, edits and tags still apply."""
        return cls(Action.CONTINUE)

    proceed = continue_

    @classmethod
    def respond(cls, code: CodeOrReply, enhanced: str = "", *lines: str) -> "Verdict":
        """Answer the client with this reply and consume the command (any reply class):
        `respond(250, "2.0.0", "ok")` or `respond("250 2.0.0 ok")`."""
        return cls._with(Action.RESPOND, code, enhanced, lines)

    @classmethod
    def reject(cls, code: CodeOrReply = None, enhanced: str = "", *lines: str) -> "Verdict":
        """Permanent failure: `reject(550, "5.7.1", "no")`; 5xx only (no reply: the host's 550 5.7.1)."""
        return cls._with(Action.REJECT, code, enhanced, lines)

    @classmethod
    def tempfail(cls, code: CodeOrReply = None, enhanced: str = "", *lines: str) -> "Verdict":
        """Transient failure: `tempfail(451, "4.7.1", "later")`; 4xx only (default 451 4.7.1)."""
        return cls._with(Action.TEMPFAIL, code, enhanced, lines)

    @classmethod
    def drop_session(cls, code: CodeOrReply = None, enhanced: str = "", *lines: str) -> "Verdict":
        """Say 421 (or this 4xx/5xx reply) and close the session."""
        return cls._with(Action.DROP_SESSION, code, enhanced, lines)

    @classmethod
    def skip_recipient(cls) -> "Verdict":
        """PER_RECIPIENT: do not send this recipient to the next hop."""
        return cls(Action.SKIP_RECIPIENT)

    @property
    def action(self) -> Action:
        return Action(self._pb.action)

    def with_reply(self, code: Union[int, ReplyLike], enhanced: str = "", *lines: str) -> "Verdict":
        """The reply the client gets: `with_reply(250, "2.0.0", "ok")` or one ReplyLike; on a
        CONTINUE at SERVER_RESPONSE it replaces the relayed one."""
        reply = _make_reply(code, enhanced, lines)
        if reply is None:
            raise VerdictError("with_reply needs a reply")
        proto = to_reply_proto(reply)
        action = Action(self._pb.action)
        allowed = _CLASSES.get(action)
        if allowed is not None and str(proto.code)[0] not in allowed:
            classes = " or ".join(f"{c}xx" for c in allowed)
            raise VerdictError(f"{action.name.lower()} needs a {classes} reply, got {proto.code}")
        if action == Action.SKIP_RECIPIENT:
            raise VerdictError("skip_recipient takes no reply")
        self._pb.reply.CopyFrom(proto)
        return self

    # --- outbound rewrites ---------------------------------------------------------------------
    def with_command(self, command_line: str) -> "Verdict":
        """Replace the whole command sent to the next hop (SetCommand), without CRLF."""
        check_no_line_break("command", command_line)
        self._pb.command.set_command = command_line
        return self

    def append_command(self, text: str) -> "Verdict":
        """Append to the command sent to the next hop, e.g. " NOTIFY=NEVER" (AppendCommand)."""
        check_no_line_break("command", text)
        self._pb.command.append += text
        return self

    rewrite = with_command  # deprecated names
    append = append_command

    def with_next_state(self, state: Union[OutboundState, str]) -> "Verdict":
        """Where the host's outbound state goes next (SetNextEventState)."""
        if isinstance(state, str):
            state = OutboundState.parse(state)
        self._pb.next_state = cast(event_pb2.OutboundState, int(state))
        return self

    next_state = with_next_state  # deprecated name

    # --- message edits at _EOD, applied in order -----------------------------------------------
    def add_header(self, name: str, value: str) -> "Verdict":
        """Append a header field (name: RFC 5322 field name; value: no CR/LF)."""
        check_header(name, value)
        edit = self._pb.edits.add().add_header
        edit.name, edit.value = name, value
        edit.SetInParent()
        return self

    def insert_header(self, index: int, name: str, value: str) -> "Verdict":
        """Insert at 0-based `index` among the header fields (0 is the top)."""
        check_header(name, value)
        if index < 0:
            raise VerdictError(f"header index {index} is negative")
        edit = self._pb.edits.add().insert_header
        edit.index, edit.name, edit.value = index, name, value
        edit.SetInParent()
        return self

    def change_header(self, name: str, value: str, occurrence: int = 0) -> "Verdict":
        """Change the `occurrence`-th (1-based; 0 = first) field `name`; an empty value deletes it."""
        check_header(name, value)
        if occurrence < 0:
            raise VerdictError(f"occurrence {occurrence} is negative")
        edit = self._pb.edits.add().change_header
        edit.name, edit.occurrence, edit.value = name, occurrence, value
        edit.SetInParent()
        return self

    def delete_header(self, name: str, occurrence: int = 0) -> "Verdict":
        return self.change_header(name, "", occurrence)

    def change_sender(self, address: str, parameters: str = "") -> "Verdict":
        """New reverse path without angle brackets; "" is the null sender."""
        check_no_line_break("sender", address + parameters)
        edit = self._pb.edits.add().change_sender
        edit.address, edit.parameters = address, parameters
        edit.SetInParent()
        return self

    def add_recipient(self, address: str, parameters: str = "") -> "Verdict":
        check_no_line_break("recipient", address + parameters)
        edit = self._pb.edits.add().add_recipient
        edit.address, edit.parameters = address, parameters
        edit.SetInParent()
        return self

    def delete_recipient(self, address: str) -> "Verdict":
        check_no_line_break("recipient", address)
        edit = self._pb.edits.add().delete_recipient
        edit.address = address
        edit.SetInParent()
        return self

    def quarantine(self, reason: str) -> "Verdict":
        check_no_line_break("quarantine reason", reason)
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
        if not seconds >= 0:
            raise VerdictError(f"cache ttl must be a non-negative number of seconds, got {ttl!r}")
        nanos = round(seconds * 1e9)
        self._pb.cache_ttl.seconds, self._pb.cache_ttl.nanos = divmod(nanos, 1_000_000_000)
        if scope is not None:
            parsed = CacheScope.parse(scope) if isinstance(scope, str) else scope
            self._pb.cache_scope = cast(verdict_pb2.CacheScope, int(parsed))
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
