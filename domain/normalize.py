"""Normalize a raw lead payload into the `lead` record the rest of the graph reads.

`normalize_lead` is pure and deterministic: it never raises on odd input, never invents a
value, and reports each non-fatal oddity (unparseable phone, unknown country, role or
disposable address, unparseable timestamp, truncated text …) as a problem
`{"field", "problem"}` next to the lead. The public-suffix parser (tldextract's bundled
snapshot: no network, no cache files) and the free-mail and disposable domain lists in
`graph/data/` are loaded once, on first use.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import urlsplit

import phonenumbers
import tldextract

from domain.records import Lead, Problem
from domain.regions import COUNTRY_REGION, country_code, region_for

DATA_DIR: Final = Path(__file__).resolve().parent / "data"

LEAD_KEYS: Final = (
    "email",
    "email_local",
    "email_domain",
    "domain",
    "website_domain",
    "free_mail",
    "disposable",
    "role_address",
    "first_name",
    "last_name",
    "full_name",
    "company",
    "title",
    "phone",
    "country",
    "country_source",
    "state",
    "city",
    "region",
    "message",
    "source",
    "form_id",
    "submitted_at",
    "utm",
    "consent",
    "properties",
)

MESSAGE_MAX_CHARS: Final = 5000
NAME_MAX_CHARS: Final = 100
FULL_NAME_MAX_CHARS: Final = 250
FIELD_MAX_CHARS: Final = 200
PHONE_MAX_CHARS: Final = 64
WEBSITE_MAX_CHARS: Final = 2048


# Shared data, built once ---------------------------------------------------------------------


@functools.cache
def _extractor() -> tldextract.TLDExtract:
    """Public-suffix parser on tldextract's bundled snapshot: no HTTP fetch, no cache files."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def _read_domains(name: str) -> frozenset[str]:
    with (DATA_DIR / name).open(encoding="utf-8") as handle:
        entries = (line.split("#", 1)[0].strip().lower() for line in handle)
        return frozenset(entry for entry in entries if entry)


@functools.cache
def free_mail_domains() -> frozenset[str]:
    """Free and consumer mailbox domains, from `graph/data/free_mail.txt`."""
    return _read_domains("free_mail.txt")


@functools.cache
def disposable_domains() -> frozenset[str]:
    """Throwaway mailbox domains, from `graph/data/disposable.txt`."""
    return _read_domains("disposable.txt")


# Text ----------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_PLACEHOLDERS: Final = _words("- -- --- . ? n/a na n.a. none null nil unknown undefined")


def _text(value: Any) -> str | None:
    """A payload value as text (numbers included), NUL characters removed; else None."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        return None
    return text.replace("\x00", "") if "\x00" in text else text


def _collapse(value: Any) -> str | None:
    """Text with whitespace stripped and collapsed to single spaces; None when empty."""
    text = _text(value)
    if text is None:
        return None
    return " ".join(text.split()) or None


def _clip(field: str, text: str | None, limit: int, problems: list[Problem]) -> str | None:
    if text is not None and len(text) > limit:
        problems.append({"field": field, "problem": f"longer than {limit} characters; truncated"})
        return text[:limit].rstrip()
    return text


def _shown(value: Any) -> str:
    """A short quoted rendering of a bad value, for a problem message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_text(
    payload: dict[str, Any], field: str, problems: list[Problem], *, strip: str = ""
) -> str | None:
    """A free-text field collapsed, unwrapped of `strip` characters, placeholders dropped."""
    text = _collapse(payload.get(field))
    if text is not None and strip:
        text = text.strip(strip).strip()
    if not text or text.casefold() in _PLACEHOLDERS:
        return None
    return _clip(field, text, FIELD_MAX_CHARS, problems)


# Email and domains ---------------------------------------------------------------------------

_LOCAL = re.compile(r"[\w!#$%&'*+/=?^`{|}~.-]{1,64}")
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_HOSTNAME = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}")
_LOCAL_SEPARATORS = re.compile(r"[._-]+")
# An http(s) URL whose host is plain ASCII, followed by its end or its path, query or fragment.
_PLAIN_URL = re.compile(r"https?://([a-z0-9.-]*)(?=[/?#]|\Z)")

