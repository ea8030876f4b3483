"""enrich: match the lead to a known contact and account and fill company firmographics.

The waterfall runs CRM → company directory → inference from the lead itself; each field keeps
the source and confidence of the provider that filled it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.nodes._node import timed
from graph.regions import region_for
from graph.state import EnrichUpdate, LeadState

FIELDS = ("name", "domain", "industry", "employees", "country", "state", "city")


def _account_domains(lead: dict[str, Any], own_domains: list[str]) -> list[tuple[str, str]]:
    """Domains worth matching on, with the method each stands for, best first."""
    out: list[tuple[str, str]] = []
    own = {d.lower() for d in own_domains}
    corporate = not (lead.get("free_mail") or lead.get("disposable"))
    if lead.get("domain") and corporate and lead["domain"] not in own:
        out.append((lead["domain"], "email_domain"))
    website = lead.get("website_domain")
    if website and website not in own and website not in {d for d, _ in out}:
        out.append((website, "website"))
    return out


def _fill(
    company: dict[str, Any],
    provenance: dict[str, Any],
    values: dict[str, Any],
    source: str,
    confidence: float,
    at: datetime,
) -> None:
    for name in FIELDS:
        value = values.get(name)
        if value in (None, "") or company.get(name) not in (None, ""):
            continue
        company[name] = value
        provenance[name] = {
            "source": source,
            "confidence": confidence,
            "fetched_at": at.isoformat(),
        }


@timed("enrich")
async def enrich(state: LeadState, runtime: Runtime[Context]) -> EnrichUpdate:
    """Find the contact and account, then fill firmographics field by field."""
    ctx = runtime.context
    lead = state.get("lead", {})
    now = ctx.clock()
    errors: list[dict[str, Any]] = []

    contact_match = None
    if lead.get("email"):
        contact = await ctx.crm.find_contact(lead["email"])
        if contact:
            contact_match = {
                "contact_id": contact["id"],
                "owner_email": contact.get("owner_email"),
                "company_id": contact.get("company_id"),
                "method": "email",
                "score": 1.0,
            }

    account_match = None
    company: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    providers: list[str] = []
    domains = _account_domains(lead, ctx.settings.own_domains)
    for domain, method in domains:
        crm_company = await ctx.crm.find_company_by_domain(domain)
        known = crm_company or ctx.directory.lookup_domain(domain)
        if not known:
            continue
        source = "crm" if crm_company else "directory"
        confidence = 1.0 if method == "email_domain" else 0.95
        props = {**known.get("properties", {}), **known}
        account_match = {
            "account_id": str(known.get("account_id") or known.get("id")),
            "name": props.get("name"),
            "domain": props.get("domain"),
            "owner_email": props.get("owner_email") or None,
            "parent_account_id": props.get("parent_account_id") or props.get("parent_id"),
            "source": source,
            "method": method,
            "matched_on": domain,
            "score": confidence,
        }
        _fill(company, provenance, props, source, confidence, now)
        providers.append(source)
        break

    inferred = {
        "name": lead.get("company"),
        "domain": domains[0][0] if domains else None,
        "country": lead.get("country"),
        "state": lead.get("state"),
        "city": lead.get("city"),
    }
    _fill(company, provenance, inferred, "lead", 0.6, now)
    providers.append("lead")
    if company.get("country"):
        company["region"] = region_for(company["country"])
        provenance["region"] = {**provenance["country"], "source": "derived:country"}
    return {
        "enrichment": {
            "company": company,
            "provenance": provenance,
            "account_match": account_match,
            "contact_match": contact_match,
            "similar_accounts": [],
            "providers": providers,
        },
        "errors": errors,
    }
