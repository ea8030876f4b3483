"""Replies in the compiled graph: each kind's action, once, on a waiting or an ended thread.

In-memory checkpointer and ports as `test_graph_branches`; replies go through
`service.replies.apply_reply`, the function the queue's worker runs.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import pytest

from domain.replies import parse_inbound
from graph.context import Context
from graph.state import initial_state
from service.replies import apply_reply
from tests.fakes.ports import ScriptedChat
from tests.unit.test_graph_branches import (
    NOW,
    Ports,
    Run,
    context,
    emea_lead,
    graph,
    new_run,
    ports,
    with_thresholds,
)

__all__ = ["context", "graph", "ports"]  # fixtures used by the tests below


class MemoryLeases:
    """Leases in a dict: one holder per name."""

    def __init__(self) -> None:
        self.held: dict[str, str] = {}

    async def acquire_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        return self.held.setdefault(name, token) == token

    async def renew_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        return self.held.get(name) == token

    async def release_lease(self, name: str, token: str) -> bool:
        return self.held.pop(name, None) is not None

    async def lease_holder(self, name: str) -> str | None:
        return self.held.get(name)


def reply(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": f"<{uuid.uuid4().hex[:10]}@mail.example-emea.test>",
        "sender": "Maria Keller <maria.keller@example-emea.test>",
        "subject": "Re: Lead routing for your sales team",
        "text": text,
        "received_at": NOW.isoformat(),
        **extra,
    }


async def answer(run: Run, given: dict[str, Any], ports: Ports) -> dict[str, Any]:
    """Apply a reply to the run's lead as the worker does."""
    return await apply_reply(run.graph, run.ctx, MemoryLeases(), ports.kv, run.lead_id, given)


async def steps(run: Run) -> list[str]:
    """The nodes the thread ran, in order, from its checkpoints."""
    history = [s async for s in run.graph.aget_state_history(run.config)]
    return [node for s in reversed(history) for node in s.next]


async def waiting_lead(graph: Any, context: Context, **thresholds: float) -> Run:
    run = new_run(
        graph, with_thresholds(context, **(thresholds or {"book_at": 1000, "draft_at": 0}))
    )
    await run.start(emea_lead())
    assert await run.waiting()
    return run


async def test_an_interested_reply_books_a_meeting_once_and_waits_again(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context)
    given = reply("Sounds interesting, tell me more — happy to talk.")

    result = await answer(run, given, ports)

    assert result == {
        "result": "applied",
        "kind": "interested",
        "action": "booked",
        "reason": result["reason"],
    }
    state = await run.state()
    assert state["booking"]["status"] == "confirmed"
    [record] = state["replies"]
    assert (record["message_id"], record["kind"], record["action"]) == (
        given["message_id"],
        "interested",
        "booked",
    )
    assert record["evidence"] and record["verdict"]["decided_by"] == "rules"
    assert (await steps(run))[-3:] == ["classify_reply", "reply_book", "wait_for_rep"]
    assert await run.waiting() and state["inbound_reply"] is None
    assert f"{run.lead_id}:reply:{given['message_id']}" in ports.notifier.sent

    assert (await answer(run, given, ports))["result"] == "duplicate"
    assert len(ports.calendar.bookings) == 1 and len((await run.state())["replies"]) == 1


async def test_a_lead_with_a_meeting_gets_no_second_one(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context, book_at=0, draft_at=0)
    assert (await run.state())["booking"]["status"] == "confirmed"

    result = await answer(run, reply("Can we schedule a call? Send me a calendar invite."), ports)

    assert (result["kind"], result["action"]) == ("meeting_request", "already_booked")
    assert list(ports.calendar.bookings) == [f"{run.lead_id}:meeting"]


async def test_a_rerun_reply_step_books_and_tells_nothing_twice(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context)
    await answer(run, reply("Yes please, let's set up a call."), ports)
    sent, bookings = dict(ports.notifier.sent), dict(ports.calendar.bookings)
    history = [s async for s in graph.aget_state_history(run.config)]
    before = next(s for s in history if s.next == ("reply_book",))

    async for _ in graph.astream(None, before.config, context=run.ctx):
        pass

    assert ports.notifier.sent == sent and ports.calendar.bookings == bookings


