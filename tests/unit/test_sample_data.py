"""The synthetic sample data in infra/ (accounts.csv, sample_leads.jsonl) and its generator."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"
FILES = ("accounts.csv", "sample_leads.jsonl")
COLUMNS = ["account_id", "name", "domain", "website", "owner_email", "industry", "employees"]
COLUMNS += ["country", "state", "city", "parent_account_id", "tier"]


def _host(value: str) -> str:
    return value.split("//")[-1].split("/")[0].removeprefix("www.").lower()


@pytest.fixture(scope="module")
def accounts() -> dict[str, dict[str, str]]:
    with open(INFRA / "accounts.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {row["account_id"]: row for row in rows}


@pytest.fixture(scope="module")
def leads() -> list[dict]:
    lines = (INFRA / "sample_leads.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_generator_is_deterministic(tmp_path: Path) -> None:
    """Two runs of make_samples.py produce byte-identical copies of the committed files."""
    for run in ("a", "b"):
        subprocess.run(
            [sys.executable, str(INFRA / "make_samples.py"), "--out", str(tmp_path / run)],
            check=True,
            capture_output=True,
        )
    for name in FILES:
        committed = (INFRA / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() == committed, name
        assert (tmp_path / "b" / name).read_bytes() == committed, name


def test_account_columns_and_unique_ids() -> None:
    """accounts.csv has the DESIGN §6 columns plus tier, and every account_id is unique."""
    with open(INFRA / "accounts.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        ids = [row["account_id"] for row in reader]
    assert reader.fieldnames == COLUMNS
    assert len(ids) == len(set(ids)) >= 50


def test_owners_and_parents_exist(accounts: dict[str, dict[str, str]]) -> None:
    """Every owner_email is a rep in routing.yaml and every parent_account_id is an account."""
    routing = yaml.safe_load((INFRA / "routing.yaml").read_text(encoding="utf-8"))
    rep_emails = {rep["email"] for rep in routing["reps"]}
    owners = [a["owner_email"] for a in accounts.values() if a["owner_email"]]
    assert owners and set(owners) <= rep_emails
    parents = [a["parent_account_id"] for a in accounts.values() if a["parent_account_id"]]
    assert parents and set(parents) <= set(accounts)


def test_expected_accounts_match_by_domain(
    leads: list[dict], accounts: dict[str, dict[str, str]]
) -> None:
    """Each lead's _expect.account_id exists and its email or website domain belongs to it."""
    matched = 0
    for number, lead in enumerate(leads, 1):
        account_id = lead["_expect"]["account_id"]
        if account_id is None:
            continue
        account = accounts[account_id]
        own = {account["domain"].lower(), _host(account["website"])}
        seen = {lead["email"].split("@")[-1].lower(), _host(lead.get("website", ""))}
        assert any(d == o or d.endswith("." + o) for d in seen for o in own), number
        matched += 1
    assert matched >= 50


def test_lead_mix(leads: list[dict]) -> None:
    """At least 90 lines, 4 invalid rows and 4 exact duplicates of an earlier line."""
    assert len(leads) >= 90
    assert sum(not lead["_expect"]["valid"] for lead in leads) >= 4
    duplicates = 0
    for number, lead in enumerate(leads, 1):
        original = lead["_expect"]["duplicate_of_line"]
        if original is None:
            continue
        assert original < number
        first = leads[original - 1]
        strip = {k: v for k, v in lead.items() if k != "_expect"}
        assert strip == {k: v for k, v in first.items() if k != "_expect"}
        assert lead.get("event_id")
        duplicates += 1
    assert duplicates >= 4
