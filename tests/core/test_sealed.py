"""Webhook signing secrets are sealed at rest: the database holds ciphertext, the code sees the secret."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from leadscore.core.database import session_scope
from leadscore.core.sealed import PREFIX, SecretBox, UnsealError
from leadscore.core.services import Services
from leadscore.webhooks import service as webhooks
from leadscore.webhooks.models import WebhookSubscription
from leadscore.webhooks.tasks import seal_clear_secrets


def test_a_sealed_value_opens_only_with_the_same_key():
    box = SecretBox(lambda: b"pepper-one-0123456789")
    sealed = box.seal("whsec_c2VjcmV0")
    assert sealed.startswith(PREFIX) and "c2VjcmV0" not in sealed
    assert box.seal("whsec_c2VjcmV0") != sealed  # a fresh IV each time
    assert box.open(sealed) == "whsec_c2VjcmV0"
    assert box.open("whsec_written_before_sealing") == "whsec_written_before_sealing"
    with pytest.raises(UnsealError, match="LEADSCORE_KEY_PEPPER"):
        SecretBox(lambda: b"pepper-two-0123456789").open(sealed)


def _stored(services: Services, subscription_id: int) -> tuple[str, str | None]:
    with services.runtime.engine.connect() as connection:
        return tuple(connection.execute(text(
            "SELECT secret, previous_secret FROM webhook_subscriptions WHERE id = :id"), {"id": subscription_id}).one())


def test_the_database_holds_only_the_sealed_secret(services):
    with session_scope(services.runtime.sessions) as session:
        subscription = webhooks.create(session, url="http://127.0.0.1:9/hook", event_types=["*"], actor="test",
                                       allowed=services.settings.webhook_networks)
        subscription_id, first = subscription.id, subscription.secret
    with session_scope(services.runtime.sessions) as session:
        rotated = webhooks.rotate_secret(session, subscription_id, actor="test").secret
    stored, previous = _stored(services, subscription_id)
    assert first.startswith("whsec_") and rotated.startswith("whsec_") and rotated != first
    assert stored.startswith(PREFIX) and previous.startswith(PREFIX)
    assert rotated[6:] not in stored and first[6:] not in previous
    with session_scope(services.runtime.sessions, write=False) as session:
        row = session.get(WebhookSubscription, subscription_id)
        assert (row.secret, row.previous_secret) == (rotated, first)


def test_secrets_stored_in_clear_are_sealed_at_start(services):
    with services.runtime.engine.begin() as connection:  # as an installation from before sealing has them
        connection.execute(text(
            "INSERT INTO webhook_subscriptions (url, event_types, secret, active, consecutive_failures, created_at, "
            "updated_at) VALUES ('http://127.0.0.1:9/old', '[\"*\"]', 'whsec_b2xkIHNlY3JldA==', true, 0, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        subscription_id = connection.execute(text("SELECT max(id) FROM webhook_subscriptions")).scalar()
    with session_scope(services.runtime.sessions, write=False) as session:
        assert session.get(WebhookSubscription, subscription_id).secret == "whsec_b2xkIHNlY3JldA=="
    assert seal_clear_secrets(services) == 1
    assert _stored(services, subscription_id)[0].startswith(PREFIX)
    with session_scope(services.runtime.sessions, write=False) as session:
        assert session.get(WebhookSubscription, subscription_id).secret == "whsec_b2xkIHNlY3JldA=="
    assert seal_clear_secrets(services) == 0  # nothing left: no write at the next start


def test_migration_0003_widens_the_columns_and_reverts_only_without_sealed_secrets(fresh_database):
    from sqlalchemy import inspect

    from leadscore.core import migrate
    from leadscore.core.database import make_engine

    engine = make_engine(fresh_database)

    def width() -> int:
        columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("webhook_subscriptions")}
        return columns["secret"].length

    try:
        migrate.upgrade(engine, "0002")
        assert width() == 100
        assert migrate.ensure_current(engine) and width() == 255
        migrate.downgrade(engine, "0002")  # nothing sealed yet: allowed
        assert width() == 100
        migrate.upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO webhook_subscriptions (url, event_types, secret, active, consecutive_failures, "
                "created_at, updated_at) VALUES ('http://127.0.0.1:9/x', '[\"*\"]', :secret, true, 0, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"secret": PREFIX + "x" * 160})
        with pytest.raises(RuntimeError, match="sealed secrets"):
            migrate.downgrade(engine, "0002")
        assert width() == 255
    finally:
        engine.dispose()