async def test_a_question_gets_a_template_answer_drafted_for_the_rep(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context)
    given = reply("How much does it cost for 50 reps? Does it work with Salesforce?")

    result = await answer(run, given, ports)

    assert (result["kind"], result["action"]) == ("question", "drafted")
    record = (await run.state())["replies"][-1]
    assert record["draft"]["method"] == "template"
    assert "How much does it cost" in record["draft"]["body"]
    told = ports.notifier.sent[f"{run.lead_id}:reply:{given['message_id']}"]
    assert told["draft"]["body"] == record["draft"]["body"]


@pytest.mark.parametrize(
    ("body", "used"),
    [
        ("Hi Maria,\n\nYes, it works with Salesforce; I will share details.\n\nBest", True),
        ("Hi Maria,\n\nIt is $99 per seat, see https://cheap.example.\n\nBest", False),
    ],
    ids=["passes-checks", "claims-not-in-fact-sheet"],
)
async def test_the_models_answer_is_used_only_when_it_passes_the_fact_sheet_checks(
    graph: Any, context: Context, ports: Ports, body: str, used: bool
) -> None:
    chat = ScriptedChat(
        {
            "classify_reply": "error",
            "answer_reply": {"language": "en", "subject": "Re: Salesforce", "body": body},
        }
    )
    run = await waiting_lead(graph, dataclasses.replace(context, chat=chat))
    await answer(run, reply("Does it work with Salesforce?"), ports)

    draft = (await run.state())["replies"][-1]["draft"]
    assert draft["method"] == ("model" if used else "template")
    assert bool(draft["model_draft"]["problems"]) is not used


async def test_not_now_nurtures_until_the_date_given(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context)
    result = await answer(run, reply("Not right now, ping me in March."), ports)

    assert (result["kind"], result["action"]) == ("not_now", "nurtured")
    nurture = (await run.state())["nurture"]
    assert nurture["next_touch_at"] == "2027-03-01T09:00:00+00:00"
    assert "in March" in nurture["reason"]


async def test_not_now_without_a_date_keeps_the_words(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context)
    await answer(
        run, reply("Derzeit nicht. Melden Sie sich, sobald unser Umbau fertig ist."), ports
    )

    nurture = (await run.state())["nurture"]
    assert nurture["resume_text"] == "Melden Sie sich, sobald unser Umbau fertig ist"
    assert nurture["next_touch_at"] == (NOW + timedelta(days=90)).isoformat()


async def test_unsubscribe_opts_out_in_the_crm_and_a_later_reassign_sends_nothing(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context)
    result = await answer(run, reply("Please remove me from your list, stop emailing me."), ports)

    assert (result["kind"], result["action"]) == ("unsubscribe", "opted_out")
    state = await run.state()
    contact = ports.crm.contacts[state["lead"]["email"]]
    assert contact["opted_out"] is True
    assert any(key.startswith(f"{run.lead_id}:opt-out:") for key in ports.crm.notes)
    assert "opted out" in ports.notifier.edits[-1][1]["status"]
    assert state["opted_out"]["evidence"]

    assert await run.decide("reassign", by="<@U012ANA>") == [
        "wait_for_rep",
        "reassign",
        "notify",
        "__interrupt__",
    ]
    state = await run.state()
    assert state["routing"]["hops"] == 1
    assert f"{run.lead_id}:rep:hop1" not in ports.notifier.sent
    assert f"sla:{run.lead_id}:1" not in ports.kv.timers
    assert state["deliveries"]["rep.message"] == {
        "skipped": "the lead opted out: no further touches"
    }


async def test_out_of_office_moves_the_sla_check_to_the_return_date(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context)
    before = (await run.state())["routing"]["sla_deadline"]
    result = await answer(
        run,
        reply("Ich bin im Urlaub und ab dem 12.01. wieder im Büro. Automatische Antwort."),
        ports,
    )

    assert (result["kind"], result["action"]) == ("out_of_office", "sla_moved")
    routing = (await run.state())["routing"]
    assert routing["sla_deadline"] > before and routing["sla_deadline"].startswith("2027-01-12")
    assert f"sla:{run.lead_id}:0:2027-01-12" in ports.kv.timers


async def test_out_of_office_on_a_nurtured_lead_moves_the_next_touch(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context, book_at=1000, draft_at=1000)
    await answer(run, reply("Out of office, back on 12 January."), ports)
    assert (await run.state())["nurture"]["next_touch_at"] == "2027-01-12T09:00:00+00:00"


