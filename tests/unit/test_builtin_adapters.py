"""Embedded defaults of the CRM, company directory, notifier and calendar ports, on SQLite files."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.rep_message import notice
from tools.calendar_builtin import BuiltinCalendar
from tools.crm_builtin import BuiltinCRM
from tools.directory import InMemoryDirectory, load_accounts_csv
from tools.outbox import Outbox
from tools.slack import block_kit

HEADER = (
    "account_id,name,domain,website,owner_email,industry,employees,country,state,city,"
    "parent_account_id,tier"
)
ACCOUNTS = [
    'A-1,Acme Ltd,,https://www.acme.co.uk/x,Ana@Example.com,Manufacturing,"1,200",GB,,London,,1',
    "A-2,Corvex,corvex.com,https://corvex.com,ben@example.com,Software,50,DE,,Berlin,,",
    "A-3,Corvex Labs,labs.corvex.io,,ben@example.com,Software,,DE,,Munich,A-2,2",
]

DAN = {
    "id": "dan",
    "email": "dan@example.com",
    "timezone": "America/New_York",
    "working_hours": "09:00-17:00",
}
NEW_YORK = ZoneInfo("America/New_York")
MONDAY_5AM_NY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def write_csv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[BuiltinCRM]:
    store = BuiltinCRM(tmp_path / "crm.sqlite")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite")
    await box.open()
    yield box
    await box.close()


@pytest.fixture
async def calendar(tmp_path: Path) -> AsyncIterator[BuiltinCalendar]:
    cal = BuiltinCalendar(tmp_path / "calendar.sqlite", base_url="https://leads.example.com")
    await cal.open()
    yield cal
    await cal.close()


# CRM


async def test_upsert_contact_by_email_is_single_row_and_merges(crm: BuiltinCRM) -> None:
    """Upserting one email twice (any case) keeps one contact and merges the properties."""
    first = await crm.upsert_contact("Jo@Acme.co.uk", {"firstname": "Jo", "jobtitle": "VP"})
    second = await crm.upsert_contact("jo@acme.co.uk", {"jobtitle": "CTO", "phone": None})

    contact = await crm.find_contact("JO@acme.co.uk")
    assert (first["created"], second["created"]) == (True, False)
    assert second["id"] == first["id"]
    assert (await crm.counts())["contacts"] == 1
    assert contact is not None
    assert contact["properties"] == {"firstname": "Jo", "jobtitle": "CTO"}


async def test_add_note_with_same_key_stores_one_note(crm: BuiltinCRM) -> None:
    """A note added twice under one key is stored once and returns the same id."""
    contact = await crm.upsert_contact("jo@acme.co.uk", {})
    first = await crm.add_note(contact["id"], "lead-1:note", "Routed to ana")
    second = await crm.add_note(contact["id"], "lead-1:note", "Routed to ana")

    assert (first["created"], second["created"]) == (True, False)
    assert second["id"] == first["id"]
    assert (await crm.counts())["notes"] == 1


async def test_assign_owner_returns_previous_owner(crm: BuiltinCRM) -> None:
    """Reassigning a contact reports who owned it before."""
    contact = await crm.upsert_contact("jo@acme.co.uk", {})
    await crm.assign_owner(contact["id"], "ana@example.com")
    receipt = await crm.assign_owner(contact["id"], "Ben@Example.com")

    assert receipt == {
        "contact_id": contact["id"],
        "previous_owner": "ana@example.com",
        "owner": "ben@example.com",
        "changed": True,
    }
    found = await crm.find_contact("jo@acme.co.uk")
    assert found is not None and found["owner_email"] == "ben@example.com"


async def test_assign_owner_of_unknown_contact_raises(crm: BuiltinCRM) -> None:
    """Assigning an owner to a contact that does not exist is an error, not a silent no-op."""
    with pytest.raises(LookupError, match="no contact"):
        await crm.assign_owner("missing", "ana@example.com")


async def test_seed_accounts_twice_keeps_one_company_per_account(
    crm: BuiltinCRM, tmp_path: Path
) -> None:
    """Seeding the same accounts twice leaves one company each, keyed by account_id."""
    rows = load_accounts_csv(write_csv(tmp_path / "accounts.csv", *ACCOUNTS))
    await crm.seed_accounts(rows)
    await crm.seed_accounts(rows)

    labs = await crm.find_company_by_domain("corvex.io")
    acme = await crm.find_company_by_domain("acme.co.uk")
    assert (await crm.counts())["companies"] == 3
    assert labs is not None and (labs["id"], labs["parent_id"]) == ("A-3", "A-2")
    assert acme is not None and acme["owner_email"] == "ana@example.com"
    assert acme["properties"]["employees"] == 1200
    assert acme["properties"]["tier"] == "1"


async def test_seed_of_unchanged_accounts_writes_nothing(crm: BuiltinCRM, tmp_path: Path) -> None:
    """A restart on the same accounts skips the seed; after any company write it seeds again."""
    rows = load_accounts_csv(write_csv(tmp_path / "accounts.csv", *ACCOUNTS))
    await crm.seed_accounts(rows)
    first = await crm.find_company_by_domain("corvex.com")
    assert await crm.seed_accounts(rows) == 3
    again = await crm.find_company_by_domain("corvex.com")
    assert first is not None and again is not None
    assert again["updated_at"] == first["updated_at"]

    await crm.upsert_company("corvex.com", {"name": "Corvex Renamed"})
    await crm.seed_accounts(rows)
    reseeded = await crm.find_company_by_domain("corvex.com")
    assert reseeded is not None and reseeded["name"] == "Corvex"

    changed = [{**row, "owner_email": "ana@example.com"} for row in rows]
    await crm.seed_accounts(changed)
    corvex = await crm.find_company_by_domain("corvex.com")
    assert corvex is not None and corvex["owner_email"] == "ana@example.com"


async def test_seed_folds_a_company_created_from_a_lead_into_the_account(
    crm: BuiltinCRM, tmp_path: Path
) -> None:
    """A company first created from a lead becomes the CSV account, keeping its contacts."""
    await crm.upsert_company("corvex.com", {"name": "Corvex Inc", "source": "form"})
    contact = await crm.upsert_contact("max@corvex.com", {})
    await crm.seed_accounts(load_accounts_csv(write_csv(tmp_path / "accounts.csv", *ACCOUNTS)))

    company = await crm.find_company_by_domain("corvex.com")
    found = await crm.find_contact("max@corvex.com")
    assert company is not None and company["id"] == "A-2"
    assert company["name"] == "Corvex"
    assert company["properties"]["source"] == "form"
    assert found is not None and (found["id"], found["company_id"]) == (contact["id"], "A-2")
    assert (await crm.counts())["companies"] == 3


async def test_seed_owners_twice_keeps_one_owner_per_email(crm: BuiltinCRM) -> None:
    """Seeding reps as owners twice updates them in place."""
    await crm.seed_owners([{"email": "Ana@example.com", "name": "Ana", "crm_owner_id": 1001}])
    await crm.seed_owners([{"email": "ana@example.com", "name": "Ana Silva"}])

    assert await crm.list_owners() == [
        {"email": "ana@example.com", "name": "Ana Silva", "crm_owner_id": None}
    ]


async def test_crm_shares_one_file_between_instances(tmp_path: Path) -> None:
    """Two open CRMs on one file (as API and worker) see each other's writes."""
    async with (
        BuiltinCRM(tmp_path / "crm.sqlite") as api,
        BuiltinCRM(tmp_path / "crm.sqlite") as worker,
    ):
        created = await api.upsert_contact("jo@acme.co.uk", {"firstname": "Jo"})
        again = await worker.upsert_contact("jo@acme.co.uk", {"lastname": "Doe"})
        found = await api.find_contact("jo@acme.co.uk")

    assert again["id"] == created["id"]
    assert found is not None
    assert found["properties"] == {"firstname": "Jo", "lastname": "Doe"}


