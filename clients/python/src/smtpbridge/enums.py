"""Python enums for the wire enums, with the proto's numbers (usable wherever the proto takes one)."""
from __future__ import annotations

import enum
from typing import Type, TypeVar

from smtpbridge._gen.smtpbridge.v1 import binding_pb2, event_pb2, verdict_pb2

_PREFIXES = {"EventType": "EVENT_TYPE_", "OutboundState": "OUTBOUND_STATE_", "Action": "ACTION_",
             "CacheScope": "CACHE_SCOPE_", "OnError": "ON_ERROR_"}


_N = TypeVar("_N", bound="_Named")


class _Named:
    @classmethod
    def parse(cls: Type[_N], text: str) -> _N:
        """Accepts "PER_RECIPIENT", "per_recipient" or the full proto name."""
        key = text.strip().upper()
        prefix = _PREFIXES[cls.__name__]
        if key.startswith(prefix):
            key = key[len(prefix):]
        try:
            return cls[key]  # type: ignore[index]
        except KeyError:
            raise ValueError(f"unknown {cls.__name__} {text!r}") from None


class EventType(_Named, enum.IntEnum):
    UNSPECIFIED = event_pb2.EVENT_TYPE_UNSPECIFIED
    INBOUND_COMMAND = event_pb2.EVENT_TYPE_INBOUND_COMMAND
    SESSION_START = event_pb2.EVENT_TYPE_SESSION_START
    MESSAGE_START = event_pb2.EVENT_TYPE_MESSAGE_START
    PER_RECIPIENT = event_pb2.EVENT_TYPE_PER_RECIPIENT
    BEFORE_DATA = event_pb2.EVENT_TYPE_BEFORE_DATA
    SESSION_END = event_pb2.EVENT_TYPE_SESSION_END
    OUTBOUND_COMMAND = event_pb2.EVENT_TYPE_OUTBOUND_COMMAND
    SERVER_RESPONSE = event_pb2.EVENT_TYPE_SERVER_RESPONSE
    CONNECT = event_pb2.EVENT_TYPE_CONNECT


class OutboundState(_Named, enum.IntEnum):
    UNSPECIFIED = event_pb2.OUTBOUND_STATE_UNSPECIFIED
    SESSION_START = event_pb2.OUTBOUND_STATE_SESSION_START
    MESSAGE_START = event_pb2.OUTBOUND_STATE_MESSAGE_START
    PER_RECIPIENT = event_pb2.OUTBOUND_STATE_PER_RECIPIENT
    DATA_OR_BDAT = event_pb2.OUTBOUND_STATE_DATA_OR_BDAT
    SESSION_END = event_pb2.OUTBOUND_STATE_SESSION_END


class Action(_Named, enum.IntEnum):
    UNSPECIFIED = verdict_pb2.ACTION_UNSPECIFIED
    CONTINUE = verdict_pb2.ACTION_CONTINUE
    RESPOND = verdict_pb2.ACTION_RESPOND
    REJECT = verdict_pb2.ACTION_REJECT
    TEMPFAIL = verdict_pb2.ACTION_TEMPFAIL
    DROP_SESSION = verdict_pb2.ACTION_DROP_SESSION
    SKIP_RECIPIENT = verdict_pb2.ACTION_SKIP_RECIPIENT


class CacheScope(_Named, enum.IntEnum):
    UNSPECIFIED = verdict_pb2.CACHE_SCOPE_UNSPECIFIED
    CLIENT_ADDRESS = verdict_pb2.CACHE_SCOPE_CLIENT_ADDRESS
    SENDER = verdict_pb2.CACHE_SCOPE_SENDER
    RECIPIENT = verdict_pb2.CACHE_SCOPE_RECIPIENT
    SESSION = verdict_pb2.CACHE_SCOPE_SESSION


class OnError(_Named, enum.IntEnum):
    UNSPECIFIED = binding_pb2.ON_ERROR_UNSPECIFIED
    CONTINUE = binding_pb2.ON_ERROR_CONTINUE
    TEMPFAIL = binding_pb2.ON_ERROR_TEMPFAIL
    REJECT = binding_pb2.ON_ERROR_REJECT
