import threading

import pytest
from conftest import make_request

from smtpbridge import EventContext, EventType, Router, Verdict, pb

V = pb.verdict_pb2


def ctx(**kw) -> EventContext:
    return EventContext(make_request(**kw))


def named(name):
    async def handler(ev):
        return Verdict.continue_().reason(name)
    return handler


async def reason_for(router, **kw) -> str:
    return (await router.dispatch(ctx(**kw))).reason


async def test_most_specific_handler_wins():
    r = Router()
    r.on_any(named("any"))
    r.add(named("inbound"), EventType.INBOUND_COMMAND)
    r.add(named("rcpt"), EventType.INBOUND_COMMAND, keyword=["rcpt", "MAIL"])
    r.add(named("rcpt-for-b"), EventType.INBOUND_COMMAND, keyword="RCPT", binding="b")
    r.add(named("any-for-b"), None, binding="b")
    assert await reason_for(r, keyword="RCPT") == "rcpt"
    assert await reason_for(r, keyword="mail") == "rcpt", "keywords match case-insensitively"
    assert await reason_for(r, keyword="DATA") == "inbound"
    assert await reason_for(r, keyword="RCPT", binding="b") == "rcpt-for-b"
    assert await reason_for(r, keyword="DATA", binding="b") == "inbound", "an exact event beats any event"
    assert await reason_for(r, event_type=pb.event_pb2.EVENT_TYPE_CONNECT) == "any"
    assert await reason_for(r, event_type=pb.event_pb2.EVENT_TYPE_CONNECT, binding="b") == "any-for-b"


async def test_decorators():
    r = Router()

    @r.on_eod
    async def eod(ev):
        return Verdict.continue_().add_header("X-Seen", "1")

    @r.on_connect(binding="gate")
    def connect(ev):
        return Verdict.reject("554 5.7.1 closed")

    @r.on(EventType.PER_RECIPIENT)
    def per_rcpt(ev):
        return Verdict.skip_recipient()

    @r.on_command("HELO")
    async def helo(ev):
        return None

    assert (await r.dispatch(ctx(keyword="_EOD"))).edits[0].add_header.name == "X-Seen"
    connect_ctx = ctx(event_type=pb.event_pb2.EVENT_TYPE_CONNECT, binding="gate")
    assert (await r.dispatch(connect_ctx)).action == V.ACTION_REJECT
    assert (await r.dispatch(ctx(event_type=pb.event_pb2.EVENT_TYPE_PER_RECIPIENT))).action == V.ACTION_SKIP_RECIPIENT
    assert (await r.dispatch(ctx(keyword="HELO"))).action == V.ACTION_CONTINUE


async def test_no_handler_continues():
    r = Router()
    r.on_command("RCPT")(named("rcpt"))
    verdict = await r.dispatch(ctx(keyword="XFOO"))
    assert verdict == V.Verdict(action=V.ACTION_CONTINUE)


async def test_sync_handlers_run_in_a_thread_unless_inline():
    seen = []

    def handler(ev):
        seen.append(threading.current_thread())
        return Verdict.continue_()

    threaded, inline = Router(), Router(sync_in_thread=False)
    threaded.on_any(handler)
    inline.on_any(handler)
    await threaded.dispatch(ctx())
    await inline.dispatch(ctx())
    assert seen[0] is not threading.main_thread()
    assert seen[1] is threading.main_thread()


async def test_raw_proto_results_pass_through():
    r = Router()
    r.on_any(lambda ev: V.Verdict(action=V.ACTION_TEMPFAIL))
    assert (await r.dispatch(ctx())).action == V.ACTION_TEMPFAIL


async def test_wrong_return_type_and_handler_errors_propagate():
    r = Router()
    r.on_command("RCPT")(lambda ev: "reject")
    r.on_command("MAIL")(lambda ev: 1 / 0)
    with pytest.raises(TypeError, match="expected Verdict"):
        await r.dispatch(ctx(keyword="RCPT"))
    with pytest.raises(ZeroDivisionError):
        await r.dispatch(ctx(keyword="MAIL"))


def test_registration_errors():
    r = Router()
    r.on_command("RCPT")(named("a"))
    with pytest.raises(ValueError, match="already registered"):
        r.on_command("rcpt")(named("b"))
    with pytest.raises(ValueError):
        r.on_command("")(named("c"))
    with pytest.raises(ValueError):
        r.add(named("d"), "NO_SUCH_EVENT")
    with pytest.raises(ValueError):
        r.add(named("e"), EventType.UNSPECIFIED)
    with pytest.raises(TypeError):
        r.add("not callable", EventType.CONNECT)
    r.add(named("f"), "per_recipient")  # names parse case-insensitively