ROLE_LOCAL_PARTS: Final = _words("""
    abuse accounting accounts admin administrator alerts all billing bookings careers contact
    contactus customercare customerservice customersuccess dev developers donotreply enquiries
    enquiry everyone feedback finance general hello help helpdesk hi hr info information
    inquiries inquiry invoices it jobs kontakt legal mail marketing media newsletter noreply
    notifications office operations ops orders partners partnerships postmaster press privacy
    procurement purchasing reception recruiting recruitment root sales security service
    services servicedesk staff support team tech techsupport webmaster welcome
    """)
_ROLE_QUALIFIERS: Final = _words("apac dept desk emea eu global hq inbox intl latam na team uk us")

# Country-code TLDs sold mostly as generic names: a bare one says nothing about location.
_VANITY_CCTLDS: Final = _words(
    "ac ag ai cc cf co cx fm ga gg gq im io la ly me ml ms nu sh so tk to tv vc ws"
)


_RULE_END: Final = ""  # the key marking, in `_suffix_rules`, a node where a rule ends


@functools.cache
def _suffix_rules() -> dict[str, Any]:
    """The public suffix rules tldextract matches (`TLDExtract.tlds`: its snapshot, without
    the private section) as nested dicts by label from the right, as its own trie has them."""
    root: dict[str, Any] = {}
    for rule in _extractor().tlds:
        node = root
        for label in reversed(rule.split(".")):
            node = node.setdefault(label, {})
        node[_RULE_END] = True
    return root


def _suffix_start(labels: list[str]) -> int | None:
    """Where the public suffix of a lower-case ASCII hostname's labels starts; None without
    one. tldextract's own walk (`suffix_index`), wildcards and exceptions included, without
    its punycode decoding, which such labels do not need."""
    node = _suffix_rules()
    index = start = len(labels)
    for label in reversed(labels):
        child = node.get(label)
        if child is not None:
            index -= 1
            node = child
            if _RULE_END in node:
                start = index
            continue
        if "*" in node:
            return index if "!" + label in node else index - 1
        break
    return None if start == len(labels) else start


@functools.lru_cache(maxsize=4096)
def _split_host(host: str) -> tuple[str, str] | None:
    """(registrable domain, public suffix) of a hostname matching `_HOSTNAME`; None without a
    public suffix. A lower-case ASCII name without punycode labels (nearly all) is looked up
    in the rules directly, four times faster than through `extract_str`, with its answer."""
    if host.isascii() and host.islower() and "xn--" not in host:
        labels = host.split(".")
        start = _suffix_start(labels)
        if start is None or start == 0 or start == len(labels):
            return None
        suffix = ".".join(labels[start:])
        return f"{labels[start - 1]}.{suffix}", suffix
    result = _extractor().extract_str(host)
    if not result.domain or not result.suffix:
        return None
    return f"{result.domain}.{result.suffix}", result.suffix


def registrable_domain(value: str | None) -> str | None:
    """Registrable domain of a hostname, URL or email address, Public Suffix aware; else None.

    `mail.eu.acme.co.uk`, `https://www.acme.co.uk/x`, `acme.co.uk:443` and `jo@EU.Acme.co.uk`
    all give `acme.co.uk`. None for a malformed host (`a..b.com`, `-acme.com`, `a b.com`) or
    one without a public suffix (`localhost`, `acme.internal`).
    """
    text = (value or "").strip().lower()
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    plain = _PLAIN_URL.match(text) if text.startswith(("https://", "http://")) else None
    if plain is not None:
        text = plain.group(1)  # what `urlsplit` would give, without its cost
    elif "/" in text or ":" in text:
        try:
            text = urlsplit(text if "://" in text else "//" + text.lstrip("/")).hostname or ""
        except ValueError:
            return None
    host = text.rstrip(".")
    if not host or not _HOSTNAME.fullmatch(host):
        return None
    parts = _split_host(host)
    return parts[0] if parts else None


def is_role_address(local: str) -> bool:
    """True for a shared mailbox: info@, sales@, no-reply@, support.emea@, hello+web@ …"""
    base = local.lower().split("+", 1)[0]
    tokens = [token for token in _LOCAL_SEPARATORS.split(base) if token]
    if not tokens:
        return False
    if "".join(tokens) in ROLE_LOCAL_PARTS:
        return True
    return tokens[0] in ROLE_LOCAL_PARTS and all(
        token in ROLE_LOCAL_PARTS or token in _ROLE_QUALIFIERS or token.isdigit()
        for token in tokens[1:]
    )


