"""Baselines measured beside the leadscore pipeline, on the same folds.

* logistic regression: one-hot (categoricals) + median imputation, missing flags and scaling (numbers);
* default LightGBM: ``LGBMClassifier()`` with every parameter at its default, strings as pandas categories;
* Odoo-style naive Bayes: Odoo CRM's "predictive lead scoring" (crm.lead ``_pls_get_naive_bayes_probabilities``).

All baselines see the same columns as the pipeline minus identifier columns (text columns where almost
every value is unique, by the pipeline's bound ``mostly_distinct``, and record numbers by its rule
``is_record_number``), timestamps as day numbers. They use probability 0.5 as their accuracy threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from leadscore.ml.features.tabular import is_record_number, mostly_distinct


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop unique-string ids and record numbers; timestamps → days since epoch; strings stay strings."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[col] = (s - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86_400
        elif pd.api.types.is_bool_dtype(s.dtype):
            out[col] = s.astype(float)
        elif pd.api.types.is_numeric_dtype(s.dtype):
            if is_record_number(col, s):
                continue  # identifier
            out[col] = s.astype(float)
        else:
            if mostly_distinct(s.nunique(), int(s.notna().sum())):
                continue  # identifier
            out[col] = s.astype(object).where(s.notna(), None)
    return pd.DataFrame(out, index=frame.index)


def _kinds(frame: pd.DataFrame):
    cats = [c for c in frame.columns if frame[c].dtype == object]
    nums = [c for c in frame.columns if c not in cats]
    return cats, nums


class LogisticBaseline:
    def fit(self, X: pd.DataFrame, y):
        cats, nums = _kinds(X)
        prep = ColumnTransformer([
            ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="<missing>"),
                                  OneHotEncoder(handle_unknown="ignore")), cats),
            ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), nums)])
        self.model = make_pipeline(prep, LogisticRegression(max_iter=5000)).fit(X, y)
        return self

    def predict_proba(self, X):
        return self.model.predict_proba(X)[:, 1]


class LightGBMBaseline:
    def fit(self, X: pd.DataFrame, y):
        import lightgbm as lgb

        self.cats, _ = _kinds(X)
        self.levels = {c: pd.Index(sorted(X[c].dropna().unique())) for c in self.cats}
        self.model = lgb.LGBMClassifier(verbosity=-1).fit(self._frame(X), y)
        return self

    def _frame(self, X):
        X = X.copy()
        for c in self.cats:
            X[c] = pd.Categorical(X[c], categories=self.levels[c])
        return X

    def predict_proba(self, X):
        return self.model.predict_proba(self._frame(X))[:, 1]


class OdooNaiveBayes:
    """Faithful to Odoo's PLS: per field and value, won/lost counts (+0.1 each, Odoo's zero-frequency fix);
    P(won) ∝ P(won) · Π_fields count_won(value)/total_won(field), same for lost; unset and unseen values
    are skipped. Odoo scores selection / many2one fields only, so numeric columns are cut into training
    deciles first (our adaptation)."""

    def fit(self, X: pd.DataFrame, y):
        y = np.asarray(y)
        self.cats, self.nums = _kinds(X)
        self.edges = {c: np.unique(np.nanquantile(X[c], np.linspace(0.1, 0.9, 9))) for c in self.nums}
        keys = self._keys(X)
        self.tables = {}
        for c in keys.columns:
            k = keys[c]
            present = k.notna()
            won = k[present & (y == 1)].value_counts() + 0.1
            lost = k[present & (y == 0)].value_counts() + 0.1
            values = won.index.union(lost.index)
            won = won.reindex(values, fill_value=0.1)
            lost = lost.reindex(values, fill_value=0.1)
            self.tables[c] = (won / won.sum(), lost / lost.sum())
        self.p_won = y.mean()
        return self

    def _keys(self, X):
        keys = {c: X[c].astype(object) for c in self.cats}
        for c in self.nums:
            v = X[c].to_numpy(dtype=float)
            keys[c] = pd.Series(np.where(np.isnan(v), None, np.searchsorted(self.edges[c], v)), index=X.index,
                                dtype=object)
        return pd.DataFrame(keys, index=X.index)

    def predict_proba(self, X):
        keys = self._keys(X)
        log_won = np.full(len(X), np.log(self.p_won))
        log_lost = np.full(len(X), np.log(1 - self.p_won))
        for c, (pw, pl) in self.tables.items():
            w = keys[c].map(pw).to_numpy(dtype=float)
            l_ = keys[c].map(pl).to_numpy(dtype=float)
            seen = ~np.isnan(w)
            log_won[seen] += np.log(w[seen])
            log_lost[seen] += np.log(l_[seen])
        return 1 / (1 + np.exp(log_lost - log_won))
