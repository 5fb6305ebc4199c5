"""The web UI: login/logout, static files, and ``mount(app)`` which wires everything.

Pages live in ``pages_agent`` (queue, lead), ``pages_team`` (manager) and
``pages_admin``; this module holds what they share.
"""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Annotated, Any

import plotly
from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from leadscore import __version__
from leadscore.core.deps import ServicesDep, SessionDep
from leadscore.core.routes import router as api_router
from leadscore.web import service
from leadscore.web.throttle import login_throttle
from leadscore.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfUserDep,
    LoginRequired,
    OptionalUserDep,
    PageError,
    login_url,
    safe_next,
)
from leadscore.web.schemas import CurrentUser
from leadscore.web.timezones import local_hour, local_time, zone_of

HERE = Path(__file__).parent
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["version"] = __version__
templates.env.filters["local"] = local_time
templates.env.filters["local_hour"] = local_hour
router = api_router(include_in_schema=False)


def render(request: Request, name: str, user: CurrentUser | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": user, "zone": zone_of(request), **context},
                                      status_code=status_code)


def _cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def home_for(user: CurrentUser) -> str:
    return {"agent": "/queue", "manager": "/team", "admin": "/admin"}.get(user.role, "/queue")


@router.get("/")
def index(user: OptionalUserDep) -> RedirectResponse:
    return RedirectResponse(home_for(user) if user else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, user: OptionalUserDep, next: str | None = None) -> Response:  # noqa: A002
    if user is not None:
        return RedirectResponse(safe_next(next) if next else home_for(user), status_code=303)
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, login_csrf=token, next=safe_next(next), error=None)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", secure=_cookie_secure(request),
                        path="/login", max_age=3600)
    return response


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    email: Annotated[str, Form(max_length=255)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not csrf_token or not secrets.compare_digest(cookie, csrf_token):
        raise PageError(403, "The login form expired or did not come from leadscore. Reload the page and try again.")
    throttle = login_throttle(services)
    client = request.client.host if request.client else None
    wait = throttle.wait_seconds(email, client)
    if wait:
        minutes = math.ceil(wait / 60)
        response = _login_again(request, next, email, 429, f"Too many failed logins. Try again in {minutes} minute"
                                f"{'s' if minutes != 1 else ''}, or ask an admin to reset the password.")
        response.headers["Retry-After"] = str(wait)
        return response
    user = service.authenticate(session, email, password)
    if user is None:
        throttle.failed(email, client)
        return _login_again(request, next, email, 401, "E-mail or password is wrong, or the account is disabled.")
    throttle.succeeded(email)
    token = service.start_session(session, user, user_agent=request.headers.get("user-agent"))
    target = safe_next(next)
    response = RedirectResponse(target if target != "/" else home_for(_as_current(user)), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_cookie_secure(request),
                        path="/", max_age=service.SESSION_DAYS * 86400)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _login_again(request: Request, next: str, email: str, status: int, error: str) -> Response:  # noqa: A002
    """The login form again, with ``error`` and a fresh CSRF token."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status_code=status, login_csrf=token, next=safe_next(next),
                      error=error, email=email)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax",
                        secure=_cookie_secure(request), path="/login", max_age=3600)
    return response


def _as_current(user: Any) -> CurrentUser:
    return CurrentUser(id=user.id, email=user.email, name=user.name, role=user.role, agent_id=user.agent_id,
                       csrf_token="")


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: CsrfUserDep) -> RedirectResponse:
    service.end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/ui/static/plotly.min.js")
def plotly_js() -> FileResponse:
    # Served from the installed plotly package: no CDN, and always the version Python renders for.
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


def mount(app: FastAPI) -> None:
    """Add the web UI to the app: routes, static files and HTML error pages."""
    from leadscore.web import pages_admin, pages_agent, pages_team

    app.include_router(router)
    app.include_router(pages_agent.router)
    app.include_router(pages_team.router)
    app.include_router(pages_admin.router)
    app.mount("/ui/static", StaticFiles(directory=str(HERE / "static")), name="web-static")

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET":
            return RedirectResponse(login_url(exc.next_path), status_code=303)
        return render(request, "error.html", None, status_code=401, status=401,
                      message="Your session has ended. Log in again.")

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return render(request, "error.html", None, status_code=exc.status, status=exc.status, message=exc.message)
