"""Headless Chromium (Debian's /usr/bin/chromium) drives the real server: each role logs in,
its pages render with data and no console errors, access rules hold, a filter change persists.
Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadscore.core.config import load_settings
from leadscore.core.runtime import Runtime
from leadscore.ml import TrainingConfig
from leadscore.registry.tasks import run_training_job
from leadscore.scoring.batch import rescore_dataset
from tests.web.conftest import PASSWORD, World, seed

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("LEADSCORE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn in a background thread on 127.0.0.1 and a random port."""

    def __init__(self, settings) -> None:  # noqa: ANN001
        import uvicorn

        from leadscore.app import create_app

        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def seed_scored_world(home: Path, n_leads: int) -> World:
    """Demo world, a trained conversion model and scores, so pages show real reasons."""
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'browser.db'}", scheduler_enabled=False)
    world = seed(settings, n_leads=n_leads)
    runtime = Runtime.open(settings)
    try:
        run_training_job(runtime.sessions, dataset="demo",
                         config=TrainingConfig(seed=3, cv_folds=3, n_estimators=150, early_stopping_rounds=20))
        rescore_dataset(runtime.sessions, dataset="demo")
    finally:
        runtime.close()
    return world


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, World]]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)")
    world = seed_scored_world(tmp_path_factory.mktemp("browser"), 2_000)
    with Server(world.settings) as server:
        yield server, world


@pytest.fixture(scope="module")
def browser(live) -> Iterator[object]:  # noqa: ANN001
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page_for(browser, live):  # noqa: ANN001, ANN201
    """Log in as someone in a fresh context; collects console errors to assert none happened."""
    server, _ = live
    contexts = []

    def open_as(email: str):  # noqa: ANN202
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.console_errors = []
        page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        page.goto(server.url + "/")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        return page

    yield open_as
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_agent_sees_queue_and_lead_detail(page_for, live):
    server, world = live
    page = page_for("agent@example.com")
    assert page.url.endswith("/queue")
    rows = page.locator("#queue tbody tr[data-lead]")
    assert rows.count() >= 10
    assert page.locator("#queue .grade").count() >= 10  # scored by the trained model
    shot(page, "agent-queue")
    rows.first.locator("a").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#score-history .main-svg").count() >= 1  # Plotly drew the chart
    assert page.locator("ul.reasons li").count() >= 1
    shot(page, "agent-lead")
    assert page.console_errors == []


def test_agent_is_refused_manager_page_and_other_agents_lead(page_for, live):
    server, world = live
    page = page_for("agent@example.com")
    response = page.goto(server.url + "/team")
    assert response.status == 403 and "for managers" in page.content()
    response = page.goto(server.url + f"/leads/{world.other_lead}")
    assert response.status == 404
    shot(page, "agent-refused")


def test_filter_change_persists_across_reload_and_login(page_for, live):
    server, _ = live
    page = page_for("agent@example.com")
    with page.expect_navigation(url="**/queue**"):
        page.select_option("select[name=sort]", "newest")  # auto-submits and saves
    page.reload()
    assert page.locator("select[name=sort]").input_value() == "newest"
    again = page_for("agent@example.com")  # a new browser context: the view lives on the server
    assert again.locator("select[name=sort]").input_value() == "newest"
    with again.expect_navigation(url="**/queue**"):
        again.select_option("select[name=sort]", "expected_value")
    assert page.console_errors == [] and again.console_errors == []


def test_manager_pages_render_with_data(page_for):
    page = page_for("manager@example.com")
    assert page.url.endswith("/team")
    assert page.locator("#funnel .main-svg").count() >= 1
    assert page.locator("#agents tbody tr").count() >= 5
    assert page.locator("#forecast tbody tr").count() == 3
    shot(page, "manager-team")
    page.click("text=Behaviour")
    page.wait_for_load_state("networkidle")
    assert page.locator("#behaviour tbody tr").count() >= 5
    shot(page, "manager-behaviour")
    assert page.console_errors == []


def test_admin_page_renders_with_data(page_for):
    page = page_for("admin@example.com")
    assert page.url.endswith("/admin")
    assert page.locator("#versions tbody tr").count() >= 1
    assert page.locator("#jobs tbody tr").count() >= 1
    assert page.locator("#quality tbody tr").count() >= 5
    shot(page, "admin")
    page.click("text=Log out")
    page.wait_for_url("**/login")
    assert page.console_errors == []
