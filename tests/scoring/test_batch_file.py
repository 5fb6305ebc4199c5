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
