"""Importers at the service level, on SQLite and PostgreSQL (the test's session is rolled back)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from leadscore.agents.models import Agent
from leadscore.core.cli import UserError
from leadscore.integrations.importers.leads import LeadImporter
from leadscore.integrations.importers.reader import FileRefused
from leadscore.integrations.importers.report import ErrorReport
from leadscore.integrations.models import AttributeColumn
from leadscore.integrations.schemas import build_options
from leadscore.integrations.service import import_file
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome
from leadscore.enrichment.models import Property
from leadscore.routing.models import Assignment
from tests.agents.factories import AgentFactory
from tests.leads.factories import LeadFactory


def run(session, kind, path, batch_size=2000, **options):
    report = ErrorReport()
    result = import_file(session, kind, path, build_options(kind, **options), report=report, batch_size=batch_size)
    return result, [(p.line, p.column, p.reason) for p in report.problems]


def pairs(session, statement):
    return {key: value for key, value in session.execute(statement)}


def leads_of(session, dataset):
    return {lead.external_id: lead for lead in session.scalars(select(Lead).where(Lead.dataset == dataset))}


def test_leads_fields_are_mapped_and_other_columns_typed(session, write_file):
    path = write_file(
        "leads.csv",
        "Lead ID,First Name,Email,Zip Code,Budget,Signed Up,visits,score,newsletter,account,last_seen\n"
        "L1,Ann,ANN@Example.com,02134,450000,2024-03-01,3,0.5,yes,00123,2024-03-05 10:00:00\n"
        "L2,Bo,,98103,,2024-03-02,12,1,no,00777,\n",
    )
    result, problems = run(
        session, "leads", path, dataset="t", id_column="Lead ID", created_at="Signed Up", mapping={"price_max": "Budget"}
    )
    assert problems == [] and (result.inserted, result.updated, result.rejected) == (2, 0, 0)
    leads = leads_of(session, "t")
    ann = leads["L1"]
    assert (ann.first_name, ann.email, ann.postcode, ann.price_max) == ("Ann", "ann@example.com", "02134", 450000.0)
    assert ann.created_at == datetime(2024, 3, 1, tzinfo=UTC)
    assert ann.status == "new"
    assert ann.attributes == {
        "visits": 3, "score": 0.5, "newsletter": True, "account": "00123", "last_seen": "2024-03-05T10:00:00+00:00",
    }  # fmt: skip
    assert leads["L2"].attributes == {"visits": 12, "score": 1.0, "newsletter": False, "account": "00777"}
    types = pairs(session, select(AttributeColumn.name, AttributeColumn.type).where(AttributeColumn.dataset == "t"))
    assert types == {"visits": "integer", "score": "float", "newsletter": "boolean", "account": "string", "last_seen": "datetime"}


def test_reimport_updates_changed_rows_and_never_duplicates(session, write_file):
    first = write_file("a.csv", "id,email,stage,extra\n1,a@x.io,cold,keep\n2,b@x.io,warm,keep\n3,c@x.io,hot,keep\n")
    run(session, "leads", first, dataset="r")
    before = leads_of(session, "r")["3"].updated_at
    second = write_file("b.csv", "id,email,stage\n1,new@x.io,warm\n2,b@x.io,\n4,d@x.io,cold\n")
    result, problems = run(session, "leads", second, dataset="r")
    assert problems == [] and (result.inserted, result.updated, result.duplicates) == (1, 2, 0)
    session.expire_all()
    leads = leads_of(session, "r")
    assert sorted(leads) == ["1", "2", "3", "4"]
    assert leads["1"].email == "new@x.io"
    # Columns of the new file replace their keys (an empty cell clears one); others stay.
    assert leads["1"].attributes == {"stage": "warm", "extra": "keep"}
    assert leads["2"].attributes == {"extra": "keep"}
    assert leads["3"].attributes == {"stage": "hot", "extra": "keep"} and leads["3"].updated_at == before
    # The same file again changes nothing in the counts of rows.
    result, _ = run(session, "leads", second, dataset="r")
    assert (result.inserted, result.updated) == (0, 3)
    assert session.scalar(select(Lead.id).where(Lead.dataset == "r").order_by(Lead.id.desc()).limit(1)) == leads["4"].id
    assert len(leads_of(session, "r")) == 4


def test_bad_rows_are_reported_exactly_and_good_rows_kept(session, write_file):
    path = write_file(
        "mixed.csv",
        "id,email,status,bedrooms,latitude,pre_approved\n"
        "1,ok@x.io,new,3,47.6,yes\n"
        "2,not-an-email,maybe,three,47.6,yes\n"
        ",nobody@x.io,new,1,47.6,no\n"
        "4,d@x.io,won,2,123.0,perhaps\n"
        "5,e@x.io,contacted\n"
        "6,f@x.io,QUALIFIED,4,-33.9,0\n",
    )
    result, problems = run(session, "leads", path, dataset="bad")
    assert problems == [
        (3, "email", "email: not an email address"),
        (3, "status", "status: not one of new, contacted, qualified, showing, offer, won, lost"),
        (3, "bedrooms", "bedrooms: not a number"),
        (4, "id", "missing id"),
        (5, "latitude", "latitude: above the maximum 90"),
        (5, "pre_approved", "pre_approved: not a yes/no value (true/false, yes/no, 1/0)"),
        (6, "", "expected 6 fields, found 3"),
    ]
    assert (result.rows_read, result.inserted, result.rejected) == (6, 2, 4)
    leads = leads_of(session, "bad")
    assert sorted(leads) == ["1", "6"]
    assert (leads["6"].status, leads["6"].pre_approved, leads["6"].bedrooms) == ("qualified", False, 4)


def test_times_outside_the_models_range_are_row_errors(session, write_file):
    path = write_file("far.csv", "id,created_at\n1,2024-01-31\n2,0002-01-01\n3,3000-06-01T10:00:00Z\n")
    result, problems = run(session, "leads", path, dataset="far")
    assert problems == [(3, "created_at", "created_at: must be between 1900-01-01 and 2149-12-31 (UTC)"),
                        (4, "created_at", "created_at: must be between 1900-01-01 and 2149-12-31 (UTC)")]
    assert (result.inserted, result.rejected) == (1, 2)
    assert sorted(leads_of(session, "far")) == ["1"]


def test_a_repeated_id_keeps_the_later_row_across_batches(session, write_file):
    path = write_file("dups.csv", "id,email\n1,a@x.io\n2,b@x.io\n1,a2@x.io\n3,c@x.io\n2,b2@x.io\n2,b3@x.io\n")
    result, _ = run(session, "leads", path, dataset="d", batch_size=2)
    assert (result.inserted, result.duplicates, result.updated) == (3, 3, 0)
    leads = leads_of(session, "d")
    assert {k: v.email for k, v in leads.items()} == {"1": "a2@x.io", "2": "b3@x.io", "3": "c@x.io"}


def test_target_outcomes_and_agent_assignments(session, write_file):
    AgentFactory(dataset="crm", external_id="A-1", name="Ann Agent")
    path = write_file(
        "deals.csv",
        "id,stage,closed,amount,owner,engaged\n"
        "1,Won,2024-02-01,1000,A-1,2024-01-01\n"
        "2,Lost,2024-02-02,0,ann agent,2024-01-02\n"
        "3,Engaging,,,New Person,2024-01-03\n"
        "4,Won,someday,5,A-1,2024-01-04\n",
    )
    options = dict(
        dataset="crm", target="stage", positive=["won"], negative=["lost"], closed_at="closed", value="amount",
        agent="owner", created_at="engaged",
    )  # fmt: skip
    result, problems = run(session, "leads", path, **options)
    assert problems == [(5, "closed", "closed_at: not a date (e.g. 2024-01-31 or 2024-01-31T09:30:00)")]
    assert result.extra == {"agents_created": 1, "won": 1, "lost": 1, "open": 1, "assigned": 3}
    leads = leads_of(session, "crm")
    assert (leads["1"].status, leads["2"].status, leads["3"].status) == ("won", "lost", "new")
    outcomes = {o.lead_id: o for o in session.scalars(select(Outcome))}
    assert outcomes[leads["1"].id].closed_at == datetime(2024, 2, 1, tzinfo=UTC)
    assert outcomes[leads["1"].id].deal_value == 1000.0
    assert leads["3"].id not in outcomes
    agents = {a.external_id: a for a in session.scalars(select(Agent).where(Agent.dataset == "crm"))}
    assert leads["1"].agent_id == leads["2"].agent_id == agents["A-1"].id  # by id, then by name
    assert leads["3"].agent_id == agents["New Person"].id
    first = session.scalars(select(Assignment).where(Assignment.lead_id == leads["1"].id)).one()
    assert (first.method, first.assigned_at) == ("import", datetime(2024, 1, 1, tzinfo=UTC))

    # Same file again: nothing new assigned. Then lead 1 moves to another agent.
    result, _ = run(session, "leads", path, **options)
    assert "assigned" not in result.extra and session.query(Assignment).count() == 3
    moved = write_file("moved.csv", "id,stage,closed,amount,owner,engaged\n1,Won,2024-02-01,1000,New Person,2024-01-01\n")
    result, _ = run(session, "leads", moved, **options)
    assert result.extra["reassigned"] == 1
    session.expire_all()  # the import wrote with Core statements
    assert session.get(Lead, leads["1"].id).agent_id == agents["New Person"].id
    history = session.scalars(select(Assignment).where(Assignment.lead_id == leads["1"].id).order_by(Assignment.id)).all()
    assert [(a.agent_id, a.ended_at is None) for a in history] == [(agents["A-1"].id, False), (agents["New Person"].id, True)]


def test_positive_value_that_never_occurs_is_refused(session, write_file):
    path = write_file("t.csv", "id,converted\n1,0\n2,1\n")
    with pytest.raises(FileRefused, match="--positive yes never occurs in column 'converted'"):
        run(session, "leads", path, dataset="p", target="converted", positive=["Yes"])
    assert leads_of(session, "p") == {}


def test_outcomes_with_others_lost_and_unknown_leads(session, write_file):
    for i in range(5):
        LeadFactory(dataset="o", external_id=f"m{i}")
    LeadFactory(dataset="elsewhere", external_id="m9")
    path = write_file("closed.csv", "mql_id,won_date,revenue,segment\nm1,2024-05-01 10:00:00,100.5,pets\nm3,2024-05-02,,cars\nm9,2024-05-03,,x\n")
    options = dict(dataset="o", lead_id="mql_id", result="won", closed_at="won_date", value="revenue", others="lost")
    result, problems = run(session, "outcomes", path, batch_size=2, **options)
    assert problems == [(4, "mql_id", "unknown lead 'm9' in dataset 'o'")]
    assert result.extra == {"won": 2, "others_lost": 3}
    results = pairs(session, select(Lead.external_id, Outcome.result).join(Outcome, Outcome.lead_id == Lead.id).where(Lead.dataset == "o"))
    assert results == {"m0": "lost", "m1": "won", "m2": "lost", "m3": "won", "m4": "lost"}
    assert {lead.external_id: lead.status for lead in leads_of(session, "o").values()}["m1"] == "won"
    won = session.scalars(select(Outcome).join(Lead).where(Lead.external_id == "m1")).one()
    assert (won.deal_value, won.attributes) == (100.5, {"segment": "pets"})
    # Idempotent: a second run updates the two and finds no other lead left.
    result, _ = run(session, "outcomes", path, **options)
    assert (result.inserted, result.updated, result.extra.get("others_lost")) == (0, 2, None)
    assert session.query(Outcome).join(Lead).where(Lead.dataset == "o").count() == 5


def test_outcomes_need_leads_in_the_dataset(session, write_file):
    path = write_file("closed.csv", "mql_id\nm1\n")
    with pytest.raises(FileRefused, match="dataset 'empty' has no leads"):
        run(session, "outcomes", path, dataset="empty", lead_id="mql_id", result="won")


def test_interactions_are_idempotent_without_ids_and_check_references(session, write_file):
    lead = LeadFactory(dataset="i", external_id="L1")
    agent = AgentFactory(dataset="i", external_id="AG")
    session.add(Property(dataset="i", external_id="P1"))
    session.flush()
    path = write_file(
        "events.csv",
        "lead,type,occurred_at,channel,direction,agent,property,page\n"
        "L1,Listing View,2024-01-01T10:00:00,web,inbound,,P1,/homes/1\n"
        "L1,call,2024-01-02T10:00:00,phone,outbound,AG,,\n"
        "L2,call,2024-01-02T10:00:00,phone,outbound,,,\n"
        "L1,call,2024-01-03T10:00:00,phone,sideways,XX,,\n"
        "L1,email_open,,email,inbound,,,\n"
        "L1,call,2024-01-04T10:00:00,phone,outbound,XX,P404,\n",
    )
    result, problems = run(session, "interactions", path, dataset="i")
    assert problems == [
        (5, "direction", "direction: not one of inbound, outbound"),
        (6, "occurred_at", "missing occurred_at"),
        (4, "lead", "unknown lead 'L2' in dataset 'i'"),
        (7, "agent", "unknown agent 'XX' in dataset 'i'"),
        (7, "property", "unknown property 'P404' in dataset 'i'"),
    ]
    assert (result.inserted, result.rejected) == (2, 4)
    stored = session.scalars(select(Interaction).where(Interaction.lead_id == lead.id).order_by(Interaction.occurred_at)).all()
    assert [(i.type, i.agent_id, i.property_id is not None, i.meta) for i in stored] == [
        ("listing_view", None, True, {"page": "/homes/1"}),
        ("call", agent.id, False, {}),
    ]
    assert all(i.external_id.startswith("auto:") for i in stored)
    result, _ = run(session, "interactions", path, dataset="i")
    assert (result.inserted, result.updated) == (0, 2)
    assert session.query(Interaction).count() == 2


def test_interactions_with_their_own_ids(session, write_file):
    LeadFactory(dataset="k", external_id="L1")
    path = write_file("e.csv", "event,lead_id,kind,at\ne1,L1,call,2024-01-01\ne2,L1,call,2024-01-01\n")
    result, _ = run(session, "interactions", path, dataset="k", id_column="event", mapping={"type": "kind", "occurred_at": "at"})
    assert result.inserted == 2  # same content, two ids: two events
    with pytest.raises(FileRefused, match="interactions need a occurred_at column"):
        run(session, "interactions", path, dataset="k", mapping={"type": "kind"})


def test_agents_lists_are_split(session, write_file):
    path = write_file(
        "agents.csv",
        "agent_id,name,team,languages,territories,capacity,active,office\n"
        'a1,Ann,North,"en; es","98103|98104",30,yes,Seattle\n'
        "a2,,South,en,98105,-1,no,Tacoma\n"
        "a3,,South,en,98105,,no,Tacoma\n",
    )
    result, problems = run(session, "agents", path, dataset="ag")
    assert problems == [(3, "capacity", "capacity: below the minimum 0")]
    agents = {a.external_id: a for a in session.scalars(select(Agent).where(Agent.dataset == "ag"))}
    ann = agents["a1"]
    assert (ann.name, ann.team, ann.languages, ann.territories, ann.capacity, ann.active) == (
        "Ann", "North", ["en", "es"], ["98103", "98104"], 30, True,
    )  # fmt: skip
    assert ann.attributes == {"office": "Seattle"}
    assert (agents["a3"].name, agents["a3"].capacity, agents["a3"].active) == ("a3", 50, False)


def test_properties_with_aliases_and_ranges(session, write_file):
    path = write_file(
        "homes.csv",
        "id,date,price,bedrooms,zipcode,lat,long,yr_built,grade\n"
        '"1","20141013T000000",221900,3,"98178",47.51,-122.25,1955,7\n'
        '"2","20141209T000000",538000,3,"98125",47.72,-122.31,19510,8\n',
    )
    result, problems = run(session, "properties", path, dataset="kc", mapping={"sold_at": "date", "sold_price": "price", "price": "price", "year_built": "yr_built"})
    assert problems == [(3, "yr_built", "year_built: above the maximum 2200")]
    home = session.scalars(select(Property).where(Property.dataset == "kc")).one()
    assert (home.postcode, home.latitude, home.longitude, home.price, home.sold_price) == ("98178", 47.51, -122.25, 221900.0, 221900.0)
    assert home.sold_at == datetime(2014, 10, 13, tzinfo=UTC)
    assert home.attributes == {"grade": 7}


def test_json_lines_import(session, write_file):
    path = write_file(
        "leads.jsonl",
        '{"id": 1, "email": "a@x.io", "visits": 3, "tags": ["a", "b"], "vip": true}\n'
        '{"id": "2", "email": "b@x.io", "visits": 2.5, "late": "2024-01-01"}\n'
        '{"email": "c@x.io"}\n',
    )
    result, problems = run(session, "leads", path, dataset="js")
    assert problems == [(3, "id", "missing id")]
    leads = leads_of(session, "js")
    assert leads["1"].attributes == {"visits": 3, "tags": ["a", "b"], "vip": True}
    assert leads["2"].attributes == {"visits": 2.5, "late": "2024-01-01"}
    types = pairs(session, select(AttributeColumn.name, AttributeColumn.type).where(AttributeColumn.dataset == "js"))
    assert types == {"visits": "float", "tags": "json", "vip": "boolean", "late": "datetime"}


def test_a_row_the_database_refuses_does_not_sink_its_batch(session, write_file, monkeypatch):
    original = LeadImporter.upsert

    def upsert(self, records, counts):
        if any(r.key == "boom" for r in records):
            raise IntegrityError("INSERT", {}, Exception("simulated constraint violation"))
        return original(self, records, counts)

    monkeypatch.setattr(LeadImporter, "upsert", upsert)
    path = write_file("x.csv", "id,email\n1,a@x.io\nboom,b@x.io\n3,c@x.io\n")
    result, problems = run(session, "leads", path, dataset="db")
    assert problems == [(3, "", "rejected by the database: simulated constraint violation")]
    assert (result.inserted, result.rejected) == (2, 1)
    assert sorted(leads_of(session, "db")) == ["1", "3"]


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("leads", {"target": "x"}, "--target x needs --positive VALUE"),
        ("leads", {"closed_at": "x"}, "need --target COLUMN"),
        ("leads", {"target": "x", "positive": ["a"], "negative": ["A"]}, "both --positive and --negative"),
        ("outcomes", {}, "give either --result"),
        ("outcomes", {"result": "maybe"}, "--result"),
        ("leads", {"dataset": "has space"}, "--dataset"),
    ],
)
def test_wrong_option_combinations(kind, options, message):
    with pytest.raises(UserError, match=message):
        build_options(kind, **options)
