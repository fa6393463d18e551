"""The one wait-until helper: poll a probe until it returns something truthy, or fail."""

import time
from collections.abc import Callable
from typing import Any


def until(probe: Callable[[], Any], timeout: float = 15.0, what: str = "",
          interval: float = 0.1, ignore: tuple[type[BaseException], ...] = (),
          alive: Callable[[], str | None] | None = None) -> Any:
    """``probe()``'s first truthy result. Exceptions in ``ignore`` count as "not yet" (the last
    one is shown on timeout); ``alive()`` returning text fails at once (e.g. a process exited)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        if alive is not None:
            dead = alive()
            assert dead is None, dead
        try:
            got = probe()
            if got:
                return got
        except ignore as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or probe}"
                                 + (f" (last error: {last!r})" if last else ""))
        time.sleep(interval)
