"""SMTP replies as handlers write them: Reply(550, "5.7.1", ["no thanks"]) or "550 5.7.1 no thanks"."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence, Union

from smtpbridge._gen.smtpbridge.v1 import event_pb2
from smtpbridge.checks import VerdictError, check_no_line_break

_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


@dataclass(frozen=True)
class Reply:
    code: int
    enhanced_code: str = ""
    lines: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not 200 <= int(self.code) <= 599:
            raise VerdictError(f"SMTP reply code must be 2xx-5xx, got {self.code}")
        if self.enhanced_code and not _ENHANCED.match(self.enhanced_code):
            raise VerdictError(f"bad enhanced status code {self.enhanced_code!r}")
        if self.enhanced_code and self.enhanced_code[0] != str(self.code)[0]:
            raise VerdictError(f"enhanced code {self.enhanced_code} does not match class of {self.code}")
        if isinstance(self.lines, str):
            object.__setattr__(self, "lines", (self.lines,))
        object.__setattr__(self, "lines", tuple(self.lines))
        for line in self.lines:
            check_no_line_break("reply text", line)

    @classmethod
    def parse(cls, text: str, line_separator: str = "\n") -> "Reply":
        """"CODE[ ENHANCED][ TEXT]"; TEXT is split on `line_separator` into lines."""
        text = text.strip()
        code_text, _, rest = text.partition(" ")
        if not (len(code_text) == 3 and code_text.isdigit()):
            raise ValueError(f"reply must start with a 3-digit code: {text!r}")
        enhanced = ""
        first, sep, after = rest.partition(" ")
        if _ENHANCED.match(first):
            enhanced, rest = first, after
        lines = rest.split(line_separator) if rest else []
        return cls(int(code_text), enhanced, lines)

    def to_proto(self) -> event_pb2.SmtpReply:
        return event_pb2.SmtpReply(code=self.code, enhanced_code=self.enhanced_code, lines=list(self.lines))

    def __str__(self) -> str:
        head = f"{self.code} {self.enhanced_code}".strip()
        return " / ".join(f"{head} {line}".strip() for line in (self.lines or [""]))


ReplyLike = Union[Reply, str, event_pb2.SmtpReply]


def to_reply_proto(reply: ReplyLike) -> event_pb2.SmtpReply:
    if isinstance(reply, event_pb2.SmtpReply):
        # A raw proto gets the same checks as a Reply.
        Reply(reply.code, reply.enhanced_code, list(reply.lines))
        return reply
    if isinstance(reply, str):
        reply = Reply.parse(reply)
    return reply.to_proto()
