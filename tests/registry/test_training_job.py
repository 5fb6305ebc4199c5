"""The training job end to end on a real database: register, promote, keep, fail safely."""

from __future__ import annotations

from sqlalchemy import select

from leadscore.core.database import session_scope
from leadscore.ml import TrainingConfig
from leadscore.registry import service
from leadscore.registry.models import TrainingJob
from leadscore.registry.tasks import run_training_job
from tests.registry.training_support import FAST, load_synthetic, runtime  # noqa: F401


def test_train_registers_promotes_and_retrains_without_regression(runtime):
    with session_scope(runtime.sessions) as session:
        load_synthetic(session, dataset="syn", n=1200, seed=5)
    first = run_training_job(runtime.sessions, dataset="syn", config=FAST)
    assert first.status == "succeeded" and first.promoted, first.message
    with session_scope(runtime.sessions) as session:
        version = service.get(session, first.version_id)
        assert version.state == "champion" and version.algorithm == "lightgbm-gam"
        assert version.n_train == 1200 and version.data_fingerprint and version.features
        assert version.metrics["roc_auc"] > 0.6
        assert {"lightgbm", "scikit-learn"} <= set(version.library_versions)
        assert "rules" in version.metrics["report"]["baselines"]
    # Same data, same seed: the candidate is as good as the champion, so it is promoted.
    second = run_training_job(runtime.sessions, dataset="syn", config=FAST, trigger="schedule")
    assert second.status == "succeeded" and second.promoted, second.decision
    with session_scope(runtime.sessions) as session:
        assert service.get(session, first.version_id).state == "retired"
        comparison = service.get(session, second.version_id).metrics["champion_comparison"]
        assert comparison["allowed"] and comparison["champion_holdout"]["roc_auc"] > 0.6


def test_a_worse_candidate_stays_a_candidate(runtime):
    with session_scope(runtime.sessions) as session:
        load_synthetic(session, dataset="syn", n=1200, seed=5)
    first = run_training_job(runtime.sessions, dataset="syn", config=FAST)
    # Hide the informative columns: the candidate loses accuracy and must not replace the champion.
    blind = TrainingConfig(seed=3, cv_folds=3, n_estimators=200, early_stopping_rounds=20,
                           exclude=("pre_approved", "timeline_months", "message", "Budget Band", "source",
                                    "price_min", "price_max", "utm_campaign", "last_contacted"))
    second = run_training_job(runtime.sessions, dataset="syn", config=blind)
    assert second.status == "succeeded" and not second.promoted, second.decision
    with session_scope(runtime.sessions) as session:
        assert service.get_champion(session, dataset="syn").id == first.version_id
        assert service.get(session, second.version_id).state == "candidate"


def test_a_failed_training_is_recorded_and_leaves_the_champion(runtime):
    with session_scope(runtime.sessions) as session:
        load_synthetic(session, dataset="syn", n=300, seed=2)
    first = run_training_job(runtime.sessions, dataset="syn", config=FAST)
    failed = run_training_job(runtime.sessions, dataset="nothing-here", config=FAST)
    assert failed.status == "failed" and "no leads with an outcome" in failed.message
    with session_scope(runtime.sessions) as session:
        job = session.get(TrainingJob, failed.job_id)
        assert job.status == "failed" and job.finished_at is not None and "outcome" in job.message
        assert service.get_champion(session, dataset="syn").id == first.version_id


def test_cold_start_uses_the_rules_model(runtime):
    with session_scope(runtime.sessions) as session:
        load_synthetic(session, dataset="tiny", n=60, seed=4)
    result = run_training_job(runtime.sessions, dataset="tiny", config=FAST)
    assert result.status == "succeeded" and result.promoted
    with session_scope(runtime.sessions) as session:
        version = service.get(session, result.version_id)
        assert version.algorithm == "rules" and "rules model" in (version.notes or "")


def test_the_daily_retrain_skips_a_dataset_trained_within_the_interval(runtime):
    from datetime import timedelta

    from leadscore.core.services import Services
    from leadscore.registry.tasks import retrain_all

    with session_scope(runtime.sessions) as session:
        load_synthetic(session, dataset="syn", n=600, seed=5)
    assert run_training_job(runtime.sessions, dataset="syn", config=FAST).promoted
    services = Services.open(runtime.settings)
    try:
        assert retrain_all(services).startswith("syn: skipped (trained at ")
        with session_scope(runtime.sessions) as session:
            jobs = session.scalars(select(TrainingJob).where(TrainingJob.kind == "conversion")).all()
            assert len(jobs) == 1
            jobs[0].finished_at -= timedelta(hours=runtime.settings.retrain_interval_hours + 1)
        assert retrain_all(services).startswith("syn: succeeded")  # stale now: trained again
        with session_scope(runtime.sessions) as session:
            assert len(session.scalars(select(TrainingJob).where(TrainingJob.kind == "conversion")).all()) == 2
    finally:
        services.close()
