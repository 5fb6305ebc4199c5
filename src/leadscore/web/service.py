"""Users, login sessions and saved views. Services flush; the caller commits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from leadscore.agents.models import Agent
from leadscore.core import audit
from leadscore.core.database import utcnow
from leadscore.core.errors import LeadscoreError
from leadscore.core.problems import Conflict, NotFound, Problem
from leadscore.web import passwords
from leadscore.web.models import ROLES, SavedView, User, WebSession
from leadscore.web.schemas import CurrentUser, QueueView

SESSION_DAYS = 7


class UserError(LeadscoreError):
    """Bad input for a user account (the CLI prints it as one line)."""


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 255 or email.startswith("@") or email.endswith("@"):
        raise UserError(f"{email!r} is not an e-mail address")
    return email


def resolve_agent(session: Session, *, agent_id: int | None, agent_external_id: str | None) -> int | None:
    if agent_id is not None:
        if session.get(Agent, agent_id) is None:
            raise UserError(f"there is no agent with id {agent_id}")
        return agent_id
    if agent_external_id is not None:
        ids = list(session.scalars(select(Agent.id).where(Agent.external_id == agent_external_id)))
        if not ids:
            raise UserError(f"there is no agent with external id {agent_external_id!r}")
        if len(ids) > 1:
            raise UserError(f"external id {agent_external_id!r} matches agents in several datasets: use --agent-id")
        return ids[0]
    return None


def create_user(session: Session, *, email: str, name: str, role: str, password: str,
                agent_id: int | None = None, actor: str = "cli") -> User:
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if role == "agent" and agent_id is None:
        raise UserError("an agent login must be linked to an agent: pass --agent-id or --agent-external-id")
    if not name.strip():
        raise UserError("the name is empty")
    try:
        passwords.check_strength(password)
    except passwords.WeakPassword as exc:
        raise UserError(str(exc)) from None
    email = normalise_email(email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    user = User(email=email, name=name.strip(), role=role, agent_id=agent_id,
                password_hash=passwords.hash_password(password))
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.create", entity_type="user", entity_id=str(user.id),
                 details={"email": email, "role": role, "agent_id": agent_id})
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def get_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with e-mail {email}")
    return user


def set_active(session: Session, email: str, active: bool, *, actor: str = "cli") -> User:
    user = get_by_email(session, email)
    user.active = active
    if not active:  # a disabled user is logged out everywhere at once
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    audit.record(session, actor=actor, action="user.enable" if active else "user.disable", entity_type="user",
                 entity_id=str(user.id), details={"active": active})
    return user


def set_password(session: Session, email: str, password: str, *, actor: str = "cli") -> User:
    try:
        passwords.check_strength(password)
    except passwords.WeakPassword as exc:
        raise UserError(str(exc)) from None
    user = get_by_email(session, email)
    user.password_hash = passwords.hash_password(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    audit.record(session, actor=actor, action="user.password", entity_type="user", entity_id=str(user.id), details={})
    return user


# --- sessions ---------------------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(token: str, secret: bytes) -> str:
    """The CSRF token of a session: an HMAC of the session token, so it needs no storage,
    differs per login and cannot be computed by a page that cannot read the HttpOnly cookie."""
    return hmac.new(secret, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, else None (same work either way)."""
    try:
        email = normalise_email(email)
    except UserError:
        passwords.verify_password(password, passwords.DUMMY_HASH)
        return None
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        passwords.verify_password(password, passwords.DUMMY_HASH)
        return None
    if not passwords.verify_password(password, user.password_hash) or not user.active:
        return None
    return user


def start_session(session: Session, user: User, *, user_agent: str | None = None) -> str:
    """Store a new login and return the token for the cookie (shown only here)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(WebSession(token_hash=_token_hash(token), user_id=user.id, created_at=now,
                           expires_at=now + timedelta(days=SESSION_DAYS), user_agent=(user_agent or "")[:255]))
    user.last_login_at = now
    # Housekeeping while we are writing anyway: forget this user's expired logins.
    session.execute(delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at < now))
    session.flush()
    return token


def end_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == _token_hash(token)))
    session.flush()


def user_for_token(session: Session, token: str, secret: bytes) -> CurrentUser | None:
    if not token or len(token) > 100:
        return None
    row = session.execute(
        select(User, WebSession.expires_at)
        .join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    user, expires_at = row
    if expires_at <= utcnow() or not user.active:
        return None
    return CurrentUser(id=user.id, email=user.email, name=user.name, role=user.role, agent_id=user.agent_id,
                       csrf_token=csrf_for(token, secret))


def count_sessions(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(WebSession).where(WebSession.user_id == user_id)) or 0


# --- saved views ------------------------------------------------------------------------------

def get_view(session: Session, user_id: int, page: str = "queue") -> QueueView:
    stored = session.scalar(select(SavedView.settings).where(SavedView.user_id == user_id, SavedView.page == page))
    if not stored:
        return QueueView()
    try:
        return QueueView.model_validate(stored)
    except ValidationError:  # saved by an older version with other options: start from defaults
        return QueueView()


def save_view(session: Session, user_id: int, data: dict[str, Any], page: str = "queue") -> QueueView:
    try:
        view = QueueView.model_validate(data)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": str(e["msg"]).removeprefix("Value error, ")}
                  for e in exc.errors()]
        raise Problem(422, "the view is not valid: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                      errors=errors) from None
    row = session.scalar(select(SavedView).where(SavedView.user_id == user_id, SavedView.page == page))
    if row is None:
        session.add(SavedView(user_id=user_id, page=page, settings=view.model_dump()))
    else:
        row.settings = view.model_dump()
    session.flush()
    return view
