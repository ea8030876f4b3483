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
from typing import Any, cast

from langgraph.runtime import Runtime

from domain.accounts import account_key
from domain.enrichment import (
    Waterfall,
    contact_match,
    crm_account_match,
    finish,
    infer_from_lead,
    match_domains,
)
from domain.records import AccountMatch, Enrichment, ErrorEntry
from graph.context import Context
from graph.nodes._node import timed
from graph.similar_accounts import similar_accounts
from graph.state import EnrichUpdate, LeadState


async def _http(ctx: Context, domain: str) -> tuple[dict[str, Any] | None, str]:
    """The HTTP provider's fields for `domain` from cache or one call, and how they came."""
    assert ctx.enricher is not None
    cache_key = f"enrich:http:{domain}"
    cached = await ctx.cache.cache_get(cache_key)
    if cached is not None:
        return json.loads(cached), "cache"
    result = await ctx.enricher.lookup(domain)
    fields = None if result is None else result.as_dict()["fields"]
    if ctx.settings.enrichment_cache_ttl_s:
        await ctx.cache.cache_set(
            cache_key, json.dumps(fields), ctx.settings.enrichment_cache_ttl_s
        )
    return fields, "call"


@timed("enrich")
async def enrich(state: LeadState, runtime: Runtime[Context]) -> EnrichUpdate:
    """Find the contact and account, then fill firmographics provider by provider."""
    ctx = runtime.context
    settings = ctx.settings
    lead = state["lead"]
    errors: list[ErrorEntry] = []
    own = {d.lower() for d in settings.own_domains}
    email_domain, website_domain = match_domains(lead, own)
    domain = email_domain or website_domain

    email = lead.get("email")
    contact = contact_match(await ctx.crm.find_contact(email) if email else None)
    crm_company = await ctx.crm.find_company_by_domain(domain) if domain else None
    match = ctx.matcher.match(
        email_domain=email_domain,
        website_domain=website_domain,
        company_name=lead.get("company"),
        own_domains=own,
    )
    account_match: AccountMatch | None = None
    if match is not None:
        account_match = cast(AccountMatch, {**match.as_dict(), "source": "directory"})
    if crm_company and domain and (match is None or match.domain != crm_company.get("domain")):
        account_match = crm_account_match(crm_company, domain, email_domain)

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
            entry.update(status="used", filled=infer_from_lead(flow, lead, domain))
        else:
            entry.update(status="skipped", reason="nothing to ask")
        entry["ms"] = round((time.perf_counter() - started) * 1000, 3)
        flow.log.append(entry)

    company = finish(flow, domain)
    enrichment: Enrichment = {
        "company": company,
        "provenance": flow.provenance,
        "account_match": account_match,
        "contact_match": contact,
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