# Company directory


def test_load_accounts_csv_normalizes_columns(tmp_path: Path) -> None:
    """Rows come back with registrable domains, integer employees and extras as properties."""
    rows = load_accounts_csv(write_csv(tmp_path / "accounts.csv", *ACCOUNTS))

    acme = rows[0]
    assert (acme["domain"], acme["website"]) == (None, "acme.co.uk")
    assert (acme["employees"], acme["owner_email"]) == (1200, "ana@example.com")
    assert acme["properties"] == {"tier": "1"}
    assert rows[2]["domain"] == "corvex.io"
    assert rows[2]["employees"] is None


def test_load_accounts_csv_reads_aliases(tmp_path: Path) -> None:
    """`aliases` is one cell of names separated by `|`: blanks and repeats dropped."""
    path = tmp_path / "accounts.csv"
    path.write_text(
        "account_id,name,domain,aliases\n"
        'M-1,Tarnwell Platforms,tarnwell.com,"Brightloom| Brightloom, Inc. ||Brightloom"\n'
        "M-2,Quintex,quintex.com,\n",
        encoding="utf-8",
    )
    rows = load_accounts_csv(path)
    assert rows[0]["aliases"] == ["Brightloom", "Brightloom, Inc."]
    assert rows[1]["aliases"] == []
    assert "aliases" not in rows[0]["properties"]


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        ("A-9,Nowhere,,,ana@example.com,,10,US,,,,", "neither domain nor website"),
        ("A-9,Quintex,quintex.com,,ana@example.com,,lots,US,,,,", "employees"),
        ("A-1,Acme Again,acme-again.com,,ana@example.com,,10,US,,,,", "duplicate account_id"),
    ],
)
def test_load_accounts_csv_error_names_file_and_line(
    tmp_path: Path, bad_row: str, problem: str
) -> None:
    """A bad row fails with the file, its line number and the problem."""
    path = write_csv(tmp_path / "accounts.csv", *ACCOUNTS, bad_row)

    with pytest.raises(ValueError, match=problem) as caught:
        load_accounts_csv(path)
    assert str(caught.value).startswith(f"{path}:5: ")


