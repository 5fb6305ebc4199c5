"""Who is logged in, and the CSRF check, as FastAPI dependencies for the web pages.

Session: the ``ls_session`` cookie carries a random 256-bit token (HttpOnly,
SameSite=Lax, Secure on HTTPS); the database keeps only its SHA-256 with the
user and expiry, so logout and ``leadscore user disable`` end it at once.

CSRF: every state-changing request must carry the session's CSRF token (a
hidden ``csrf_token`` form field, or the ``X-CSRF-Token`` header for fetch()).
The token is an HMAC of the session token under a server secret, so another
site can neither read nor forge it. The login form, which has no session yet,
uses a double-submit token: a random ``ls_login_csrf`` cookie that the form
must echo.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from leadscore.core.deps import RuntimeDep, SessionDep
from leadscore.core.security.keys import resolve_pepper
from leadscore.web import service
from leadscore.web.schemas import CurrentUser

SESSION_COOKIE = "ls_session"
LOGIN_CSRF_COOKIE = "ls_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):  # noqa: N818 - a control-flow signal, rendered as a redirect
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class PageError(Exception):
    """An error shown to a person as an HTML page (403, 404, 400...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def web_secret(runtime: RuntimeDep) -> bytes:
    # Derived from the installation's pepper so there is one secret to manage and rotate.
    return hmac.new(resolve_pepper(runtime.settings), b"leadscore-web", hashlib.sha256).digest()


SecretDep = Annotated[bytes, Depends(web_secret)]


def optional_user(request: Request, session: SessionDep, secret: SecretDep) -> CurrentUser | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return service.user_for_token(session, token, secret)


OptionalUserDep = Annotated[CurrentUser | None, Depends(optional_user)]


def current_user(request: Request, user: OptionalUserDep) -> CurrentUser:
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    if user.role == "agent" and user.agent_id is None:
        # Its agent row was deleted: without this, "my leads" would mean "leads with no agent".
        raise PageError(403, "Your login is no longer linked to an agent. Ask an administrator to relink it.")
    return user


UserDep = Annotated[CurrentUser, Depends(current_user)]


def require_manager(user: UserDep) -> CurrentUser:
    if not user.is_manager:
        raise PageError(403, "This page is for managers. Your account can see its own lead queue.")
    return user


def require_admin(user: UserDep) -> CurrentUser:
    if not user.is_admin:
        raise PageError(403, "This page is for administrators.")
    return user


ManagerDep = Annotated[CurrentUser, Depends(require_manager)]
AdminDep = Annotated[CurrentUser, Depends(require_admin)]


async def _submitted_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached by Starlette: the endpoint can read it again
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def csrf_protect(request: Request, user: UserDep) -> CurrentUser:
    """Refuse a state-changing request whose CSRF token is missing or wrong (403)."""
    submitted = await _submitted_token(request)
    if not submitted or not hmac.compare_digest(submitted, user.csrf_token):
        raise PageError(403, "This form has expired or did not come from leadscore (CSRF check failed). "
                             "Reload the page and try again.")
    return user


CsrfUserDep = Annotated[CurrentUser, Depends(csrf_protect)]


def safe_next(value: str | None) -> str:
    """Only same-site paths: ``next=//evil.example`` must not become an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")

