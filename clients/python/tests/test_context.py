from conftest import make_request

from smtpbridge import EventContext, EventType, OutboundState, pb


def test_accessors():
    req = make_request(keyword="RCPT", argument="TO:<b@example.net>", sender="a@Example.ORG",
                       recipient="b@example.net", properties={"blocked": "x, y,,z", "n": "12"})
    req.event.envelope.recipients.extend(["c@example.net"])
    req.event.session.helo_name = "mx.example"
    ev = EventContext(req)
    assert ev.type is EventType.INBOUND_COMMAND
    assert (ev.keyword, ev.argument) == ("RCPT", "TO:<b@example.net>")
    assert ev.sender_domain == "example.org"
    assert ev.recipient == "b@example.net" and ev.recipients == ["c@example.net"]
    assert ev.helo == "mx.example" and ev.client_address == "192.0.2.1"
    assert ev.binding_name == "test-binding" and ev.instance == 1
    assert ev.property_list("blocked") == ["x", "y", "z"]
    assert ev.property_int("n") == 12 and ev.property_int("missing", 7) == 7
    assert ev.property("missing", "d") == "d"
    assert not ev.is_eod


def test_bad_integer_property_names_the_property():
    ev = EventContext(make_request(properties={"rate_limit": "lots"}))
    try:
        ev.property_int("rate_limit")
    except ValueError as err:
        assert "rate_limit" in str(err)
    else:
        raise AssertionError("expected ValueError")


def test_eod_message():
    req = make_request(keyword="_EOD")
    req.event.message.headers.add(name="Subject", value="hi")
    req.event.message.headers.add(name="X-Two", value="2")
    req.event.message.body = b"body\r\n"
    ev = EventContext(req)
    assert ev.is_eod
    assert ev.headers == [("Subject", "hi"), ("X-Two", "2")]
    assert ev.header("subject") == "hi" and ev.header("nope") is None
    assert ev.body == b"body\r\n"


def test_time_left_counts_down_with_the_clock(clock):
    ev = EventContext(make_request(time_left_ms=200), clock=clock)
    assert abs(ev.time_left - 0.2) < 1e-9
    clock.advance(0.15)
    assert abs(ev.time_left - 0.05) < 1e-9
    clock.advance(1)
    assert ev.time_left == 0.0


def test_time_left_takes_the_tighter_grpc_deadline(clock):
    ev = EventContext(make_request(time_left_ms=200), clock=clock, deadline_left=0.1)
    assert abs(ev.time_left - 0.1) < 1e-9
    assert EventContext(make_request(), clock=clock).time_left is None


def test_server_response_next_state():
    req = make_request(pb.event_pb2.EVENT_TYPE_SERVER_RESPONSE,
                       next_state=pb.event_pb2.OUTBOUND_STATE_SESSION_END)
    assert EventContext(req).host_next_state is OutboundState.SESSION_END