def test_directory_looks_up_by_domain(tmp_path: Path) -> None:
    """An account is found by its domain column, whatever the case or host prefix."""
    directory = InMemoryDirectory(load_accounts_csv(write_csv(tmp_path / "a.csv", *ACCOUNTS)))

    found = directory.lookup_domain("CORVEX.com")
    by_host = directory.lookup_domain("www.corvex.com")
    assert found is not None and found["account_id"] == "A-2"
    assert by_host is not None and by_host["account_id"] == "A-2"
    assert directory.lookup_domain("quintex.com") is None
    assert len(directory) == 3


def test_directory_looks_up_by_website_domain(tmp_path: Path) -> None:
    """An account with only a website (https://www.acme.co.uk/x) is found as acme.co.uk."""
    directory = InMemoryDirectory(load_accounts_csv(write_csv(tmp_path / "a.csv", *ACCOUNTS)))

    found = directory.lookup_domain("acme.co.uk")
    assert found is not None and found["account_id"] == "A-1"
    assert directory.by_id("A-1") == found


# Outbox


async def test_outbox_send_twice_stores_one_message_with_same_receipt(outbox: Outbox) -> None:
    """Sending under one key twice stores one message (the first) and returns the same id."""
    message = notice("L1", "dm:ana", "ana", "New lead")
    first = await outbox.send("L1:notify:ana", message)
    second = await outbox.send("L1:notify:ana", {**message, "text": "Another text"})

    assert (first["created"], second["created"]) == (True, False)
    assert second["id"] == first["id"]
    assert second["at"] == first["at"]
    assert await outbox.count() == 1
    stored = await outbox.list(lead_id="L1")
    assert stored[0]["text"] == "New lead"
    assert stored[0]["blocks"] == block_kit(message)


async def test_outbox_lists_newest_first_and_by_lead(outbox: Outbox) -> None:
    """The outbox lists messages newest first and filters by lead."""
    for n in range(3):
        await outbox.send(f"k{n}", notice(f"L{n % 2}", "#sales-emea", "emea", f"note {n}"))

    assert [m["key"] for m in await outbox.list()] == ["k2", "k1", "k0"]
    assert [m["key"] for m in await outbox.list(lead_id="L0")] == ["k2", "k0"]
    assert [m["key"] for m in await outbox.list(limit=1)] == ["k2"]


# Calendar


