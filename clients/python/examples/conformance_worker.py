#!/usr/bin/env python3
"""The Python conformance worker (tests/vectors/SPEC.md): one handler for every event type that
builds its verdict from the binding's sink_properties with the SDK's own Verdict builder.

    python examples/conformance_worker.py --listen 127.0.0.1:0 --ready-file /tmp/ready
"""
from __future__ import annotations

import sys

from smtpbridge import EventContext, EventType, Reply, Verdict, Worker

worker = Worker("smtpbridge-conformance-worker-python", sync_in_thread=False)


def build_reply(text: str) -> Reply:
    # Conformance replies put several lines on one property line, separated by "|".
    return Reply.parse(text, line_separator="|")


def start(ev: EventContext) -> Verdict:
    kind = ev.property("verdict", "continue")
    reply = build_reply(ev.property("reply")) if ev.property("reply") else None
    if kind == "continue":
        verdict = Verdict.continue_()
    elif kind == "respond":
        if reply is None:
            raise ValueError("verdict=respond needs a reply")
        return Verdict.respond(reply)
    elif kind == "reject":
        verdict = Verdict.reject(reply)
    elif kind == "tempfail":
        verdict = Verdict.tempfail(reply)
    elif kind == "drop_session":
        verdict = Verdict.drop_session(reply)
    elif kind == "skip_recipient":
        verdict = Verdict.skip_recipient()
    else:
        raise ValueError(f"unknown verdict {kind!r}")
    if reply is not None:
        verdict.with_reply(reply)
    return verdict


def apply_edits(verdict: Verdict, spec: str) -> None:
    for op in filter(None, spec.split(";")):
        name, _, rest = op.partition(":")
        if name == "add_header":
            header, _, value = rest.partition(":")
            verdict.add_header(header, value)
        elif name == "insert_header":
            index, _, rest = rest.partition(":")
            header, _, value = rest.partition(":")
            verdict.insert_header(int(index), header, value)
        elif name == "change_header":
            header, _, rest = rest.partition(":")
            occurrence, _, value = rest.partition(":")
            verdict.change_header(header, value, int(occurrence or 0))
        elif name == "change_sender":
            verdict.change_sender(rest)
        elif name == "add_recipient":
            verdict.add_recipient(rest)
        elif name == "delete_recipient":
            verdict.delete_recipient(rest)
        elif name == "quarantine":
            verdict.quarantine(rest)
        elif name == "discard":
            verdict.discard()
        elif name == "replace_body":
            verdict.replace_body(rest.encode())
        else:
            raise ValueError(f"unknown edit {name!r}")


def echo(ev: EventContext) -> str:
    return (f"type={ev.type.name};keyword={ev.keyword};arg={ev.argument};sender={ev.sender};"
            f"rcpt={ev.recipient};rcpts={len(ev.recipients)};client={ev.client_address};"
            f"helo={ev.helo};headers={len(ev.headers)};body={len(ev.body)};"
            f"binding={ev.binding_name};instance={ev.instance}")


async def conformance(ev: EventContext) -> Verdict:
    if ev.property("fail") == "1":
        raise RuntimeError("conformance: fail=1 asked for a handler error")
    verdict = start(ev)
    if ev.property("set_command"):
        verdict.rewrite(ev.property("set_command"))
    if ev.property("append"):
        verdict.append(ev.property("append"))
    if ev.property("next_state"):
        verdict.next_state(ev.property("next_state"))
    if ev.property("edits"):
        apply_edits(verdict, ev.property("edits"))
    if ev.property("cache_ttl_ms"):
        verdict.cache_for(ev.property_int("cache_ttl_ms") / 1000.0,
                          ev.property("cache_scope") or None)
    if ev.property("tags"):
        verdict.tag(*ev.property_list("tags"))
    if ev.property("reason"):
        verdict.reason(echo(ev) if ev.property("reason") == "@echo" else ev.property("reason"))
    return verdict


for event_type in EventType:
    if event_type != EventType.UNSPECIFIED:
        worker.add(conformance, event_type)

if __name__ == "__main__":
    sys.exit(worker.main(default_listen="127.0.0.1:0"))
