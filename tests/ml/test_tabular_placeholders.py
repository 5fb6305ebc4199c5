"""A written missing-value token ('Select') next to real blanks is a category of its own."""

import numpy as np
import pandas as pd

from leadscore.ml import FeatureBuilder


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    city = rng.choice(["Mumbai", "Pune", "Select", None], n, p=[0.3, 0.3, 0.25, 0.15])
    spec = rng.choice(["Finance", "HR", None, "n/a"], n, p=[0.45, 0.45, 0.09, 0.01])  # rare token
    only_token = rng.choice(["Yes", "Select"], n)  # token but no blanks: stays missing
    return pd.DataFrame({"City": city, "Spec": spec, "Pick": only_token,
                         "Other": rng.choice(["a", "b"], n)}), (rng.random(n) < 0.4).astype(int)


def test_placeholder_token_is_its_own_level_and_online_path_agrees():
    leads, y = _frame()
    fb = FeatureBuilder(random_state=0)
    X = fb.fit_transform(leads, y=y)
    specs = {s.name: s for s in fb.feature_specs_}
    assert specs["city"].categories[-1] == "Select"
    assert "n/a" not in specs["spec"].categories  # rarer than min_category_count: stays missing
    assert "Select" not in specs["pick"].categories  # no blanks to tell it from: stays missing
    city = X["city"].to_numpy()
    select_code = float(len(specs["city"].categories) - 1)
    np.testing.assert_array_equal(city[leads["City"].eq("Select").to_numpy()], select_code)
    assert np.isnan(city[leads["City"].isna().to_numpy()]).all()
    assert np.isnan(X["pick"].to_numpy()[leads["Pick"].eq("Select").to_numpy()]).all()
    for i in range(20):  # one definition for batch and online scoring
        row = {k: v for k, v in leads.iloc[i].to_dict().items()}
        np.testing.assert_array_equal(fb.transform_one(row, [])[0], X.iloc[i].to_numpy())
    assert fb.describe("city", select_code) == "City is 'Select'"
