"""TransactionRoute: a plain-def endpoint's request session commits as the endpoint returns, in its thread."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.routes import REQUEST_SESSION, router


def test_a_sync_endpoint_commits_in_its_own_thread_and_a_failing_one_rolls_back(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    seen: dict[str, object] = {}

    def get_session():
        session = sessions()
        session.info[REQUEST_SESSION] = True
        session.info["read_bind"] = engine
        try:
            yield session
            seen["open_at_teardown"] = session.in_transaction()
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    api = router()

    @api.post("/write/{x}")
    def write(x: int, session: Session = Depends(get_session, scope="function")) -> dict:
        session.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})
        if x < 0:
            raise ValueError("refused")
        return {"x": x}

    app = FastAPI()
    app.include_router(api)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/write/1").json() == {"x": 1}
        assert seen["open_at_teardown"] is False  # committed already, in the endpoint's thread
        assert client.post("/write/-1").status_code == 500
    with engine.connect() as connection:
        assert connection.execute(text("SELECT x FROM t")).scalars().all() == [1]
    engine.dispose()
