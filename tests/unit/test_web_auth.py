"""Basic auth: bcrypt checks with a success cache that unknown users cannot time, and the
``Authorization`` header parser."""

import base64
import time

from nfacct_exporter.web.auth import Users, credentials
from tests.support.tls import bcrypt_hash


def test_bcrypt_users_and_cache() -> None:
    users = Users({"alice": bcrypt_hash("right", rounds=10).encode()})
    t = time.perf_counter()
    assert users.check("alice", "right")
    first = time.perf_counter() - t
    t = time.perf_counter()
    assert users.check("alice", "right")
    cached = time.perf_counter() - t
    assert cached < first / 10, (first, cached)  # bcrypt cost 10 ≈ 50-100 ms, the cache µs
    assert not users.check("alice", "wrong")  # only successes are cached
    assert not users.check("mallory", "right")
    assert not users.check("alice", "x" * 100)  # bcrypt ≥ 5 refuses > 72 bytes: refused
    t = time.perf_counter()
    assert not users.check("nobody-like-this", "pw")
    assert time.perf_counter() - t > first / 3  # unknown users pay a bcrypt too (no timing oracle)


def test_credentials_header() -> None:
    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()
    assert credentials(f"Basic {b64('u:p:q')}") == ("u", "p:q")
    assert credentials(f"basic {b64('ü:pw')}") == ("ü", "pw")
    assert credentials(f"Bearer {b64('u:p')}") is None
    assert credentials("Basic !!!") is None
    assert credentials(f"Basic {b64('no-colon')}") is None
    assert credentials(None) is None
