"""The console in a real browser: login, the lead list, a lead's page, its buttons, the
dashboard, and refusal without a session."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, TOKEN, Console, sign_in
from tests.helpers import live_server, make_settings

PAGES = ["/console", "/console/leads", "/console/dashboard", "/console/routing"]


def test_without_a_session_every_page_sends_you_to_the_login(console: Console, page: Any) -> None:
    """Each console page, a lead's page included, redirects to the login and shows no lead."""
    for path in [*PAGES, f"/console/leads/{console.failed_lead}"]:
        page.goto(console.url + path)
        expect(page).to_have_url(re.compile(r"/console/login\?next="))
        expect(page.get_by_label("Admin token")).to_be_visible()
        assert console.failed_email not in page.content()


def test_a_button_pressed_without_a_session_changes_nothing(console: Console, page: Any) -> None:
    """A form post without a session is sent to the login and the lead stays failed."""
    resp = page.request.post(
        f"{console.url}/console/leads/{console.failed_lead}/retry", form={"csrf": "x"}
    )
    assert resp.url.startswith(f"{console.url}/console/login")
    record = console.admin.get(f"/admin/leads/{console.failed_lead}").json()
    assert record["status"] == "failed"


def test_a_wrong_token_is_refused_and_the_admin_token_signs_in(console: Console, page: Any) -> None:
    """The login refuses a wrong token, takes the right one, and the session cookie is
    HttpOnly and SameSite=Strict."""
    sign_in_page = f"{console.url}/console/login"
    page.goto(sign_in_page)
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the admin token")
    sign_in(page, console.url)
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_the_console_is_closed_without_an_admin_token(tmp_path: Any, page: Any) -> None:
    """Without ADMIN_TOKEN the login page says how to set it, and the pages stay closed."""
    with live_server(make_settings(tmp_path, ADMIN_OPEN=False)) as url:
        page.goto(f"{url}/console/leads")
        expect(page).to_have_url(re.compile(r"/console/login"))
        expect(page.get_by_role("alert")).to_contain_text("ADMIN_TOKEN is not set")
        expect(page.get_by_label("Admin token")).to_have_count(0)


def test_the_list_shows_each_lead_and_filters_and_searches(console: Console, page: Any) -> None:
    """The list shows status, action, owner, score and time to notify; the status filter and
    the company search narrow it."""
    sign_in(page, console.url)
    rows = page.locator("table.leads tbody tr")
    assert rows.count() == 25
    expect(page.get_by_role("link", name="Older →")).to_be_visible()
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(console.failed_email)
    expect(rows.first).to_contain_text("failed")
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Search").fill("northwind")
    page.get_by_label("Search").press("Enter")  # the form submits from the keyboard
    expect(page).to_have_url(re.compile(r"q=northwind"))
    for text in rows.all_inner_texts():
        assert "northwind" in text.lower()
    page.get_by_label("Search").fill("")
    page.get_by_label("Action").select_option("book")
    page.get_by_label("Grade").select_option("A")
    page.get_by_role("button", name="Apply").click()
    assert rows.count() >= 1
    for text in rows.all_inner_texts():
        assert "book" in text and re.search(r"\bA\b", text)


def test_a_lead_page_tells_the_story_of_the_lead(console: Console, page: Any) -> None:
    """Opening a lead from the list shows its score bars, the rules tried, every step of the
    timeline, the draft and what was written to the CRM."""
    sign_in(page, console.url)
    page.get_by_label("Action").select_option("book")
    page.get_by_role("button", name="Apply").click()
    page.locator("table.leads a.lead-link").first.click()
    expect(page.get_by_role("heading", name="Why this score")).to_be_visible()
    assert page.locator("table.bars .bar").count() >= 3
    expect(page.get_by_role("heading", name="Rules tried, in order")).to_be_visible()
    timeline = page.locator("table.timeline")
    for step in ("capture", "enrich", "classify", "score", "route", "book", "draft", "notify"):
        expect(timeline).to_contain_text(step)
    expect(page.get_by_role("heading", name="First-touch draft")).to_be_visible()
    expect(page.locator("table.receipts")).to_contain_text("crm.contact")


