import pytest

from smtpbridge import RateLimiter


def test_allows_burst_then_refuses(clock):
    limiter = RateLimiter(3, per=60, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b"), "keys are independent"


def test_refills_over_time(clock):
    limiter = RateLimiter(2, per=10, clock=clock)  # one token every 5 s
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    assert limiter.retry_after("a") == pytest.approx(5.0)
    clock.advance(4.9)
    assert not limiter.allow("a")
    clock.advance(0.2)
    assert limiter.allow("a")
    clock.advance(1000)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False], "refill caps at the burst"


def test_refused_attempts_cost_nothing(clock):
    limiter = RateLimiter(1, per=1, clock=clock)
    assert limiter.allow("a")
    for _ in range(10):
        assert not limiter.allow("a")
    clock.advance(1.0)
    assert limiter.allow("a")


def test_memory_is_bounded(clock):
    limiter = RateLimiter(1, per=1, max_keys=3, clock=clock)
    for key in "abcd":
        limiter.allow(key)
    assert len(limiter) == 3
    assert limiter.allow("a"), "the evicted key starts over with a full bucket"


@pytest.mark.parametrize("kwargs", [dict(rate=0), dict(rate=1, per=0), dict(rate=1, burst=0.5)])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)
