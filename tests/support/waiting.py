"""Waiting on a committed fact: poll it, with a deadline, never a bare sleep."""
import time


def wait_for(fact, deadline: float = 20.0, interval: float = 0.05, what: str = "the fact"):
    """Poll ``fact()`` until it is truthy (returned) or ``deadline`` seconds pass."""
    end = time.monotonic() + deadline
    while True:
        value = fact()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what} did not come true in {deadline:g} s (last: {value!r})")
        time.sleep(interval)
