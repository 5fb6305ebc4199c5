"""Fixtures the core tests share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from leadscore.core.queue import deferred_queue
from tests.support.broker import BROKER, broker_answers


@pytest.fixture
def broker_queue() -> Iterator[str]:
    """A fresh queue name on the test broker; it and its deferred twin are deleted afterwards."""
    if not broker_answers():
        pytest.skip("RabbitMQ is not reachable")
    import pika

    queue = f"leadscore.test.{uuid.uuid4().hex[:8]}"
    yield queue
    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    channel = connection.channel()
    channel.queue_delete(queue)
    channel.queue_delete(deferred_queue(queue))
    connection.close()
