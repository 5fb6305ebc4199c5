"""Batch outputs keep their shape: the file output and the stored records match the row-by-row definition."""

import csv
import json

import numpy as np
import pandas as pd
import pytest

from leadscore.scoring import batch
from tests.support.trained import synthetic_data

NOW = np.datetime64("2025-06-01T00:00:00", "ns")


@pytest.fixture(scope="module")
def trained(synthetic_model):
    return synthetic_model, synthetic_data()[0]


def test_score_file_rows_match_the_model_scores(trained, tmp_path, monkeypatch):
    model, leads = trained
    monkeypatch.setattr(batch, "_now_naive", lambda: NOW)
    src = leads.drop(columns=["lead_id"]).assign(ref=[f"r{i}" for i in range(len(leads))])
    src["created_at"] = src["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    path, out = tmp_path / "leads.csv", tmp_path / "scored.csv"
    src.to_csv(path, index=False)
    assert batch.score_file(path, out, model, id_column="ref", chunk=256) == len(src)
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "id", "probability", "score", "grade", "reasons_positive", "reasons_negative"]
    # the same rows scored in one go, written the row-by-row way
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    frame.insert(0, "lead_id", np.arange(len(frame)))
    frame["created_at"] = pd.to_datetime(frame["created_at"], errors="coerce", utc=True).dt.tz_localize(None)
    scored = model.score(frame, None, as_of=NOW)
    want = [[str(i + 1), f"r{i}", f"{r.probability:.6f}", str(int(round(r.score))), r.grade,
             json.dumps([x["sentence"] for x in r.top_positive]), json.dumps([x["sentence"] for x in r.top_negative])]
            for i, r in enumerate(scored.itertuples(index=False))]
    assert rows[1:] == want
    assert any(json.loads(r[5]) for r in rows[1:])


def test_records_from_frame_keep_reasons_and_rounding(trained):
    model, leads = trained
    scored = model.score(leads.head(50), None, as_of=NOW)
    records = batch.records_from_frame(scored)
    assert [r.lead_id for r in records] == leads["lead_id"].head(50).tolist()
    for rec, row in zip(records, scored.itertuples(index=False), strict=True):
        assert rec.score == int(round(row.score)) and rec.grade == row.grade
        assert rec.probability == pytest.approx(row.probability, abs=0)
        assert rec.reasons == {"base_score": row.base_score, "top_positive": list(row.top_positive),
                               "top_negative": list(row.top_negative)}
    json.dumps([r.reasons for r in records])


def _leads_csv(trained, path, count=6):
    """The first ``count`` synthetic leads as a file would hold them, created_at as text."""
    _, leads = trained
    src = leads.drop(columns=["lead_id"]).head(count).assign(ref=[f"r{i}" for i in range(count)])
    src["created_at"] = src["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    src.to_csv(path, index=False)
    return src


def _scores(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return [row[2:5] for row in list(csv.reader(handle))[1:]]


def test_a_created_at_in_another_format_than_the_first_rows_is_read_not_dropped(trained, tmp_path, monkeypatch):
    """pandas infers one format from a column's first value; a date written without its time
    further down became 'missing' and the lead was scored as if its age were unknown."""
    model, _ = trained
    monkeypatch.setattr(batch, "_now_naive", lambda: NOW)
    src = _leads_csv(trained, tmp_path / "same.csv")
    batch.score_file(tmp_path / "same.csv", tmp_path / "same_out.csv", model)
    src.loc[3, "created_at"] = src.loc[3, "created_at"][:10]  # the date alone
    src.loc[4, "created_at"] = src.loc[4, "created_at"].replace(" ", "T") + "+00:00"
    src.to_csv(tmp_path / "mixed.csv", index=False)
    batch.score_file(tmp_path / "mixed.csv", tmp_path / "mixed_out.csv", model)
    same, mixed = _scores(tmp_path / "same_out.csv"), _scores(tmp_path / "mixed_out.csv")
    assert mixed[4] == same[4]  # the same instant, written another way
    midnight = src.copy()
    midnight.loc[3, "created_at"] = src.loc[3, "created_at"] + " 00:00:00"
    midnight.to_csv(tmp_path / "midnight.csv", index=False)
    batch.score_file(tmp_path / "midnight.csv", tmp_path / "midnight_out.csv", model)
    assert mixed[3] == _scores(tmp_path / "midnight_out.csv")[3]  # read as that day's midnight, not as missing


@pytest.mark.parametrize(("value", "reason"), [
    ("next tuesday", "'next tuesday' is not a date-time"),
    ("3000-01-01", "'3000-01-01' is not between 1900-01-01 and 2149-12-31 (UTC)"),
    ("1850-06-01 00:00:00", "'1850-06-01 00:00:00' is not between 1900-01-01 and 2149-12-31 (UTC)"),
])
def test_an_unreadable_created_at_names_its_row_and_leaves_the_previous_output(trained, tmp_path, value, reason):
    from leadscore.core.errors import LeadscoreError

    model, _ = trained
    src = _leads_csv(trained, tmp_path / "leads.csv")
    src.loc[4, "created_at"] = value
    src.to_csv(tmp_path / "leads.csv", index=False)
    out = tmp_path / "scored.csv"
    out.write_text("yesterday's output\n", encoding="utf-8")
    with pytest.raises(LeadscoreError) as raised:
        batch.score_file(tmp_path / "leads.csv", out, model, chunk=2)  # the third chunk holds row 5
    assert str(raised.value) == f"{tmp_path / 'leads.csv'}: row 5, created_at: {reason}" + (
        " (e.g. 2024-01-31T09:30:00Z)" if "not a date-time" in reason else "")
    assert out.read_text(encoding="utf-8") == "yesterday's output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv", "scored.csv"]  # no half-written file


def test_a_json_lines_created_at_must_be_a_string(trained, tmp_path):
    from leadscore.core.errors import LeadscoreError

    model, _ = trained
    path = tmp_path / "leads.jsonl"
    path.write_text(json.dumps({"ref": "a", "created_at": "2025-05-01T10:00:00Z"}) + "\n"
                    + json.dumps({"ref": "b", "created_at": 1700000000}) + "\n", encoding="utf-8")
    with pytest.raises(LeadscoreError, match=r"row 2, created_at: must be an ISO 8601 date-time string"):
        batch.score_file(path, tmp_path / "scored.csv", model)