def is_free_mail(domain: str | None) -> bool:
    """True when an email domain, or its registrable domain, is a free-mail provider."""
    return _listed(domain, free_mail_domains())


def is_disposable(domain: str | None) -> bool:
    """True when an email domain, or its registrable domain, is a throwaway mailbox service."""
    return _listed(domain, disposable_domains())


def _listed(domain: str | None, domains: frozenset[str]) -> bool:
    if not domain:
        return False
    domain = domain.strip().lower().rstrip(".")
    return domain in domains or registrable_domain(domain) in domains


def _country_from_suffix(suffix: str) -> str | None:
    """Country of a country-code public suffix (.de, .co.uk, .com.au); None for .io, .com …"""
    tld = suffix.rsplit(".", 1)[-1]
    if len(tld) != 2 or ("." not in suffix and tld in _VANITY_CCTLDS):
        return None
    code = "GB" if tld == "uk" else tld.upper()
    return code if code in COUNTRY_REGION else None


def _clean_email(value: Any) -> str | None:
    text = _collapse(value)
    if text is None:
        return None
    if "<" in text and text.endswith(">"):
        text = text[text.rfind("<") + 1 : -1]
    text = text.strip().strip("'\"").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:].split("?", 1)[0]
    return text.lower() or None


def _email_fields(value: Any, problems: list[Problem]) -> tuple[dict[str, Any], str | None]:
    """The email keys of the lead, and the country its domain's ccTLD suggests."""
    fields: dict[str, Any] = {
        "email": None,
        "email_local": None,
        "email_domain": None,
        "domain": None,
        "free_mail": False,
        "disposable": False,
        "role_address": False,
    }
    email = _clean_email(value)
    if email is None:
        if value not in (None, ""):
            problems.append({"field": "email", "problem": f"not an email address: {_shown(value)}"})
        return fields, None
    local, at, host = email.rpartition("@")
    host = host.rstrip(".")
    if not at or len(email) > 254 or not _LOCAL.fullmatch(local) or not _HOSTNAME.fullmatch(host):
        problems.append({"field": "email", "problem": f"not an email address: {_shown(value)}"})
        return fields, None

    fields.update(email=f"{local}@{host}", email_local=local, email_domain=host)
    tld_country = None
    parts = _split_host(host)
    if parts is None:
        problems.append(
            {"field": "email", "problem": f"email domain {host!r} has no public suffix"}
        )
    else:
        fields["domain"], suffix = parts
        tld_country = _country_from_suffix(suffix)
    for flag, domains in (("free_mail", free_mail_domains()), ("disposable", disposable_domains())):
        fields[flag] = host in domains or fields["domain"] in domains
    fields["role_address"] = is_role_address(local)
    if fields["disposable"]:
        problems.append({"field": "email", "problem": f"disposable email domain {host!r}"})
    if fields["role_address"]:
        problems.append({"field": "email", "problem": f"role address {local!r}, not a person"})
    return fields, tld_country


def website_domain(value: Any) -> str | None:
    """Registrable domain of a website given as a URL, a host or a bare domain; else None.

    `https://www.acme.com/path`, `acme.com` and `WWW.ACME.COM` all give `acme.com`.
    """
    text = _collapse(value)
    if text is None or " " in text or len(text) > WEBSITE_MAX_CHARS:
        return None
    text = text.lower()
    if "://" not in text:
        text = "http://" + text.lstrip("/")
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    return registrable_domain(host)


# Names ---------------------------------------------------------------------------------------

_HONORIFICS: Final = _words(
    "mr mrs ms miss mx dr prof professor sir dame herr frau mme mlle sra srta"
)
_GENERATIONAL: Final = {"jr": "Jr.", "sr": "Sr.", "ii": "II", "iii": "III", "iv": "IV"}
_CREDENTIALS: Final = _words("phd md mba cpa esq dds rn cfa pmp msc bsc pe jd")
_PARTICLES: Final = _words(
    "van von der den de del della di da das dos du la le ten ter zu zum zur bin ibn"
)
_MAC_NAMES: Final = _words("""
    macarthur macaulay macdonald macdougall macgregor macintyre mackenzie maclean macleod
    macmillan macneil macpherson
    """)
