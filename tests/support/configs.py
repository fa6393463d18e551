"""Assertions about configuration errors: one line naming the file, the line and the key."""

import pytest

from nfacct_exporter import config


def assert_one_error(text: str, key: str, line: int, path: str = "bad.yaml") -> None:
    """``text`` is refused with exactly one line ``path:line: key 'key'…``."""
    with pytest.raises(config.ConfigError) as e:
        config.from_text(text, path)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1, msg
    assert msg.startswith(f"{path}:{line}: key {key!r}"), msg