async def test_wrong_person_submits_the_referred_person_as_a_routed_lead(
    graph: Any, context: Context, ports: Ports
) -> None:
    """The referral goes through the intake with a key from the reply's message id, is routed
    by the same rules, and each record names the other."""
    submitted: dict[str, Run] = {}

    class Intake:
        async def submit_lead(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
            lead_id = f"lead-{uuid.uuid5(uuid.NAMESPACE_URL, key).hex[:8]}"
            if key not in submitted:
                submitted[key] = Run(graph, ctx, lead_id)
                await submitted[key].start(payload)
            return {"lead_id": lead_id, "status": "queued", "duplicate": False}

    ctx = with_thresholds(dataclasses.replace(context, intake=Intake()), 1000, 0)
    run = new_run(graph, ctx)
    await run.start(emea_lead())
    given = reply("I'm not the right person, please contact jonas.weber@example-emea.test.")

    result = await answer(run, given, ports)

    assert (result["kind"], result["action"]) == ("wrong_person", "referred")
    [(key, referral)] = submitted.items()
    assert key == f"referral:{given['message_id']}"
    record = (await run.state())["replies"][-1]
    assert record["referral_lead_id"] == referral.lead_id
    new = await referral.state()
    assert new["lead"]["email"] == "jonas.weber@example-emea.test"
    assert new["lead"]["properties"]["referred_by_lead_id"] == run.lead_id
    assert new["routing"]["owner"] in {"ana", "ben"}


async def test_spam_changes_nothing_but_is_recorded(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context)
    sent = dict(ports.notifier.sent)
    result = await answer(
        run, reply("Delivery Status Notification (Failure): address not found."), ports
    )

    assert (result["kind"], result["action"]) == ("spam", "ignored")
    assert ports.notifier.sent == sent and len(ports.calendar.bookings) == 0


async def test_a_reply_to_an_ended_thread_is_a_step_in_its_history(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = await waiting_lead(graph, context)
    await run.decide("accept")
    assert not await run.waiting()

    result = await answer(run, reply("Can we schedule a call next week?"), ports)

    assert result["action"] == "booked"
    assert (await steps(run))[-2:] == ["classify_reply", "reply_book"]
    assert not await run.waiting()
    assert (await run.state())["replies"][-1]["waiting"] is False


async def test_a_reply_to_a_lead_still_running_is_deferred_not_lost(
    graph: Any, context: Context, ports: Ports
) -> None:
    run = new_run(graph, context)
    async for _ in graph.astream(
        initial_state(run.lead_id, NOW.isoformat(), "website", emea_lead()),
        run.config,
        context=context,
        interrupt_before=["route"],
    ):
        pass
    given = reply("Sounds good, tell me more.")

    assert (await answer(run, given, ports))["result"] == "deferred"
    timer = ports.kv.timers[f"reply:{given['message_id']}"][1]
    assert timer["task"] == "reply" and timer["reply"]["message_id"] == given["message_id"]


async def test_the_model_reads_a_reply_the_rules_are_unsure_of(
    graph: Any, context: Context, ports: Ports
) -> None:
    text = "Thanks. Let me think about it and loop back in spring."
    chat = ScriptedChat(
        {
            "classify_reply": {
                "kind": "not_now",
                "evidence": ["loop back in spring"],
                "date": "2027-04-01",
                "referred_email": None,
            }
        }
    )
    run = await waiting_lead(graph, dataclasses.replace(context, chat=chat))
    await answer(run, reply(text), ports)

    verdict = (await run.state())["replies"][-1]["verdict"]
    assert (verdict["kind"], verdict["decided_by"], verdict["date"]) == (
        "not_now",
        "model",
        "2027-04-01",
    )
    assert verdict["rules"]["confident"] is False
    assert [c["outcome"] for c in verdict["calls"]] == ["ok"]
    _, system, user = chat.asked[-1]
    assert "loop back in spring" not in system and "<<<REPLY>>>" in user


async def test_a_failed_model_call_leaves_the_rules_to_decide(
    graph: Any, context: Context, ports: Ports
) -> None:
    chat = ScriptedChat({"classify_reply": "timeout"})
    run = await waiting_lead(graph, dataclasses.replace(context, chat=chat))
    await answer(run, reply("Please unsubscribe me."), ports)

    verdict = (await run.state())["replies"][-1]["verdict"]
    assert (verdict["kind"], verdict["decided_by"]) == ("unsubscribe", "rules")
    assert "model" not in verdict and verdict["calls"][0]["outcome"] == "timeout"


def test_a_reply_handed_to_the_thread_must_be_complete() -> None:
    with pytest.raises(ValueError, match="needs text"):
        parse_inbound({"message_id": "m", "sender": "a@b.co", "received_at": "x"}, waiting=True)
