"""The demo command: posts sample leads to a live service and reports every one, on settings of
its own; and every rep message and draft it produces reads as a person wrote it."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli import main
from tests.helpers import ENV_SETTINGS, ROOT
from tools.outbox import read_blocks

SAMPLES = ROOT / "infra" / "sample_leads.jsonl"
# A developer's .env and shell as the README invites them: none of it may reach the demo.
DOTENV = """\
ADMIN_TOKEN=a-token-of-my-own
WEBHOOK_SECRET=a-secret-of-my-own
REDIS_URL=redis://127.0.0.1:1/0
IDEMPOTENCY_TTL_DAYS=3
PUBLIC_BASE_URL=https://leads.example.com
"""


def test_demo_reports_accepted_duplicate_and_rejected_leads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the first 40 samples the demo exits 0 and accounts for every posted line."""
    lines = SAMPLES.read_text().splitlines()[:40]
    leads = tmp_path / "leads.jsonl"
    leads.write_text("\n".join(lines) + "\n")
    code = main(["demo", "--leads", str(leads), "--data-dir", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = next(line for line in out.splitlines() if line.startswith("posted "))
    accepted = int(summary.split(": ")[1].split(" accepted")[0])
    duplicates = int(summary.split("accepted (202), ")[1].split(" ")[0])
    rejected = int(summary.split("absorbed (200), ")[1].split(" ")[0])
    assert accepted + duplicates + rejected == 40
    assert duplicates >= 1 and rejected >= 1
    assert f"leads: {accepted} — completed {accepted}" in out
    assert "webhook → notify: p50" in out
    assert out.count("= a duplicate delivery") == duplicates
    assert out.count("✗ rejected (422)") == rejected


def test_a_demo_whose_every_payload_is_refused_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When no lead is accepted the demo says so and exits non-zero."""
    leads = tmp_path / "leads.jsonl"
    leads.write_text('{"email": "not-an-email"}\n{"first_name": "Ana"}\n')
    code = main(["demo", "--leads", str(leads), "--data-dir", str(tmp_path / "data")])
    assert code == 1
    assert "no lead was accepted" in capsys.readouterr().err


@dataclass
class DemoRun:
    code: int
    out: str
    err: str
    data: Path

    def messages(self) -> list[dict[str, Any]]:
        """Every message in the demo's outbox, blocks parsed."""
        with sqlite3.connect(self.data / "outbox.sqlite3") as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT * FROM messages ORDER BY created_at").fetchall()
        # Read as the outbox reads its own rows (Block Kit is stored compressed).
        return [{**dict(row), "blocks": read_blocks(row["blocks"])} for row in rows]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """`python cli.py demo` over every sample, run from a folder holding a .env that sets a
    token, a secret, an unreachable Redis and an invalid setting, with a token in the shell."""
    folder = tmp_path_factory.mktemp("demo")
    (folder / ".env").write_text(DOTENV)
    base = {k: v for k, v in os.environ.items() if k not in ENV_SETTINGS}
    data = folder / "data"
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "demo", "--rate", "0", "--data-dir", str(data)],
        cwd=folder,
        env={**base, "ADMIN_TOKEN": "a-token-from-the-shell", "WEBHOOK_SECRET": "shh"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    yield DemoRun(done.returncode, done.stdout, done.stderr, data)


def test_the_demo_runs_on_its_own_settings_whatever_env_and_shell_say(demo: DemoRun) -> None:
    """With a .env and a shell setting a token, a secret and Redis, every sample lead is still
    accepted and completed on the embedded defaults, and the demo exits 0."""
    assert demo.code == 0, demo.out + demo.err
    assert "posted 99 in " in demo.out and ": 89 accepted (202), 5 duplicates" in demo.out
    assert "leads: 89 — completed 89" in demo.out
    assert "Traceback" not in demo.err


# What a rep must never read: a template's seams.
DOUBLED = re.compile(r"(?<![.])[.,;:!?][.,;:](?![.])|\s[,.;:](?=\s|$)")
PLACEHOLDER = re.compile(r"\$\w+|\{\w+\}|\bNone\b|\bnull\b|\bunknown company\b")
STAND_IN = re.compile(r"(?:^|[\s(,:])\?(?=$|[\s),])")
PSEUDO = re.compile(r"\b(?:dm|queue):\w")
LINKED = re.compile(r"(\S*?)/(?:bookings|console)/")


def shown_texts(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, text) of what Slack shows, but the lead's own words: the headline, mrkdwn
    sections and context lines, and the notification text."""
    texts = [("plain_text", message["text"])]
    for block in message["blocks"]:
        text = block.get("text")
        if block["type"] == "header":
            texts.append(("plain_text", text["text"]))
        elif block["type"] == "section" and text["type"] == "mrkdwn":
            texts.append(("mrkdwn", text["text"]))
        elif block["type"] == "context":
            texts += [("mrkdwn", e["text"]) for e in block["elements"]]
    return texts


def test_every_rep_message_and_draft_reads_as_written_by_a_person(demo: DemoRun) -> None:
    """Each message the demo sent (and the draft in it) has no doubled punctuation, no
    unfilled placeholder, no relative link, no "?" for a missing value, no pseudo channel,
    and is escaped for Slack exactly where Slack reads markup."""
    messages = demo.messages()
    assert len(messages) >= 80
    problems = []
    for message in messages:
        for kind, text in shown_texts(message):
            found = [
                f"{name}: {match.group(0)!r}"
                for name, pattern in (
                    ("doubled punctuation", DOUBLED),
                    ("placeholder", PLACEHOLDER),
                    ("'?' for a value", STAND_IN),
                    ("pseudo channel", PSEUDO),
                )
                for match in pattern.finditer(text)
            ]
            found += [
                f"relative link after {prefix!r}"
                for prefix in LINKED.findall(text)
                if not re.fullmatch(r"<?https?://[^/\s]+", prefix)
            ]
            if kind == "mrkdwn":
                found += [f"unescaped {m!r}" for m in re.findall(r"&(?!amp;|lt;|gt;)", text)]
                found += [f"escaped twice {m!r}" for m in re.findall(r"&amp;(?:amp|lt|gt);", text)]
                found += [
                    f"markup {m!r}" for m in re.findall(r"<(?!https?://[^|>\s]+\|[^>]+>)", text)
                ]
            else:
                found += [f"escaped plain text {m!r}" for m in re.findall(r"&(?:amp|lt|gt);", text)]
            problems += [f"{message['lead_id']}: {p} in {text[:80]!r}" for p in found]
    assert problems == []


def test_every_routed_lead_gets_its_message_and_every_draft_reaches_the_rep(
    demo: DemoRun,
) -> None:
    """One lead message per lead that tells someone, and no draft withheld by its checks."""
    messages = demo.messages()
    leads = {m["lead_id"] for m in messages if m["blocks"][0]["type"] == "header"}
    assert len(leads) == 89 - 3  # the three disqualified leads tell no one
    drafts = [
        b["text"]["text"]
        for m in messages
        for b in m["blocks"]
        if b["type"] == "section" and b["text"]["text"].startswith("*Draft:")
    ]
    assert len(drafts) >= 60
    assert not [m for m in messages if "withheld" in json.dumps(m["blocks"])]
    booked = [d for d in drafts if "/bookings/" in d]
    assert booked and all("\nhttp://127.0.0.1:8000/bookings/" in d for d in booked)


def test_a_free_mail_lead_is_not_said_to_work_at_its_mail_provider(demo: DemoRun) -> None:
    """A gmail or yahoo lead without a company is never "at yahoo.com"."""
    headlines = [m["text"] for m in demo.messages()]
    assert not [h for h in headlines if re.search(r"(?:gmail|yahoo)\.com", h)]
