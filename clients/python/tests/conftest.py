import pathlib
import sys

import pytest

from smtpbridge import pb

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))  # the examples are tested as modules


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_request(event_type=pb.event_pb2.EVENT_TYPE_INBOUND_COMMAND, keyword="", argument="",
                 binding="test-binding", properties=None, sender="", recipient="",
                 client="192.0.2.1", time_left_ms=None, **event_fields) -> pb.SinkRequest:
    request = pb.SinkRequest()
    request.event.type = event_type
    request.event.command.keyword = keyword
    request.event.command.argument = argument
    request.event.envelope.sender = sender
    request.event.envelope.recipient = recipient
    request.event.session.client.address = client
    request.event.session.instance = 1
    for name, value in event_fields.items():
        setattr(request.event, name, value)
    request.binding.name = binding
    request.binding.sink_properties.update(properties or {})
    if time_left_ms is not None:
        request.time_left.FromMilliseconds(time_left_ms)
    return request


def pytest_sessionstart(session) -> None:
    # test.sh runs the suite against the installed wheel: fail loudly if src/ leaked in instead.
    import os

    import smtpbridge
    if os.environ.get("SMTPBRIDGE_EXPECT_INSTALLED") == "1":
        location = pathlib.Path(smtpbridge.__file__).resolve()
        assert "site-packages" in location.parts, f"smtpbridge imported from {location}, not the wheel"
