"""Cal.com's booking changes in the compiled graph: each trigger updates the meeting as a step
of the lead's thread, notes it in the CRM and tells the owner once; a replay changes nothing.

In-memory checkpointer and ports as `test_graph_branches`; changes go through
`service.bookings.apply_booking`, the function the queue's worker runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.calcom import CalcomWebhook, as_change
from domain.rep_decisions import DECISIONS
from graph.context import Context
from service.bookings import apply_booking
from tests.unit.test_graph_branches import Ports, Run, context, graph, ports
from tests.unit.test_replies_graph import MemoryLeases, answer, reply, steps, waiting_lead

__all__ = ["context", "graph", "ports"]  # fixtures used by the tests below


def change(lead_id: str, trigger: str, uid: str, start: str, **extra: Any) -> dict[str, Any]:
    """A Cal.com delivery for the lead's meeting, as the door queues it."""
    event = CalcomWebhook.model_validate(
        {
            "triggerEvent": trigger,
            "createdAt": "2026-06-01T08:00:00.000Z",
            "payload": {
                "uid": uid,
                "startTime": start,
                "endTime": start.replace(":00:00Z", ":30:00Z"),
                "metadata": {"lead_id": lead_id, "lead_router_key": f"{lead_id}:meeting"},
                "attendees": [{"name": "Maria Keller", "email": "maria.keller@example-emea.test"}],
                "organizer": {"name": "Ana", "timeZone": "Europe/Lisbon"},
                "videoCallData": {"url": f"https://cal.example/video/{uid}"},
                **extra,
            },
        }
    )
    return dict(as_change(event))


async def apply(run: Run, given: dict[str, Any], ports: Ports) -> dict[str, Any]:
    """Apply a change to the run's lead as the worker does."""
    return await apply_booking(run.graph, run.ctx, MemoryLeases(), ports.kv, run.lead_id, given)


def told(ports: Ports, run: Run, trigger: str, uid: str) -> str:
    return str(ports.notifier.sent[f"{run.lead_id}:calcom.{trigger}.{uid}"]["text"])


@pytest.mark.parametrize(
    ("trigger", "status", "text"),
    [
        ("BOOKING_CREATED", "confirmed", "Maria Keller booked a meeting for Tue 10:00"),
        ("BOOKING_RESCHEDULED", "rescheduled", "Maria Keller moved the meeting to Tue 10:00"),
        ("BOOKING_CANCELLED", "cancelled", "Maria Keller cancelled the meeting of Tue 10:00"),
    ],
)
async def test_each_trigger_updates_the_meeting_notes_it_and_tells_the_owner(
    graph: Any, context: Context, ports: Ports, trigger: str, status: str, text: str
) -> None:
    """A waiting lead: the meeting takes the change, the CRM and the owner hear of it, and the
    lead waits again."""
    run = await waiting_lead(graph, context)
    given = change(run.lead_id, trigger, "uid-2", "2026-06-02T09:00:00Z")

    assert await apply(run, given, ports) == {"result": "applied", "status": status}

    booking = (await run.state())["booking"]
    assert (booking["status"], booking["uid"]) == (status, "uid-2")
    [entry] = booking["history"]
    assert (entry["trigger"], entry["uid"], entry["waiting"]) == (trigger, "uid-2", True)
    assert entry["text"] == text  # 09:00 UTC is 10:00 in Lisbon, the owner's zone
    if trigger != "BOOKING_CANCELLED":
        assert booking["start"] == "2026-06-02T09:00:00Z"
        assert booking["link"] == "https://cal.example/video/uid-2"
    assert told(ports, run, trigger, "uid-2") == text
    assert ports.crm.notes[f"{run.lead_id}:calcom.{trigger}.uid-2"] == f"Cal.com: {text}."
    assert (await steps(run))[-2:] == ["booking_changed", "wait_for_rep"]
    assert await run.waiting()


async def test_a_replayed_change_sends_no_second_note_or_message(
    graph: Any, context: Context, ports: Ports
) -> None:
    """The same (trigger, uid) again is a duplicate; a rerun step reuses its receipts."""
    run = await waiting_lead(graph, context)
    given = change(run.lead_id, "BOOKING_RESCHEDULED", "uid-3", "2026-06-03T14:00:00Z")
    await apply(run, given, ports)
    sent, notes = dict(ports.notifier.sent), dict(ports.crm.notes)

    assert (await apply(run, given, ports))["result"] == "duplicate"
    history = [s async for s in graph.aget_state_history(run.config)]
    before = next(s for s in history if s.next == ("booking_changed",))
    async for _ in graph.astream(None, before.config, context=run.ctx):
        pass

    assert ports.notifier.sent == sent and ports.crm.notes == notes
    assert len((await run.state())["booking"]["history"]) == 1


