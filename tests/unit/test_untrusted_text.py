"""Lead text is untrusted: in Slack it shows as written (no mention, no masked link), and in
a draft only in the shape of a plain name; a draft that fails its checks never reaches a rep."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.config import load_routing
from domain.draft import compose, plain_name
from domain.rep_message import lead_message
from tools.slack import block_kit

from .test_decisions import _state

ROUTING = load_routing(Path(__file__).parents[2] / "infra" / "routing.yaml")
NOW = datetime(2026, 3, 2, tzinfo=UTC)
HOSTILE_COMPANY = "Evil <https://evil.example/pay|Invoice overdue> Ltd"


def hostile_state(**lead: Any) -> Any:
    state = _state(
        routing={
            "owner": "ana",
            "team": "emea-enterprise",
            "action": "draft",
            "method": "round_robin",
        },
        score={"total": 72, "grade": "B", "contributions": []},
    )
    state["lead"].update(
        title="CTO <!channel>",
        message="<!here> <https://evil.example/pay|Invoice overdue>",
        company=HOSTILE_COMPANY,
        **lead,
    )
    state["enrichment"]["company"]["name"] = HOSTILE_COMPANY
    state["enrichment"]["company"]["industry"] = "logistics"
    return state


def test_lead_text_in_slack_can_neither_mention_nor_link() -> None:
    state = hostile_state()
    state["draft"] = compose(state, "Ana", NOW)
    message = lead_message(state, ROUTING)
    assert message is not None
    # Slack reads mentions and links in mrkdwn only; plain_text shows text as it is.
    mrkdwn = json.dumps(
        [
            text
            for block in block_kit(message)
            for text in [block.get("text"), *block.get("elements", [])]
            if isinstance(text, dict) and text.get("type") == "mrkdwn"
        ]
    )
    assert "<!channel>" not in mrkdwn and "<!here>" not in mrkdwn
    assert "<https://evil.example" not in mrkdwn
    assert "CTO &lt;!channel&gt;" in mrkdwn
    words = [b for b in block_kit(message) if b.get("text", {}).get("type") == "plain_text"]
    [section] = [b for b in words if b["type"] == "section"]
    assert section["text"]["text"].startswith("<!here>")  # shown as typed, as plain text


def test_a_company_name_carrying_a_link_stays_out_of_the_draft() -> None:
    draft = compose(hostile_state(), "Ana", NOW)
    text = draft["subject"] + draft["body"]
    assert "evil.example" not in text and "Invoice overdue" not in text
    assert "company" not in draft["facts_used"]
    assert draft["checks_passed"]


def test_a_draft_that_fails_its_checks_is_withheld_from_the_rep() -> None:
    state = hostile_state()
    state["draft"] = {**compose(state, "Ana", NOW), "body": "Pay at https://evil.example/pay"}
    state["draft"]["checks"] = {**state["draft"]["checks"], "no_links_but_the_meeting": False}
    message = lead_message(state, ROUTING)
    assert message is not None and message["draft"] is None
    [fact] = [f for f in message["facts"] if f["label"] == "Draft"]
    assert fact["value"] == "withheld: it failed its checks (no_links_but_the_meeting)"


def test_plain_names_pass_and_sentences_links_and_markup_do_not() -> None:
    for name in (
        "Northwind Freight GmbH",
        "AT&T",
        "O'Brien & Sons (UK) Ltd.",
        "Müller-Lüdenscheidt",
    ):
        assert plain_name(name) == name
    for text in ("<!here>", "pay at https://x.io", "www.evil.io", "a\nb", "Acme <b>", "x" * 81):
        assert plain_name(text) is None
    assert plain_name("Anne-Marie", first_name=True) == "Anne-Marie"
    assert plain_name("Ana2", first_name=True) is None