async def test_calendar_books_inside_working_hours_in_rep_timezone(
    calendar: BuiltinCalendar,
) -> None:
    """A 5 a.m. New York request books the rep's 09:00 New York slot, not 09:00 UTC."""
    booking = await calendar.book("L1:book", DAN, {"email": "jo@acme.co.uk"}, MONDAY_5AM_NY)

    assert booking["status"] == "confirmed"
    assert booking["start"] == "2026-03-02T14:00:00+00:00"
    assert booking["end"] == "2026-03-02T14:30:00+00:00"
    assert booking["rep_local_start"] == "2026-03-02T09:00:00-05:00"
    assert booking["timezone"] == "America/New_York"
    assert booking["link"] == f"https://leads.example.com/bookings/{booking['booking_id']}"


async def test_calendar_respects_lead_time(calendar: BuiltinCalendar) -> None:
    """A request at 10:10 local books no earlier than two hours later, on the slot grid."""
    after = datetime(2026, 3, 2, 10, 10, tzinfo=NEW_YORK)
    booking = await calendar.book("L1:book", DAN, {}, after)

    assert booking["rep_local_start"] == "2026-03-02T12:30:00-05:00"


async def test_calendar_skips_weekends(calendar: BuiltinCalendar) -> None:
    """A request late on Friday books Monday morning."""
    friday_4pm = datetime(2026, 3, 6, 16, 0, tzinfo=NEW_YORK)
    booking = await calendar.book("L1:book", DAN, {}, friday_4pm)

    assert booking["rep_local_start"] == "2026-03-09T09:00:00-04:00"


async def test_calendar_skips_out_of_office_days(calendar: BuiltinCalendar) -> None:
    """A rep out of office Monday to Wednesday is booked on Thursday."""
    rep = {**DAN, "out_of_office": ["2026-03-02..2026-03-04"]}
    booking = await calendar.book("L1:book", rep, {}, MONDAY_5AM_NY)

    assert booking["rep_local_start"] == "2026-03-05T09:00:00-05:00"


async def test_calendar_reports_unavailable_beyond_horizon(calendar: BuiltinCalendar) -> None:
    """A rep out of office for the whole horizon gets an unavailable answer, not a booking."""
    rep = {**DAN, "out_of_office": ["2026-03-01..2026-04-30"]}
    booking = await calendar.book("L1:book", rep, {}, MONDAY_5AM_NY)

    assert booking["status"] == "unavailable"
    assert "dan" in booking["reason"]
    assert await calendar.list() == []


async def test_calendar_same_key_returns_same_booking(calendar: BuiltinCalendar) -> None:
    """Booking twice under one key returns the first booking and stores one."""
    first = await calendar.book("L1:book", DAN, {"email": "jo@acme.co.uk"}, MONDAY_5AM_NY)
    later = MONDAY_5AM_NY + timedelta(days=1)
    second = await calendar.book("L1:book", DAN, {"email": "jo@acme.co.uk"}, later)

    assert second == first
    assert len(await calendar.list(rep_id="dan")) == 1


async def test_calendar_never_double_books_under_concurrency(tmp_path: Path) -> None:
    """Twenty concurrent bookings for one rep, over four connections to one file, never overlap."""
    path = tmp_path / "calendar.sqlite"
    calendars = [BuiltinCalendar(path, base_url="https://leads.example.com") for _ in range(4)]
    await asyncio.gather(*(cal.open() for cal in calendars))
    try:
        results = await asyncio.gather(
            *(
                cal.book(f"L{n}:book", DAN, {"n": n}, MONDAY_5AM_NY)
                for n, cal in zip(range(20), itertools.cycle(calendars), strict=False)
            )
        )
        stored = await calendars[0].list(rep_id="dan")
    finally:
        await asyncio.gather(*(cal.close() for cal in calendars))

    assert all(result["status"] == "confirmed" for result in results)
    assert len(stored) == 20
    spans = sorted((b["start"], b["end"]) for b in stored)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    assert all(_inside_hours(b) for b in stored)


def _inside_hours(booking: dict[str, Any]) -> bool:
    start = datetime.fromisoformat(booking["start"]).astimezone(NEW_YORK)
    end = datetime.fromisoformat(booking["end"]).astimezone(NEW_YORK)
    return start.weekday() < 5 and start.hour >= 9 and (end.hour, end.minute) <= (17, 0)
