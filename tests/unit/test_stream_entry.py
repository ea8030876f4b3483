"""The queue entry the lead webhook writes itself, in the step that stores the lead."""

from __future__ import annotations

from taskiq.message import TaskiqMessage

from service.stream import LeadStream


def test_an_entry_is_the_message_the_broker_would_send() -> None:
    """`LeadStream.entry` is byte for byte what taskiq's formatter writes for the same task."""
    stream = LeadStream(
        "redis://127.0.0.1:6379/0", queue_name="q", consumer_group_name="g", claim_after_ms=1000
    )
    entry = stream.entry("process_lead", "lead-1")
    taken = stream.formatter.loads(entry)
    message = TaskiqMessage(
        task_id=taken.task_id,
        task_name="process_lead",
        labels={},
        labels_types={},
        args=["lead-1"],
        kwargs={},
    )
    assert entry == stream.formatter.dumps(message).message
