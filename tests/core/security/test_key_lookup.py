"""Requests that miss the key cache together look the key up once."""

from __future__ import annotations

import asyncio
import time

from leadscore.core.database import session_scope
from leadscore.core.problems import Problem
from leadscore.core.runtime import Runtime
from leadscore.core.security import keys
from leadscore.core.security.auth import Guard


def test_concurrent_misses_of_one_key_share_one_lookup(fresh_database, monkeypatch):
    runtime = Runtime.open(fresh_database)
    try:
        with session_scope(runtime.sessions) as session:
            key = keys.create_key(session, fresh_database, name="k", scopes=["read"]).key
        guard = Guard(fresh_database, runtime.sessions)
        loads: list[str] = []
        original = guard._load

        def slow_load(prefix: str, key_hash: str):  # noqa: ANN202
            loads.append(prefix)
            time.sleep(0.05)  # the lookup is still running when the others miss
            return original(prefix, key_hash)

        monkeypatch.setattr(guard, "_load", slow_load)

        async def together(presented: str) -> list:
            return await asyncio.gather(*(guard.authenticate(presented) for _ in range(50)), return_exceptions=True)

        principals = asyncio.run(together(key))
        assert len(loads) == 1 and {p.name for p in principals} == {"k"}
        assert guard.cached_principal(key) == principals[0]  # cached for the next ones

        unknown = key[:-4] + "zzzz"
        refusals = asyncio.run(together(unknown))
        assert len(loads) == 2  # one lookup for the unknown key too, and every caller is refused
        assert all(isinstance(r, Problem) and r.status == 401 for r in refusals)
        guard.cache.clear()
        assert asyncio.run(together(key))[0].name == "k" and len(loads) == 3  # a later miss reads again
    finally:
        runtime.close()

