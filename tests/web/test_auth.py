"""Logins, sessions, CSRF and who may see what, through the real app (no browser)."""

from __future__ import annotations

import time

from sqlalchemy import select

from leadscore.core.database import session_scope
from leadscore.core.runtime import Runtime
from leadscore.web import passwords, service
from leadscore.web.models import User
from tests.web.conftest import csrf_of, login


def test_password_hash_is_salted_scrypt_and_verifies():
    first, second = passwords.hash_password("a long password"), passwords.hash_password("a long password")
    assert first.startswith("scrypt$") and first != second and "a long password" not in first
    assert passwords.verify_password("a long password", first)
    assert not passwords.verify_password("a long passworD", first)
    assert not passwords.verify_password("x", "garbage")


def test_pages_need_a_login(app_client):
    app_client.cookies.clear()
    response = app_client.get("/queue")
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/queue"
    assert app_client.get("/").headers["location"] == "/login"


def test_login_sets_a_hardened_cookie_and_lands_on_the_role_page(app_client):
    response = login(app_client, "agent@example.com")
    assert response.status_code == 303 and response.headers["location"] == "/queue"
    cookie = response.headers["set-cookie"].lower()
    assert "ls_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert login(app_client, "manager@example.com").headers["location"] == "/team"
    assert login(app_client, "admin@example.com").headers["location"] == "/admin"


def test_wrong_password_is_refused_without_saying_which_part(app_client):
    response = login(app_client, "agent@example.com", "wrong password!")
    assert response.status_code == 401 and "E-mail or password is wrong" in response.text
    assert login(app_client, "nobody@example.com").status_code == 401


def test_login_form_without_its_csrf_token_is_refused(app_client):
    app_client.cookies.clear()
    app_client.get("/login")
    response = app_client.post("/login", data={"email": "agent@example.com", "password": "correct horse battery",
                                               "csrf_token": "forged"})
    assert response.status_code == 403


def test_post_without_csrf_token_is_refused_and_changes_nothing(app_client):
    login(app_client, "agent@example.com")
    before = app_client.get("/queue").text
    response = app_client.post("/queue/view", data={"sort": "newest", "csrf_token": "not-the-token"})
    assert response.status_code == 403 and "CSRF" in response.text
    assert app_client.post("/logout").status_code == 403  # no token at all
    assert 'value="newest" selected' not in app_client.get("/queue").text
    assert csrf_of(before)


def test_logout_ends_the_session_on_the_server(app_client):
    login(app_client, "agent@example.com")
    token = app_client.cookies.get("ls_session")
    page = app_client.get("/queue")
    assert app_client.post("/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    app_client.cookies.set("ls_session", token)  # replaying the old cookie does not work
    assert app_client.get("/queue").status_code == 303


def test_agent_is_refused_manager_and_admin_pages(app_client):
    login(app_client, "agent@example.com")
    assert app_client.get("/team").status_code == 403
    assert app_client.get("/team/behaviour").status_code == 403
    assert app_client.get("/admin").status_code == 403
    login(app_client, "manager@example.com")
    assert app_client.get("/team").status_code == 200
    assert app_client.get("/admin").status_code == 403


def test_agent_sees_only_own_leads(app_client, world):
    login(app_client, "agent@example.com")
    assert app_client.get(f"/leads/{world.own_lead}").status_code == 200
    assert app_client.get(f"/leads/{world.other_lead}").status_code == 404
    assert app_client.get("/leads/999999").status_code == 404
    # Asking the queue for another agent's leads is ignored for agents.
    page = app_client.get(f"/queue?agent_id={world.other_agent_id}").text
    assert f'href="/leads/{world.other_lead}"' not in page
    assert f'href="/leads/{world.own_lead}"' in page
    login(app_client, "manager@example.com")
    assert app_client.get(f"/leads/{world.other_lead}").status_code == 200


def test_disabling_a_user_ends_their_sessions(app_client, world):
    runtime = Runtime.open(world.settings)
    try:
        with session_scope(runtime.sessions) as session:
            service.create_user(session, email="temp@example.com", name="Temp", role="manager",
                                password="temporary password")
        login(app_client, "temp@example.com", "temporary password")
        assert app_client.get("/team").status_code == 200
        with session_scope(runtime.sessions) as session:
            service.set_active(session, "temp@example.com", False)
        assert app_client.get("/team").status_code == 303
        assert login(app_client, "temp@example.com", "temporary password").status_code == 401
        with session_scope(runtime.sessions, write=False) as session:
            stored = session.scalar(select(User.password_hash).where(User.email == "temp@example.com"))
        assert stored.startswith("scrypt$") and "temporary" not in stored
    finally:
        runtime.close()


def test_next_parameter_cannot_redirect_off_site(app_client):
    app_client.cookies.clear()
    page = app_client.get("/login?next=//evil.example/x")
    response = app_client.post("/login", data={"email": "manager@example.com", "password": "correct horse battery",
                                               "csrf_token": csrf_of(page.text), "next": "//evil.example/x"})
    assert response.headers["location"] == "/team"


def test_repeated_failed_logins_are_throttled_per_account_then_per_client(world):
    from fastapi.testclient import TestClient

    from leadscore.app import create_app

    # Day-long windows: the sliding window counter weighs the previous window's failures down as
    # the next one begins, so a test that straddled a one-minute boundary (a loaded CI machine
    # hashing passwords) saw its fifth failure counted as four. Well clear of a day's boundary:
    to_midnight = 86_400 - time.time() % 86_400
    if to_midnight < 180:
        time.sleep(to_midnight + 1)
    settings = world.settings.model_copy(update={"login_failures_per_account": "3/day",
                                                 "login_failures_per_client": "5/day"})
    with TestClient(create_app(settings), raise_server_exceptions=False, follow_redirects=False) as client:
        assert [login(client, "agent@example.com", "wrong password!").status_code for _ in range(3)] == [401] * 3
        refused = login(client, "agent@example.com")  # the right password, but too late
        assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 86_400
        assert "Too many failed logins" in refused.text and 'name="csrf_token"' in refused.text
        assert login(client, "manager@example.com").status_code == 303  # another account may log in
        assert login(client, "manager@example.com", "wrong password!").status_code == 401
        assert login(client, "manager@example.com").status_code == 303  # a success clears its account
        assert login(client, "admin@example.com", "wrong password!").status_code == 401  # 5th from this client
        assert login(client, "admin@example.com").status_code == 429, "the client's own limit is reached"


def test_login_throttle_counts_in_redis_for_every_worker():
    import os
    import uuid

    from leadscore.web.throttle import LoginThrottle

    url = os.environ.get("LEADSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    email, client = f"{uuid.uuid4().hex}@example.com", f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
    one, other = LoginThrottle(url, "2/minute", "10/minute"), LoginThrottle(url, "2/minute", "10/minute")
    try:
        assert one.wait_seconds(email, client) == 0
        one.failed(email, client)
        other.failed(email.upper(), client)  # the same account however it is typed
        assert 1 <= one.wait_seconds(email, client) <= 60 and other.wait_seconds(email, None) > 0
        other.succeeded(email)
        assert one.wait_seconds(email, client) == 0
    finally:
        one.close()
        other.close()
