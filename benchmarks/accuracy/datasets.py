"""Shared datasets as (frame, target, as_of) triples, resolved relative to the repo root."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT.parent / "shared" / "data"

XED_POST_CONTACT = ["Tags", "Lead Quality", "Last Activity", "Last Notable Activity", "Lead Profile",
                    "Asymmetrique Activity Index", "Asymmetrique Profile Index", "Asymmetrique Activity Score",
                    "Asymmetrique Profile Score"]


@dataclass
class Dataset:
    name: str
    frame: pd.DataFrame  # features only, as an importer would hand them over
    y: np.ndarray
    as_of: pd.Timestamp | None  # export time: features are taken as of then
    note: str = ""
    leaky: list[str] = field(default_factory=list)  # known post-outcome columns kept in this variant


def x_education(post_contact: bool) -> Dataset:
    df = pd.read_csv(DATA / "x_education_leads" / "Leads.csv")
    y = df.pop("Converted").to_numpy()
    if not post_contact:
        df = df.drop(columns=XED_POST_CONTACT)
    name = "X Education, all columns" if post_contact else "X Education, pre-contact columns"
    return Dataset(name, df, y, None, leaky=XED_POST_CONTACT if post_contact else [])


def olist() -> Dataset:
    base = DATA / "olist_marketing_funnel"
    mql = pd.read_csv(base / "olist_marketing_qualified_leads_dataset.csv")
    closed = pd.read_csv(base / "olist_closed_deals_dataset.csv")
    y = mql["mql_id"].isin(closed["mql_id"]).astype(int).to_numpy()
    mql["first_contact_date"] = pd.to_datetime(mql["first_contact_date"])
    as_of = mql["first_contact_date"].max() + pd.Timedelta(days=1)
    return Dataset("Olist marketing funnel (MQL columns)", mql, y, as_of)


def maven() -> Dataset:
    base = DATA / "maven_crm_sales_opportunities"
    pipe = pd.read_csv(base / "sales_pipeline.csv")
    pipe = pipe[pipe["deal_stage"].isin(["Won", "Lost"])].reset_index(drop=True)
    y = (pipe["deal_stage"] == "Won").astype(int).to_numpy()
    accounts = pd.read_csv(base / "accounts.csv")
    products = pd.read_csv(base / "products.csv")
    products["product"] = products["product"].str.replace(" ", "", regex=False)
    teams = pd.read_csv(base / "sales_teams.csv")
    frame = pipe[["opportunity_id", "sales_agent", "product", "account", "engage_date"]].copy()
    frame["product"] = frame["product"].str.replace(" ", "", regex=False)
    frame = (frame.merge(accounts, on="account", how="left").merge(products, on="product", how="left")
             .merge(teams, on="sales_agent", how="left"))
    frame["engage_date"] = pd.to_datetime(frame["engage_date"])
    as_of = frame["engage_date"].max() + pd.Timedelta(days=1)
    return Dataset("Maven CRM (closed deals)", frame, y, as_of,
                   note="close_date / close_value left out: they are written at the outcome")


def all_datasets() -> list[Dataset]:
    return [x_education(True), x_education(False), olist(), maven()]