_NAME_EDGE: Final = " \t,;:\"'`“”‘’()[]{}<>*_|/\\-–—"
_SURNAME_FIRST: Final = "\x00"
_LETTER_RUN = re.compile(r"[^\W\d_]+")


def _capitalize(part: str) -> str:
    lower = part.lower()
    if lower.startswith("mc") and len(lower) > 3:
        return "Mc" + lower[2:].capitalize()
    if lower in _MAC_NAMES:
        return "Mac" + lower[3:].capitalize()
    return lower[:1].upper() + lower[1:]


def _recase_token(token: str, *, particle: bool, keep_short_caps: bool) -> str:
    """Title-case one all-upper or all-lower token; mixed-case tokens are kept as typed."""
    if not (token.isupper() or token.islower()):
        return token
    bare = token.lower().replace(".", "")
    if bare in _GENERATIONAL:
        return _GENERATIONAL[bare]
    if particle and bare in _PARTICLES:
        return token.lower()
    if keep_short_caps and len(token) == 2 and token.isalpha() and token.isupper():
        return token
    return _LETTER_RUN.sub(lambda match: _capitalize(match.group()), token)


def _recase(tokens: list[str], *, given: bool, keep_short_caps: bool) -> list[str]:
    """Title-case one name part; particles ("van der", "de") stay lower before a surname."""
    out: list[str] = []
    surname_follows = False
    for index in range(len(tokens) - 1, -1, -1):
        token = tokens[index]
        particle = surname_follows and not (given and index == 0)
        out.append(_recase_token(token, particle=particle, keep_short_caps=keep_short_caps))
        surname_follows = surname_follows or token.lower() not in _PARTICLES
    return out[::-1]


def _short_caps_deliberate(tokens: list[str]) -> bool:
    """Two-letter capitals ("JJ", "TJ") are kept unless the whole name is typed in capitals."""
    cased = [token for token in tokens if any(ch.isalpha() for ch in token)]
    return bool(cased) and not all(token.isupper() for token in cased)


def _bare(token: str) -> str:
    return token.lower().replace(".", "").strip(",")


def _is_suffix(token: str) -> bool:
    return _bare(token) in _GENERATIONAL or _bare(token) in _CREDENTIALS


def _name_tokens(value: Any, field: str, limit: int, problems: list[Problem]) -> list[str]:
    text = _clip(field, _collapse(value), limit, problems)
    if text is None:
        return []
    text = text.strip(_NAME_EDGE)
    if not text or text.casefold() in _PLACEHOLDERS:
        return []
    return text.split(" ")


def _split_full_name(
    value: Any, field: str, problems: list[Problem]
) -> tuple[list[str], list[str]]:
    """(given names, family name with particles and generational suffix) of a full name."""
    tokens = _name_tokens(value, field, FULL_NAME_MAX_CHARS, problems)
    if not tokens:
        return [], []
    text = " ".join(tokens)
    suffixes: list[str] = []
    head, comma, tail = text.partition(",")
    if comma:
        tail_tokens = tail.replace(",", " ").split()
        if tail_tokens and all(_is_suffix(token) for token in tail_tokens):
            suffixes = [_GENERATIONAL[_bare(t)] for t in tail_tokens if _bare(t) in _GENERATIONAL]
            tokens = head.split()
        elif tail_tokens and head.strip():
            tokens = [*tail_tokens, _SURNAME_FIRST, *head.split()]
        else:
            tokens = f"{head} {tail}".split()

    while len(tokens) > 1 and _bare(tokens[0]) in _HONORIFICS:
        tokens = tokens[1:]
    while len(tokens) > 1 and _is_suffix(tokens[-1]):
        if _bare(tokens[-1]) in _GENERATIONAL:
            suffixes.insert(0, _GENERATIONAL[_bare(tokens[-1])])
        tokens = tokens[:-1]

    if _SURNAME_FIRST in tokens:
        cut = tokens.index(_SURNAME_FIRST)
        given, family = tokens[:cut], tokens[cut + 1 :]
    else:
        start = len(tokens) - 1
        while start > 1 and tokens[start - 1].lower() in _PARTICLES:
            start -= 1
        given, family = (tokens[:start], tokens[start:]) if len(tokens) > 1 else (tokens, [])
    given = [token.strip(",") for token in given if token.strip(",")]
    family = [token.strip(",") for token in family if token.strip(",")]
    return given, family + suffixes


