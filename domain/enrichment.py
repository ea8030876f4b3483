"""Enrichment policy: which domains to match on, the waterfall that fills firmographics, and
the contact and account matches as the record keeps them.

Providers run in `ENRICHMENT_ORDER` (default crm → directory → http → inference) and stop once
every field of `ENRICHMENT_FIELDS` is filled with at least `ENRICHMENT_MIN_CONFIDENCE`. Each
field keeps the value, source, confidence and fetch time of the provider that filled it; an
earlier provider's value is never overwritten. The HTTP provider is cached per domain
(`ENRICHMENT_CACHE_TTL_S`, misses included) and limited to `ENRICHMENT_BUDGET` calls a lead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from domain.records import AccountMatch, Company, ContactMatch, Lead, Provenance
from domain.regions import region_for

FIELDS = ("name", "domain", "industry", "employees", "country", "state", "city")
COUNTRY_CONFIDENCE = {"form": 0.8, "phone": 0.7, "email_tld": 0.6}


class Waterfall:
    """The fields filled so far, with provenance, and a log of each provider's turn."""

    def __init__(self, wanted: list[str], min_confidence: float, at: datetime) -> None:
        self.wanted = wanted
        self.min_confidence = min_confidence
        self.at = at.isoformat()
        self.company: dict[str, Any] = {}
        self.provenance: dict[str, Provenance] = {}
        self.log: list[dict[str, Any]] = []

    def done(self) -> bool:
        return all(
            f in self.provenance and self.provenance[f]["confidence"] >= self.min_confidence
            for f in self.wanted
        )

    def fill(
        self,
        values: Mapping[str, Any],
        source: str,
        confidence: float,
        fetched_at: str | None = None,
    ) -> list[str]:
        filled = []
        for name in FIELDS:
            value = values.get(name)
            if value in (None, "") or self.company.get(name) not in (None, ""):
                continue
            self.company[name] = value
            self.provenance[name] = {
                "source": source,
                "confidence": round(confidence, 3),
                "fetched_at": fetched_at or self.at,
            }
            filled.append(name)
        return filled


def match_domains(lead: Lead, own: set[str]) -> tuple[str | None, str | None]:
    """The corporate email domain and the website domain worth matching on."""
    corporate = not (lead.get("free_mail") or lead.get("disposable"))
    email = lead.get("domain") if corporate and lead.get("domain") not in own else None
    website = lead.get("website_domain") if lead.get("website_domain") not in own else None
    return email, website


def contact_match(contact: Mapping[str, Any] | None) -> ContactMatch | None:
    """The record of the CRM contact found by the lead's email, if any."""
    if not contact:
        return None
    return {
        "contact_id": contact["id"],
        "owner_email": contact.get("owner_email"),
        "company_id": contact.get("company_id"),
        "method": "email",
        "confidence": 1.0,
    }


def crm_account_match(
    crm_company: Mapping[str, Any], domain: str, email_domain: str | None
) -> AccountMatch:
    """The record of the CRM company found by the lead's domain."""
    return {
        "account_id": str(crm_company["id"]),
        "name": crm_company.get("name"),
        "domain": crm_company.get("domain"),
        "owner_email": crm_company.get("owner_email"),
        "parent_account_id": crm_company.get("parent_id"),
        "method": "email_domain" if domain == email_domain else "website",
        "confidence": 1.0,
        "matched_on": domain,
        "source": "crm",
    }


def infer_from_lead(flow: Waterfall, lead: Lead, domain: str | None) -> list[str]:
    """Fill what the lead itself says (company, place, country), then a name from the domain."""
    inferred = {"name": lead.get("company"), "state": lead.get("state"), "city": lead.get("city")}
    filled = flow.fill(inferred, "lead", 0.6)
    country = lead.get("country")
    if country:
        confidence = COUNTRY_CONFIDENCE.get(lead.get("country_source") or "", 0.5)
        filled += flow.fill({"country": country}, "lead", confidence)
    if domain and "name" not in flow.company:
        label = domain.split(".")[0].replace("-", " ").title()
        filled += flow.fill({"name": label}, "inferred:domain", 0.3)
    return filled


def finish(flow: Waterfall, domain: str | None) -> Company:
    """The company as filled, with the lead's own domain and the region of its country."""
    if domain:  # the lead's own domain is a fact, whichever provider filled the rest
        flow.fill({"domain": domain}, "lead", 1.0)
    company = flow.company
    if company.get("country"):
        company["region"] = region_for(company["country"])
        flow.provenance["region"] = {**flow.provenance["country"], "source": "derived:country"}
    return cast(Company, company)
