"""`leadscore serve`, `leadscore worker` and `leadscore scheduler`."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable

import typer

from leadscore.core.cli import UserError, clean_errors, console, err_console
from leadscore.core.config import load_settings

log = logging.getLogger(__name__)


@clean_errors
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes."),
    log_level: str = typer.Option(None, "--log-level", help="Default: LEADSCORE_LOG_LEVEL."),
) -> None:
    """Serve the REST API and the dashboard (and, on embedded defaults, the background work)."""
    settings = load_settings()  # fail early, with one line, on bad configuration
    if workers > 1 and not (settings.redis_url and settings.broker_url):
        # Each worker process would hold its own cache and its own task queue: a score
        # rescored in one would stay stale in the other's cache.
        raise UserError("--workers above 1 needs LEADSCORE_REDIS_URL and LEADSCORE_BROKER_URL (production "
                        "mode): the embedded cache and queue live inside a single process")
    from leadscore.core.runtime import Runtime

    Runtime.open(settings).close()  # connect and migrate once, before workers start
    console.print(f"leadscore API on http://{host}:{port}  (docs at /docs)")
    run_uvicorn("leadscore.app:create_served_app", host=host, port=port, workers=workers,
                log_level=(log_level or settings.log_level).lower(), keep_alive=settings.keep_alive_seconds,
                factory=True)


def run_uvicorn(app: str, *, host: str, port: int, workers: int, log_level: str, keep_alive: float,
                factory: bool = False) -> None:
    """Serve ``app`` (an import string) as `leadscore serve` does: our event loop, uvicorn's
    supervisor for several workers, each worker listening on a socket of its own.

    Separate from the command so that benchmarks/run_api.py serves its trivial endpoint the
    same way when it measures that endpoint on this loop."""
    import uvicorn

    options = dict(
        factory=factory,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        loop=_event_loop(),
        http=_http_protocol(),
        backlog=4096,  # a burst of 1,000+ clients fits in the accept queue
        timeout_keep_alive=keep_alive,
        # uvicorn kills a worker process that does not answer its health ping within this time;
        # a new worker first re-imports this CLI (with scikit-learn and pandas: ~7 s on 2 loaded
        # cores), before it can answer, so the default 5 s killed every worker in a loop.
        timeout_worker_healthcheck=60,
    )
    sock = _shared_socket(host, port) if workers > 1 else None
    if sock is None:
        uvicorn.run(app, **options)
        return
    # What uvicorn.run does for several workers, with a socket the workers' loops give each
    # worker a listening socket of its own from (core.event_loop: even spread of connections).
    from uvicorn.supervisors import Multiprocess

    try:
        Multiprocess(uvicorn.Config(app, **options), sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


def _shared_socket(host: str, port: int) -> socket.socket | None:
    """The bound socket for uvicorn's workers: ``SO_REUSEPORT`` where our loop serves (see
    core.event_loop); None to let uvicorn bind its own."""
    if _event_loop() == "auto":
        return None
    from leadscore.core.event_loop import reuse_port_socket

    try:
        return reuse_port_socket(host, port)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _http_protocol() -> str:
    """httptools sending each response's head and body in one write (core.http_protocol);
    uvicorn's default where httptools is missing."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "auto"
    return "leadscore.core.http_protocol:OneWriteHttpToolsProtocol"


def _event_loop() -> str:
    """uvloop accepting in batches (see core.event_loop); uvicorn's default where uvloop is missing."""
    try:
        import uvloop  # noqa: F401  # not on Windows
    except ImportError:
        return "auto"
    return "leadscore.core.event_loop:new_event_loop"


@clean_errors
def worker_command(
    concurrency: int = typer.Option(
        2, "--concurrency", min=1, max=64,
        help="Consumer threads of the main queue, each with its own broker connection (plus one for "
        "deferrable work, taken in batches). Handlers spend much of their "
        "time waiting on the database and on webhook receivers, so a few threads keep the queue moving.",
    ),
) -> None:
    """Run background work from RabbitMQ (production mode: LEADSCORE_BROKER_URL set)."""
    from leadscore.core.queue import deferred_queue
    from leadscore.core.rabbitmq import consume_batches, consume_rabbitmq
    from leadscore.core.services import Services
    from leadscore.tasks import make_scheduler

    settings = load_settings()
    if not settings.broker_url:
        raise UserError(
            "LEADSCORE_BROKER_URL is not set: without a broker, `leadscore serve` runs background work in-process"
        )
    services = Services.open(settings, consume_in_process=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    services.dispatcher.listen_for_commits()  # dispatch what the API commits at once (PostgreSQL)
    services.dispatcher.start()
    scheduler = make_scheduler(services) if settings.scheduler_enabled else None
    if scheduler:
        scheduler.start()
    console.print(f"worker consuming RabbitMQ with {concurrency} thread(s) (Ctrl-C to stop)")

    def guarded(loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except Exception:
                # One consumer lost its connection: stop them all, so the process exits and its
                # supervisor restarts it whole (unacknowledged messages are redelivered).
                log.exception("consumer failed; stopping the worker")
                stop.set()
                raise
        return run

    consume = guarded(lambda: consume_rabbitmq(settings.broker_url, services.tasks, stop=stop,
                                               queue=settings.queue_name, prefetch=4))
    # Forecasts and other deferrable work: their own queue and one thread taking them in batches,
    # so a score change and its webhook never wait behind them.
    consume_deferred = guarded(lambda: consume_batches(settings.broker_url, services.tasks, stop=stop,
                                                       queue=deferred_queue(settings.queue_name)))
    consumers = [threading.Thread(target=consume, name=f"leadscore-consumer-{n}", daemon=True)
                 for n in range(1, concurrency)]
    consumers.append(threading.Thread(target=consume_deferred, name="leadscore-consumer-deferred", daemon=True))
    try:
        for consumer in consumers:
            consumer.start()
        consume()
        for consumer in consumers:
            consumer.join(timeout=30)
    finally:
        if scheduler:
            scheduler.stop()
        services.close()


@clean_errors
def scheduler_command(
    once: bool = typer.Option(False, "--once", help="Run whatever is due now and exit (for cron)."),
) -> None:
    """Run the periodic jobs (daily retraining, drift checks, webhook retries) in the foreground."""
    from leadscore.core.services import Services
    from leadscore.tasks import make_scheduler

    services = Services.open(load_settings())
    scheduler = make_scheduler(services)
    services.dispatcher.start()
    try:
        if once:
            for name, status in scheduler.run_due().items():
                console.print(f"{name}: {status or 'skipped (held by another process)'}")
            services.dispatcher.drain()
            services.queue.join() if hasattr(services.queue, "join") else None
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        scheduler.start()
        err_console.print("scheduler running (Ctrl-C to stop)")
        stop.wait()
    finally:
        scheduler.stop()
        services.close()
