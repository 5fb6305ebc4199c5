"""Everything a running process (API server, worker, command) shares, built once."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from leadscore.core import retries
from leadscore.core.cache import Cache, make_cache
from leadscore.core.config import Settings
from leadscore.core.dispatcher import OutboxDispatcher
from leadscore.core.queue import InProcessQueue, TaskQueue, TaskRegistry
from leadscore.core.rabbitmq import RabbitMQQueue
from leadscore.core.runtime import Runtime


@dataclass
class Services:
    runtime: Runtime
    cache: Cache
    tasks: TaskRegistry
    queue: TaskQueue
    dispatcher: OutboxDispatcher
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def consumes_in_process(self) -> bool:
        return isinstance(self.queue, InProcessQueue)

    @classmethod
    def open(cls, settings: Settings | None = None, *, consume_in_process: bool | None = None,
             cache: Cache | None = None, upgrade: bool | None = None) -> Services:
        """Connect everything. With a broker URL, work goes to RabbitMQ workers;
        without one (or when ``consume_in_process``), handlers run in this process.
        ``cache`` replaces the one the settings choose (the embedded background process's)."""
        runtime = Runtime.open(settings, upgrade=upgrade)
        cache = cache or make_cache(runtime.settings.redis_url)
        tasks = TaskRegistry()
        # Failed work comes back through the outbox after a backoff, then is parked (core.retries).
        tasks.on_failure = functools.partial(retries.schedule, runtime.sessions, settings=runtime.settings)
        in_process = consume_in_process if consume_in_process is not None else not runtime.settings.broker_url
        task_queue: TaskQueue = (InProcessQueue(tasks) if in_process
                                 else RabbitMQQueue(runtime.settings.broker_url, queue=runtime.settings.queue_name))
        services = cls(runtime, cache, tasks, task_queue, OutboxDispatcher(runtime.sessions, task_queue))
        from leadscore.tasks import register_all

        register_all(services)
        return services

    def close(self) -> None:
        self.dispatcher.stop()
        self.queue.close()
        for extra in self.extras.values():
            close = getattr(extra, "close", None)
            if callable(close):
                close()
        self.cache.close()
        self.runtime.close()
