"""What a verdict may carry, checked when it is built: a mistake fails the author's own tests
instead of being dropped (or injected) downstream."""
from __future__ import annotations

import re

# RFC 5322 field-name: printable US-ASCII except the colon.
_FIELD_NAME = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")
_LINE_BREAK = re.compile(r"[\r\n\0]")


class VerdictError(ValueError):
    """A verdict the host could not send as built (a ValueError, so older callers still catch it)."""


def check_no_line_break(what: str, text: str) -> None:
    if _LINE_BREAK.search(text):
        raise VerdictError(f"{what} must not contain CR, LF or NUL: {text!r}")


def check_header(name: str, value: str = "") -> None:
    if not _FIELD_NAME.match(name):
        raise VerdictError(f"header name {name!r} is not an RFC 5322 field name "
                           "(printable ASCII, no colon or space)")
    check_no_line_break(f"header {name} value", value)