async def test_a_change_to_an_ended_thread_is_applied_and_the_thread_ends_again(
    graph: Any, context: Context, ports: Ports
) -> None:
    """An accepted lead's meeting moves: recorded as a step from wait_for_rep, then END."""
    run = await waiting_lead(graph, context)
    await run.decide("accept")
    assert not await run.waiting()

    given = change(run.lead_id, "BOOKING_RESCHEDULED", "uid-4", "2026-06-04T15:00:00Z")
    assert (await apply(run, given, ports))["status"] == "rescheduled"

    state = await run.state()
    assert state["booking"]["history"][-1]["waiting"] is False
    assert (await steps(run))[-1] == "booking_changed"
    assert not await run.waiting() and state["inbound_booking"] is None


async def test_the_meetings_history_keeps_every_change_in_order(
    graph: Any, context: Context, ports: Ports
) -> None:
    """Created, then moved, then cancelled: three entries, the last status wins."""
    run = await waiting_lead(graph, context)
    for trigger, uid, start in [
        ("BOOKING_CREATED", "uid-a", "2026-06-02T09:00:00Z"),
        ("BOOKING_RESCHEDULED", "uid-b", "2026-06-03T09:00:00Z"),
        ("BOOKING_CANCELLED", "uid-b", "2026-06-03T09:00:00Z"),
    ]:
        await apply(run, change(run.lead_id, trigger, uid, start), ports)

    booking = (await run.state())["booking"]
    assert [e["trigger"] for e in booking["history"]] == [
        "BOOKING_CREATED",
        "BOOKING_RESCHEDULED",
        "BOOKING_CANCELLED",
    ]
    assert (booking["status"], booking["start"]) == ("cancelled", "2026-06-03T09:00:00Z")
    assert await run.waiting()


async def test_a_lead_whose_meeting_moved_gets_no_second_one_when_keen(
    graph: Any, context: Context, ports: Ports
) -> None:
    """A rescheduled meeting still stands: an interested reply books nothing more."""
    run = await waiting_lead(graph, context)
    await apply(
        run, change(run.lead_id, "BOOKING_RESCHEDULED", "uid-5", "2026-06-05T09:00:00Z"), ports
    )

    result = await answer(run, reply("Yes please, let's set up a call."), ports)

    assert result["action"] == "already_booked" and not ports.calendar.bookings


async def test_a_cancellation_shows_in_the_reps_message_and_its_buttons_stay(
    graph: Any, context: Context, ports: Ports
) -> None:
    """The rep's message is edited: the meeting struck as cancelled, the change as its last
    line, and the decision buttons kept while the lead waits; a replay edits nothing more."""
    run = await waiting_lead(graph, context)
    given = change(run.lead_id, "BOOKING_CANCELLED", "uid-6", "2026-06-02T09:00:00Z")

    await apply(run, given, ports)
    await apply(run, given, ports)

    [(edited, message)] = ports.notifier.edits
    assert edited == f"{run.lead_id}:rep"
    assert message["meeting"] == {
        "start": "2026-06-02T09:00:00Z",
        "when": "Tue 2 Jun, 10:00–10:30 Europe/Lisbon",
        "link": None,
        "status": "cancelled",
    }
    assert message["status"] == "Maria Keller cancelled the meeting of Tue 10:00"
    assert message["decisions"] == list(DECISIONS)
    [entry] = (await run.state())["booking"]["history"]
    assert entry["deliveries"]["rep.message"]["updated"] is True


async def test_a_reschedule_of_an_accepted_lead_shows_the_new_time_and_who_accepted(
    graph: Any, context: Context, ports: Ports
) -> None:
    """An ended thread's message stays closed: no buttons, what closed it, then the change."""
    run = await waiting_lead(graph, context)
    await run.decide("accept")

    await apply(
        run, change(run.lead_id, "BOOKING_RESCHEDULED", "uid-7", "2026-06-04T15:00:00Z"), ports
    )

    edited, message = ports.notifier.edits[-1]
    assert edited == f"{run.lead_id}:rep" and len(ports.notifier.edits) == 2
    assert message["meeting"] == {
        "start": "2026-06-04T15:00:00Z",
        "when": "Thu 4 Jun, 16:00–16:30 Europe/Lisbon",
        "link": "https://cal.example/video/uid-7",
        "status": "rescheduled",
    }
    assert message["decisions"] == []
    assert message["status"] == (
        "✅ Accepted by <@U012ANA> · Maria Keller moved the meeting to Thu 16:00"
    )
