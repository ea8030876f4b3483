"""enrich: match the lead to its contact and account, then fill firmographics by a waterfall.

Providers run in `ENRICHMENT_ORDER` (default crm → directory → http → inference) and stop once
every field of `ENRICHMENT_FIELDS` is filled with at least `ENRICHMENT_MIN_CONFIDENCE`. Each
field keeps the value, source, confidence and fetch time of the provider that filled it; an
earlier provider's value is never overwritten. The HTTP provider is cached per domain
(`ENRICHMENT_CACHE_TTL_S`, misses included) and limited to `ENRICHMENT_BUDGET` calls a lead.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime

from domain.accounts import account_key
from domain.regions import region_for
from graph.context import Context
from graph.nodes._node import timed
from graph.similar_accounts import similar_accounts
from graph.state import EnrichUpdate, LeadState

FIELDS = ("name", "domain", "industry", "employees", "country", "state", "city")
COUNTRY_CONFIDENCE = {"form": 0.8, "phone": 0.7, "email_tld": 0.6}


class Waterfall:
    """The fields filled so far, with provenance, and a log of each provider's turn."""

    def __init__(self, wanted: list[str], min_confidence: float, at: datetime) -> None:
        self.wanted = wanted
        self.min_confidence = min_confidence
        self.at = at.isoformat()
        self.company: dict[str, Any] = {}
        self.provenance: dict[str, dict[str, Any]] = {}
        self.log: list[dict[str, Any]] = []

    def done(self) -> bool:
        return all(
            self.provenance.get(f, {}).get("confidence", 0) >= self.min_confidence
            for f in self.wanted
        )

    def fill(
        self, values: dict[str, Any], source: str, confidence: float, fetched_at: str | None = None
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


def _domains(lead: dict[str, Any], own: set[str]) -> tuple[str | None, str | None]:
    """The corporate email domain and the website domain worth matching on."""
    corporate = not (lead.get("free_mail") or lead.get("disposable"))
    email = lead.get("domain") if corporate and lead.get("domain") not in own else None
    website = lead.get("website_domain") if lead.get("website_domain") not in own else None
    return email, website


async def _http(ctx: Context, domain: str) -> tuple[dict[str, Any] | None, str]:
    """The HTTP provider's fields for `domain` from cache or one call, and how they came."""
    assert ctx.enricher is not None
    cache_key = f"enrich:http:{domain}"
    cached = await ctx.store.cache_get(cache_key)
    if cached is not None:
        return json.loads(cached), "cache"
    result = await ctx.enricher.lookup(domain)
    fields = None if result is None else result.as_dict()["fields"]
    if ctx.settings.enrichment_cache_ttl_s:
        await ctx.store.cache_set(
            cache_key, json.dumps(fields), ctx.settings.enrichment_cache_ttl_s
        )
    return fields, "call"


@timed("enrich")
async def enrich(state: LeadState, runtime: Runtime[Context]) -> EnrichUpdate:
    """Find the contact and account, then fill firmographics provider by provider."""
    ctx = runtime.context
    settings = ctx.settings
    lead = state.get("lead", {})
    errors: list[dict[str, Any]] = []
    own = {d.lower() for d in settings.own_domains}
    email_domain, website_domain = _domains(lead, own)
    domain = email_domain or website_domain

    contact_match = None
    if lead.get("email"):
        contact = await ctx.crm.find_contact(lead["email"])
        if contact:
            contact_match = {
                "contact_id": contact["id"],
                "owner_email": contact.get("owner_email"),
                "company_id": contact.get("company_id"),
                "method": "email",
                "confidence": 1.0,
            }

    crm_company = await ctx.crm.find_company_by_domain(domain) if domain else None
    match = ctx.matcher.match(
        email_domain=email_domain,
        website_domain=website_domain,
        company_name=lead.get("company"),
        own_domains=own,
    )
    account_match: dict[str, Any] | None = None
    if match is not None:
        account_match = {**match.as_dict(), "source": "directory"}
    if crm_company and (match is None or match.domain != crm_company.get("domain")):
        account_match = {
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

    flow = Waterfall(settings.enrichment_fields, settings.enrichment_min_confidence, ctx.clock())
    budget = settings.enrichment_budget
    for provider in settings.enrichment_order:
        if flow.done():
            flow.log.append({"provider": provider, "status": "skipped", "reason": "fields filled"})
            continue
        started = time.perf_counter()
        entry: dict[str, Any] = {"provider": provider}
        if provider == "crm" and crm_company:
            props = {**(crm_company.get("properties") or {}), **crm_company}
            entry.update(status="used", filled=flow.fill(props, "crm", 1.0))
        elif provider == "directory" and match is not None:
            row = ctx.directory.by_id(match.account_id) or {}
            values = {**(row.get("properties") or {}), **row}
            entry.update(status="used", filled=flow.fill(values, "directory", match.confidence))
        elif provider == "http" and ctx.enricher is not None and domain:
            if budget <= 0:
                entry.update(status="skipped", reason="provider budget spent")
            else:
                try:
                    fields, how = await _http(ctx, domain)
                    budget -= how == "call"
                    entry.update(status="used" if fields else "no data", via=how, filled=[])
                    for name, fv in (fields or {}).items():
                        entry["filled"] += flow.fill(
                            {name: fv["value"]}, fv["source"], fv["confidence"], fv["fetched_at"]
                        )
                except Exception as exc:  # a provider failing leaves the rest of the waterfall
                    entry.update(status="error", error=f"{type(exc).__name__}: {exc}"[:300])
                    errors.append(
                        {"node": "enrich", "tool": "http_enrichment", "error": entry["error"]}
                    )
        elif provider == "inference":
            inferred = {
                "name": lead.get("company"),
                "state": lead.get("state"),
                "city": lead.get("city"),
            }
            filled = flow.fill(inferred, "lead", 0.6)
            if lead.get("country"):
                confidence = COUNTRY_CONFIDENCE.get(lead.get("country_source") or "", 0.5)
                filled += flow.fill({"country": lead["country"]}, "lead", confidence)
            if domain and "name" not in flow.company:
                label = domain.split(".")[0].replace("-", " ").title()
                filled += flow.fill({"name": label}, "inferred:domain", 0.3)
            entry.update(status="used", filled=filled)
        else:
            entry.update(status="skipped", reason="nothing to ask")
        entry["ms"] = round((time.perf_counter() - started) * 1000, 3)
        flow.log.append(entry)

    if domain:  # the lead's own domain is a fact, whichever provider filled the rest
        flow.fill({"domain": domain}, "lead", 1.0)
    company = flow.company
    if company.get("country"):
        company["region"] = region_for(company["country"])
        flow.provenance["region"] = {**flow.provenance["country"], "source": "derived:country"}
    enrichment: dict[str, Any] = {
        "company": company,
        "provenance": flow.provenance,
        "account_match": account_match,
        "contact_match": contact_match,
        "similar_accounts": [],
        "waterfall": flow.log,
        "complete": flow.done(),
    }
    if ctx.vectors is not None and ctx.embedder is not None and company.get("name"):
        try:
            enrichment["similar_accounts"] = await similar_accounts(
                ctx.vectors,
                ctx.embedder,
                company,
                k=settings.similar_accounts_k,
                exclude=account_key(enrichment),
            )
        except Exception as exc:  # memory is an aid, not a gate: record and go on
            errors.append({"node": "enrich", "tool": "vector_memory", "error": str(exc)[:300]})
    return {"enrichment": enrichment, "errors": errors}
