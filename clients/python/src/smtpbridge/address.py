"""Envelope addresses compared the way binding rules compare them: case-insensitively."""
from __future__ import annotations

from typing import Iterable


def _normalize(address: str) -> str:
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    return text.lower()


def same_address(a: str, b: str) -> bool:
    """Whether two envelope addresses are the same ignoring case (angle brackets, blanks dropped)."""
    return _normalize(a) == _normalize(b)


def address_in(address: str, candidates: Iterable[str]) -> bool:
    """Whether `address` is one of `candidates` (e.g. `ev.property_list("blocked")`), ignoring case."""
    want = _normalize(address)
    return want != "" and any(_normalize(c) == want for c in candidates)
