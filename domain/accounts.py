"""What an account looks like to the similar-account memory: its id and the text embedded.

`account_key` names the lead's account in the memory; `account_text` renders an account's
firmographics (name, industry, country, size band, description) into the text to embed, so
accounts sharing an industry, a country and a size band share many features and end up close.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from domain.records import Enrichment

META_FIELDS = ("name", "domain", "industry", "employees", "country", "region")

# Upper bounds of the employee-count bands, the usual B2B segmentation grain.
_SIZE_BANDS: tuple[tuple[int, str], ...] = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (500, "201-500"),
    (1000, "501-1000"),
    (5000, "1001-5000"),
    (10000, "5001-10000"),
)


def account_key(enrichment: Enrichment) -> str | None:
    """The memory id of the lead's account: the matched account, else its company domain."""
    match = enrichment.get("account_match")
    if match and match.get("account_id"):
        return f"account:{match['account_id']}"
    domain = enrichment.get("company", {}).get("domain")
    return f"domain:{domain}" if domain else None


def _plain(value: Any) -> Any:
    """An enrichment field may be `{"value", "source", "confidence"}`; return its value."""
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _first(account: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = _plain(account.get(key))
        if value not in (None, "", [], {}):
            return value
    return None


def size_band(employees: Any) -> str | None:
    """The employee-count band of `employees` (a number or a numeric string), or None."""
    if isinstance(employees, bool) or employees is None:
        return None
    if isinstance(employees, str):
        digits = employees.replace(",", "").replace("_", "").strip().rstrip("+")
        if not digits.isdigit():
            return employees.strip() or None
        employees = int(digits)
    if not isinstance(employees, int | float) or not math.isfinite(employees) or employees < 1:
        return None
    for upper, band in _SIZE_BANDS:
        if employees <= upper:
            return band
    return "10001+"


@lru_cache(maxsize=512)
def country_name(value: str) -> str:
    """The common English name of a country given by name or ISO code; else `value` itself."""
    import pycountry

    try:
        country = pycountry.countries.lookup(value.strip())
    except LookupError:
        return value.strip()
    return str(getattr(country, "common_name", None) or country.name)


def account_text(account: Mapping[str, Any]) -> str:
    """Render an account's firmographics as the text its embedding is computed from.

    Reads `name` (or `company`), `industry`, `country`, the size band from `size_band` or
    `employees`, and `description`; a field may be a plain value or an enrichment field
    (`{"value": ..., "source": ..., "confidence": ...}`). One line per field, without labels
    (a label shared by every account would only add the same amount to every similarity);
    missing fields are left out.
    """
    parts: list[str] = []
    name = _first(account, "name", "company", "company_name")
    if name is not None:
        parts.append(str(name))
    industry = _first(account, "industry", "sector")
    if industry is not None:
        parts.append(str(industry))
    country = _first(account, "country", "country_code")
    if country is not None:
        parts.append(country_name(str(country)))
    band = _first(account, "size_band") or size_band(
        _first(account, "employees", "employee_count", "size")
    )
    if band is not None:
        parts.append(f"{band} employees")
    description = _first(account, "description", "about")
    if description is not None:
        parts.append(str(description))
    return "\n".join(parts)


def split_aliases(value: Any) -> tuple[str, ...]:
    """An account's other names (former, trade or local names): a list, or one CSV cell
    separated by `|` (`Brightloom|Brightloom, Inc.`); blanks dropped."""
    if not value:
        return ()
    names = value.split("|") if isinstance(value, str) else [str(name) for name in value]
    return tuple(dict.fromkeys(name.strip() for name in names if name and name.strip()))