def test_retry_runs_a_failed_lead_to_completion(console: Console, page: Any) -> None:
    """Retry on a lead that failed at notify resumes it; the page follows it until it is
    completed, with the rep message written once."""
    sign_in(page, console.url)
    page.goto(f"{console.url}/console/leads/{console.failed_lead}")
    status = page.get_by_test_id("lead-status")
    expect(status).to_have_text("failed")
    expect(page.get_by_role("alert").first).to_contain_text("Failed at notify")
    page.get_by_role("button", name="Retry").click()
    expect(status).to_have_text("completed", timeout=30_000)
    expect(page.locator("table.receipts")).to_contain_text("rep.message")
    record = console.admin.get(f"/admin/leads/{console.failed_lead}").json()
    assert record["status"] == "completed" and record["deliveries"]["rep.message"]["created"]
    messages = console.admin.get("/admin/outbox", params={"lead_id": console.failed_lead}).json()[
        "messages"
    ]
    assert len(messages) == 1


def test_reassign_gives_the_lead_to_the_next_rep(console: Console, page: Any) -> None:
    """Reassign with a reason moves a waiting lead to another rep of its team, as the rep's
    own button does, and the rep actions list it."""
    leads = console.admin.get("/admin/leads", params={"limit": 500}).json()["leads"]
    waiting = next(
        lead
        for lead in reversed(leads)  # the oldest, leaving the newest for the screenshot
        if lead["status"] == "completed"
        and console.admin.get(f"/admin/leads/{lead['lead_id']}").json()["next"] == ["wait_for_rep"]
        and lead["owner"] in {"ana", "ben", "farah", "gus", "dan", "erin"}
    )
    sign_in(page, console.url)
    page.goto(f"{console.url}/console/leads/{waiting['lead_id']}")
    owner = page.get_by_test_id("lead-owner")
    expect(owner).to_contain_text(waiting["owner"])
    page.get_by_label("Reason").fill("on leave this week")
    page.get_by_role("button", name="Reassign").click()
    expect(page.get_by_role("status")).to_contain_text("Reassigned")
    expect(owner).not_to_contain_text(waiting["owner"])
    expect(page.locator("ol.events")).to_contain_text("reassign by console admin")
    expect(page.locator("ol.events")).to_contain_text("on leave this week")
    record = console.admin.get(f"/admin/leads/{waiting['lead_id']}").json()
    assert record["state"]["routing"]["owner"] != waiting["owner"]


def test_a_form_without_the_csrf_token_is_refused(console: Console, page: Any) -> None:
    """A signed-in post without the session's CSRF token gets 403 and changes nothing."""
    sign_in(page, console.url)
    lead_id = console.leads[0]
    before = console.admin.get(f"/admin/leads/{lead_id}").json()["state"].get("routing")
    resp = page.request.post(
        f"{console.url}/console/leads/{lead_id}/decision",
        form={"action": "not_a_fit", "csrf": "forged"},
    )
    assert resp.status == 403
    after = console.admin.get(f"/admin/leads/{lead_id}").json()["state"].get("routing")
    assert after == before


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("leads", "/console/leads"),
        ("dashboard", "/console/dashboard"),
        ("routing", "/console/routing?backtest=60#backtest"),
    ],
)
def test_screenshots_of_the_console(console: Console, page: Any, name: str, path: str) -> None:
    """The list, the dashboard and the routing page with a backtest render and are captured."""
    sign_in(page, console.url)
    page.goto(console.url + path)
    expect(page.locator("main h1")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=name != "leads")
    assert target.stat().st_size > 10_000


def test_screenshot_of_a_lead_page(console: Console, page: Any) -> None:
    """A booked lead's page renders and is captured."""
    sign_in(page, console.url)
    page.goto(f"{console.url}/console/leads?action=book&grade=A")
    page.locator("table.leads a.lead-link").first.click()
    expect(page.get_by_role("heading", name="Why this score")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "lead.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
    assert TOKEN not in page.content()
