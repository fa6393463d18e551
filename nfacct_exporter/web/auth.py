"""HTTP basic auth against bcrypt hashes (``basic_auth_users``), with a short success cache.

bcrypt is slow by design (~70 ms at cost 10), so a scrape every few seconds would otherwise pay
it each time; a successful (user, hash, password) triple is remembered for a minute under a keyed
digest (the password itself is never stored). As in the exporter-toolkit, unknown users cost a
bcrypt check too, so timing does not reveal which user names exist.
"""

import base64
import binascii
import hashlib
import secrets
import threading
import time

# a bcrypt hash of a random password: unknown users cost as much time as known ones
_DECOY = b"$2b$10$XaT7OUjErveExTFFl8Yz/.TfnwUxJcfD5LX6lkpDpC8MYuC2ftFgq"
AUTH_CACHE_SECONDS = 60.0


class Users:
    """basic_auth_users: bcrypt checks, successes cached briefly (bcrypt is slow by design)."""

    def __init__(self, hashes: dict[str, bytes]) -> None:
        import bcrypt  # here: only a web config with users needs it (~0.4 MiB resident)

        self._checkpw = bcrypt.checkpw
        self.hashes = hashes
        self._key = secrets.token_bytes(32)
        self._ok: dict[bytes, float] = {}  # keyed digest of user, hash, password → expiry
        self._lock = threading.Lock()
        self._bcrypt = threading.Lock()  # one bcrypt at a time: a flood of bad passwords
        # must not eat every core (cached good credentials skip it)

    def _digest(self, user: str, password: str) -> tuple[bytes | None, bytes]:
        hashed = self.hashes.get(user)
        return hashed, hashlib.blake2b(b"\0".join([user.encode(), hashed or b"",
                                                   password.encode()]), key=self._key).digest()

    def cached(self, user: str, password: str) -> bool:
        """True if ``check`` would answer from the success cache, without bcrypt."""
        key = self._digest(user, password)[1]
        with self._lock:
            return self._ok.get(key, 0.0) > time.monotonic()

    def check(self, user: str, password: str) -> bool:
        hashed, key = self._digest(user, password)
        now = time.monotonic()
        with self._lock:
            if self._ok.get(key, 0.0) > now:
                return True
        with self._bcrypt:
            try:  # bcrypt ≥ 5 refuses passwords over 72 bytes, as Go's bcrypt does
                ok = self._checkpw(password.encode(), hashed or _DECOY) and hashed is not None
            except ValueError:
                ok = False
        if ok:
            with self._lock:
                if len(self._ok) > 1000:
                    self._ok = {k: t for k, t in self._ok.items() if t > now}
                self._ok[key] = now + AUTH_CACHE_SECONDS
        return ok


def credentials(header: str | None) -> tuple[str, str] | None:
    """``Authorization: Basic …`` → (user, password), None if absent or malformed."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
