"""API keys: how they are stored (SHA-256 digests, never the plaintext) and the short-lived
cache of accepted keys the API's key middleware (``spruce.api.auth``) uses. Imports nothing
but the standard library."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class AcceptedKeys:
    """Keys the catalog accepted in the last ``ttl_s`` seconds, so the API's key check
    (``spruce.api.auth.KeyGate``, one per app, so one cache per process or Lambda container)
    skips the lookup on its hot path. Only acceptances are cached: a key added to
    the catalog works at once, and a removed key stops working within ``ttl_s``."""

    def __init__(self, *, ttl_s: float = 60.0, max_cached: int = 1024) -> None:
        self._ttl_s = ttl_s
        self._max_cached = max_cached
        self._accepted: dict[str, float] = {}

    def fresh(self, key: str) -> bool:
        return self._accepted.get(key, 0.0) > time.monotonic()

    def check(self, key: str | None, authenticate: Callable[[str], bool]) -> bool:
        """Whether ``key`` is valid, asking ``authenticate`` only on a cache miss."""
        if not key:
            return False
        if self.fresh(key):
            return True
        if not authenticate(key):
            return False
        if len(self._accepted) >= self._max_cached:
            self._accepted.clear()
        self._accepted[key] = time.monotonic() + self._ttl_s
        return True