def _name_fields(payload: dict[str, Any], problems: list[Problem]) -> dict[str, str | None]:
    """first_name, last_name and full_name from the first/last fields or a full name."""
    first = _name_tokens(payload.get("first_name"), "first_name", NAME_MAX_CHARS, problems)
    last = _name_tokens(payload.get("last_name"), "last_name", NAME_MAX_CHARS, problems)
    while len(first) > 1 and _bare(first[0]) in _HONORIFICS:
        first = first[1:]
    last = [token.strip(",") for token in last if token.strip(",")]
    while len(last) > 1 and _bare(last[-1]) in _CREDENTIALS:
        last = last[:-1]
    full_value, full_field = payload.get("full_name"), "full_name"
    if len(first) > 1 and not last and _collapse(full_value) is None:
        full_value, full_field, first = " ".join(first), "first_name", []
    given, family = _split_full_name(full_value, full_field, problems)
    given, family = first or given, last or family
    keep_short_caps = _short_caps_deliberate(given + family)
    given = _recase(given, given=True, keep_short_caps=keep_short_caps)
    family = _recase(family, given=False, keep_short_caps=keep_short_caps)
    first_name = " ".join(given) if first else (given[0] if given else None)
    return {
        "first_name": _clip("first_name", first_name, NAME_MAX_CHARS, problems),
        "last_name": _clip("last_name", " ".join(family) or None, NAME_MAX_CHARS, problems),
        "full_name": _clip(
            "full_name", " ".join(given + family) or None, FULL_NAME_MAX_CHARS, problems
        ),
    }


# Title, company, place -----------------------------------------------------------------------

_TITLE_EDGE: Final = " \t,;:.!?-–—_*•·|/\\\"'`“”‘’~#"
_OPEN, _CLOSE = "([{", ")]}"


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _clean_title(value: Any, problems: list[Problem]) -> str | None:
    """Job title with whitespace collapsed and surrounding punctuation or brackets removed."""
    text = _clip("title", _collapse(value), FIELD_MAX_CHARS, problems) or ""
    while text:
        before = text
        text = text.strip(_TITLE_EDGE)
        if not text:
            break
        if text[:1] in _OPEN and text[-1:] in _CLOSE and _balanced(text[1:-1]):
            text = text[1:-1]
        elif text[:1] in _OPEN and not _balanced(text):
            text = text[1:]
        elif text[-1:] in _CLOSE and not _balanced(text):
            text = text[:-1]
        if text == before:
            break
    if not text or text.casefold() in _PLACEHOLDERS:
        return None
    return text


# Phone and time ------------------------------------------------------------------------------


def parse_phone(value: str, region: str | None = None) -> tuple[str, str | None] | None:
    """(E.164 number, its country) of a valid phone number, `region` hinting national numbers.

    `("(415) 555-2671", "US")` → `("+14155552671", "US")`; None when it is not a valid number.
    """
    text = value.strip()
    if not text or len(text) > PHONE_MAX_CHARS:
        return None
    return _parse_phone(text, region)


@functools.lru_cache(maxsize=4096)
def _parse_phone(text: str, region: str | None) -> tuple[str, str | None] | None:
    if text.lower().startswith("tel:"):
        text = text[4:]
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if (
        region
        and number.country_code == phonenumbers.country_code_for_region(region)
        and phonenumbers.is_valid_number_for_region(number, region)
    ):
        country: str | None = region
    else:
        country = phonenumbers.region_code_for_number(number)
        if country is None or not phonenumbers.is_valid_number_for_region(number, country):
            return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, country if country in COUNTRY_REGION else None


_TIME_MIN: Final = datetime(2000, 1, 1, tzinfo=UTC)
_TIME_MAX: Final = datetime(2100, 1, 1, tzinfo=UTC)
_NUMERIC = re.compile(r"[+-]?\d+(?:\.\d+)?")


