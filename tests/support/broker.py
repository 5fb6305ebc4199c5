"""The test RabbitMQ: its URL, whether it answers, and how many messages a queue holds."""

from __future__ import annotations

import os

BROKER = os.environ.get("LEADSCORE_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")


def broker_answers() -> bool:
    import pika

    try:
        pika.BlockingConnection(pika.URLParameters(BROKER)).close()
        return True
    except Exception:
        return False


def waiting(queue: str) -> int:
    """Messages waiting in ``queue`` (delivered but unacknowledged ones not counted)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    try:
        return connection.channel().queue_declare(queue=queue, durable=True, passive=True).method.message_count
    finally:
        connection.close()
