"""Failed dashboard logins, counted per account and per client address, with ``limits``.

Why: a password form that answers as fast as it is asked can be brute-forced. After
``login_failures_per_account`` wrong passwords for one e-mail address, or
``login_failures_per_client`` from one client address, within the window, the form answers
429 with ``Retry-After`` without checking the password (it also saves the password hash's
CPU). Only failures count; a successful login clears its account's count. Counters live in
Redis when ``LEADSCORE_REDIS_URL`` is set (every worker sees the same), in-process otherwise;
the account is counted under a hash of its normalised address, so no address is stored there.
If the counter store is down, logins are not throttled (logged, as for API keys).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from leadscore.core.security.ratelimit import RateLimiter

if TYPE_CHECKING:
    from leadscore.core.services import Services

log = logging.getLogger(__name__)

KEY_PREFIX = "leadscore:login"


class LoginThrottle:
    def __init__(self, redis_url: str | None, per_account: str, per_client: str) -> None:
        self.limiter = RateLimiter(redis_url, key_prefix=KEY_PREFIX)
        self.per_account, self.per_client = per_account, per_client

    def wait_seconds(self, email: str, client: str | None) -> int:
        """Seconds until this account and client may try again; 0 when they may now."""
        refused = [decision for decision in (self.limiter.peek(identity, rate)
                                             for identity, rate in self._counters(email, client))
                   if not decision.allowed]  # a storage outage allows (fails open, logged by the limiter)
        return max((max(1, decision.reset_seconds) for decision in refused), default=0)

    def failed(self, email: str, client: str | None) -> None:
        for identity, rate in self._counters(email, client):
            self.limiter.hit(identity, rate)

    def succeeded(self, email: str) -> None:
        try:
            self.limiter.clear(_account(email), self.per_account)
        except Exception as exc:
            log.warning("login throttle storage unavailable: %s", exc)

    def _counters(self, email: str, client: str | None) -> list[tuple[str, str]]:
        counters = [(_account(email), self.per_account)]
        if client:
            counters.append((f"client:{client}", self.per_client))
        return counters

    def close(self) -> None:
        self.limiter.close()


def _account(email: str) -> str:
    return "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def login_throttle(services: Services) -> LoginThrottle:
    throttle = services.extras.get("web.login_throttle")
    if throttle is None:
        settings = services.settings
        throttle = services.extras.setdefault("web.login_throttle", LoginThrottle(
            settings.redis_url, settings.login_failures_per_account, settings.login_failures_per_client))
    return throttle  # type: ignore[return-value]