def _from_epoch(value: float | str) -> datetime | None:
    """A Unix time in seconds, milliseconds, microseconds or nanoseconds."""
    try:
        seconds = float(value)
        for _ in range(3):
            if abs(seconds) < 1e11:
                break
            seconds /= 1000
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _from_text(text: str) -> datetime | None:
    """An ISO-8601 date or date-time (naive means UTC), or an RFC 2822 date."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def parse_timestamp(value: Any) -> str | None:
    """ISO-8601 UTC form of an ISO string or a Unix time (s, ms, µs); None when neither.

    Times before 2000 or from 2100 on are not taken as a submission time.
    """
    moment: datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = _from_epoch(value)
    elif isinstance(value, str):
        text = value.strip()
        if _NUMERIC.fullmatch(text) and not (len(text) == 8 and text.isdigit()):
            moment = _from_epoch(text)
        elif text:
            moment = _from_text(text)
    if moment is None or not _TIME_MIN <= moment < _TIME_MAX:
        return None
    return moment.isoformat()


def _object(payload: dict[str, Any], field: str, problems: list[Problem]) -> dict[str, Any]:
    value = payload.get(field)
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    problems.append({"field": field, "problem": f"expected an object, got {type(value).__name__}"})
    return {}


# Entry point ---------------------------------------------------------------------------------


def normalize_lead(payload: dict[str, Any]) -> tuple[Lead, list[Problem]]:
    """The normalized lead (exactly the keys of `LEAD_KEYS`) and the non-fatal problems found.

    Country comes from the form; when the form has none it is inferred from the phone's
    country code, else from the email domain's country-code TLD (`country_source` says which).
    """
    if not isinstance(payload, dict):
        payload = {}
    problems: list[Problem] = []
    lead, tld_country = _email_fields(payload.get("email"), problems)

    raw_website = payload.get("website")
    lead["website_domain"] = website_domain(raw_website)
    if lead["website_domain"] is None and _collapse(raw_website) is not None:
        problems.append({"field": "website", "problem": f"no domain in {_shown(raw_website)}"})

    lead.update(_name_fields(payload, problems))
    lead["company"] = _field_text(payload, "company", problems, strip="\"'“”")
    lead["title"] = _clean_title(payload.get("title"), problems)

    raw_country = _field_text(payload, "country", problems)
    country = country_code(raw_country)
    country_source = "form" if country else None
    if raw_country and not country:
        problems.append({"field": "country", "problem": f"unknown country {_shown(raw_country)}"})

    phone = None
    raw_phone = _collapse(payload.get("phone"))
    if raw_phone:
        hint = country or (None if raw_country else tld_country)
        parsed = parse_phone(raw_phone, hint)
        if parsed is None and hint and not country:
            parsed = parse_phone(raw_phone, None)
        if parsed is None:
            where = f" for {hint}" if hint else ""
            problems.append(
                {
                    "field": "phone",
                    "problem": f"not a valid phone number{where}: {_shown(raw_phone)}",
                }
            )
        else:
            phone = parsed[0]
            if not raw_country and parsed[1]:
                country, country_source = parsed[1], "phone"
    if not country and not raw_country and tld_country:
        country, country_source = tld_country, "email_tld"

    lead["phone"] = phone
    lead["country"] = country
    lead["country_source"] = country_source
    lead["region"] = region_for(country)
    lead["state"] = _field_text(payload, "state", problems, strip=",;:")
    lead["city"] = _field_text(payload, "city", problems, strip=",;:")

    message = _text(payload.get("message"))
    message = message.replace("\r\n", "\n").strip() if message else None
    lead["message"] = _clip("message", message or None, MESSAGE_MAX_CHARS, problems)
    lead["source"] = _field_text(payload, "source", problems)
    lead["form_id"] = _field_text(payload, "form_id", problems)

    raw_submitted = payload.get("submitted_at")
    lead["submitted_at"] = parse_timestamp(raw_submitted)
    if lead["submitted_at"] is None and raw_submitted not in (None, ""):
        problems.append(
            {"field": "submitted_at", "problem": f"not a timestamp: {_shown(raw_submitted)}"}
        )

    lead["utm"] = _object(payload, "utm", problems)
    lead["consent"] = _object(payload, "consent", problems)
    lead["properties"] = _object(payload, "properties", problems)
    return cast(Lead, lead), problems
