"""Hypothesis strategies and the inputs they draw on, shared by the property tests."""

from __future__ import annotations

# The keys a lead payload may carry that `normalize_lead` reads.
PAYLOAD_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "full_name",
    "company",
    "title",
    "phone",
    "country",
    "state",
    "city",
    "website",
    "message",
    "source",
    "form_id",
    "event_id",
    "submitted_at",
    "utm",
    "consent",
    "properties",
)
