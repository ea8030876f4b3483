"""Unit tests for lead normalization (domain/normalize.py) and regions (domain/regions.py)."""

from __future__ import annotations

import copy
import json
import re
import socket
import time
from typing import Any

import pycountry
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import normalize
from domain.normalize import (
    LEAD_KEYS,
    MESSAGE_MAX_CHARS,
    disposable_domains,
    free_mail_domains,
    is_disposable,
    is_free_mail,
    is_role_address,
    normalize_lead,
    parse_phone,
    parse_timestamp,
    registrable_domain,
    website_domain,
)
from domain.regions import COUNTRY_REGION, REGIONS, country_code, region_for
from tests.strategies import PAYLOAD_FIELDS


def lead_of(**payload: Any) -> dict[str, Any]:
    return normalize_lead(payload)[0]


def problems_of(**payload: Any) -> list[dict[str, str]]:
    return normalize_lead(payload)[1]


def fields_with_problems(**payload: Any) -> list[str]:
    return [problem["field"] for problem in problems_of(**payload)]


# Shape ---------------------------------------------------------------------------------------


def test_empty_payload_returns_every_documented_key() -> None:
    """An empty payload still yields every lead key, empty, and no problems."""
    lead, problems = normalize_lead({})
    assert set(lead) == set(LEAD_KEYS)
    assert problems == []
    assert lead["free_mail"] is False and lead["disposable"] is False
    assert lead["utm"] == {} and lead["consent"] == {} and lead["properties"] == {}


def test_payload_is_not_mutated() -> None:
    """Normalizing leaves the caller's payload untouched."""
    payload = {"email": " A@Acme.com ", "utm": {"source": "google"}, "full_name": "SMITH, JO"}
    before = copy.deepcopy(payload)
    normalize_lead(payload)
    assert payload == before


def test_same_payload_gives_same_result() -> None:
    """Normalization is deterministic."""
    payload = {"email": "jo@acme.de", "phone": "030 901820", "full_name": "jo VAN DIJK"}
    assert normalize_lead(payload) == normalize_lead(dict(payload))


def test_lead_is_json_serializable() -> None:
    """The lead can be stored as JSON as it is."""
    lead = lead_of(email="jo@acme.com", submitted_at=1767225600, utm={"source": "x"})
    assert json.loads(json.dumps(lead)) == lead


# Email ---------------------------------------------------------------------------------------


def test_email_is_stripped_and_lower_cased() -> None:
    """Whitespace is stripped and the address lower-cased."""
    assert lead_of(email="  Jane.Doe@ACME.com \n")["email"] == "jane.doe@acme.com"


def test_email_is_split_into_local_part_and_domain() -> None:
    """The local part and the full email domain are kept separately."""
    lead = lead_of(email="jane.doe+demo@Mail.Acme.com")
    assert (lead["email_local"], lead["email_domain"]) == ("jane.doe+demo", "mail.acme.com")


def test_display_name_and_mailto_prefix_are_removed() -> None:
    """`Name <addr>` and `mailto:` forms yield the bare address."""
    assert lead_of(email="Jane Doe <Jane@Acme.com>")["email"] == "jane@acme.com"
    assert lead_of(email="mailto:jane@acme.com?subject=hi")["email"] == "jane@acme.com"


def test_trailing_dot_of_email_domain_is_dropped() -> None:
    """A fully-qualified `acme.com.` domain is the same as `acme.com`."""
    lead = lead_of(email="jane@acme.com.")
    assert (lead["email"], lead["domain"]) == ("jane@acme.com", "acme.com")


@pytest.mark.parametrize("value", ["jane", "jane@", "@acme.com", "jane@acme", "ja ne@acme.com"])
def test_invalid_email_is_none_with_a_problem(value: str) -> None:
    """Something that is not an address gives no email fields and an email problem."""
    lead, problems = normalize_lead({"email": value})
    assert lead["email"] is None and lead["domain"] is None and lead["email_domain"] is None
    assert [p["field"] for p in problems] == ["email"]


def test_missing_email_is_not_a_problem() -> None:
    """No email at all is left to the API's validation, not reported here."""
    assert fields_with_problems(first_name="Jo") == []


# Registrable domains -------------------------------------------------------------------------


def test_domain_of_a_co_uk_subdomain_is_registrable_domain() -> None:
    """`mail.eu.acme.co.uk` belongs to `acme.co.uk` under the Public Suffix List."""
    assert lead_of(email="jo@mail.eu.acme.co.uk")["domain"] == "acme.co.uk"


def test_domain_under_com_au_is_registrable_domain() -> None:
    """Two-label public suffixes such as `.com.au` are respected."""
    assert lead_of(email="jo@sydney.acme.com.au")["domain"] == "acme.com.au"


def test_domain_of_a_plain_com_subdomain() -> None:
    """A subdomain of a `.com` domain maps to the `.com` domain."""
    assert lead_of(email="jo@us.sales.acme.com")["domain"] == "acme.com"


def test_email_domain_without_public_suffix_is_a_problem() -> None:
    """An internal domain keeps the address but has no registrable domain."""
    lead, problems = normalize_lead({"email": "jo@acme.internal"})
    assert lead["email"] == "jo@acme.internal" and lead["domain"] is None
    assert problems[0]["field"] == "email"


@pytest.mark.parametrize(
    ("website", "expected"),
    [
        ("https://www.acme.com/path", "acme.com"),
        ("acme.com", "acme.com"),
        ("WWW.ACME.COM", "acme.com"),
        ("http://shop.acme.co.uk:8080/a?b=c", "acme.co.uk"),
        ("//acme.com.au/", "acme.com.au"),
        ("  www.acme.io  ", "acme.io"),
    ],
)
def test_website_domain_accepts_urls_hosts_and_bare_domains(website: str, expected: str) -> None:
    """The website's registrable domain is found in URLs, hosts and bare domains."""
    assert lead_of(website=website)["website_domain"] == expected


@pytest.mark.parametrize("website", ["localhost", "not a website", "http://[::1", "https://"])
def test_website_without_a_domain_is_a_problem(website: str) -> None:
    """A website with no registrable domain gives None and a website problem."""
    lead, problems = normalize_lead({"website": website})
    assert lead["website_domain"] is None
    assert [p["field"] for p in problems] == ["website"]


def test_registrable_domain_helper_rejects_malformed_hosts() -> None:
    """The helper returns None for empty, spaced or suffix-less hosts."""
    assert registrable_domain("EU.Acme.CO.UK.") == "acme.co.uk"
    assert [registrable_domain(v) for v in (None, "", "a b.com", "localhost")] == [None] * 4


def test_registrable_domain_takes_urls_emails_and_ports_alike() -> None:
    """One contract for the lead's domain and the accounts': a URL, an email or host:port."""
    given = ("https://www.acme.co.uk/x", "jo@EU.Acme.co.uk", "acme.co.uk:443", "acme.co.uk/about")
    assert {registrable_domain(v) for v in given} == {"acme.co.uk"}


def _tldextract_registrable(host: str) -> str | None:
    """The registrable domain tldextract itself gives for a host (the slow path)."""
    found = normalize._extractor().extract_str(host)
    return f"{found.domain}.{found.suffix}" if found.domain and found.suffix else None


def test_registrable_domain_agrees_with_tldextract_on_every_rule() -> None:
    """The direct suffix lookup gives tldextract's answer for hosts made from every public
    suffix rule, wildcards (`*.ck`) and exceptions (`!www.ck`) included, with subdomains."""
    hosts = {"www.ck", "a.www.ck", "foo.ck", "city.kawasaki.jp", "x.city.kawasaki.jp", "1.2.3.4"}
    for rule in normalize._extractor().tlds:
        base = rule.replace("*", "x").lstrip("!")
        hosts.update(prefix + base for prefix in ("", "a.", "b.a.", "www."))
    plain = sorted(h for h in hosts if h.isascii() and "xn--" not in h)
    assert len(plain) > 20_000
    assert [registrable_domain(h) for h in plain] == [_tldextract_registrable(h) for h in plain]


@pytest.mark.parametrize(
    "url",
    [
        "https://www.acme.co.uk/x",
        "http://acme.com?x=1",
        "https://acme.com#top",
        "https://acme.com:443/",
        "https://jo@acme.com/",
        "https://acme.com\n/x",
        "https:///x",
        "https://www.acme.com./",
        "https://[::1]/",
        "https://xn--bcher-kva.de/",
    ],
)
def test_registrable_domain_of_a_url_is_that_of_its_urlsplit_host(url: str) -> None:
    """The quick read of a plain http(s) URL's host agrees with `urlsplit`'s."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").rstrip(".")
    assert registrable_domain(url) == (registrable_domain(host) if host else None)


def test_registrable_domain_rejects_empty_labels_and_leading_hyphens() -> None:
    """`a..b.com` and `-acme.com` are not hostnames, so they have no registrable domain."""
    assert [registrable_domain(v) for v in ("a..b.com", "-acme.com", "https://www.htp")] == [
        None
    ] * 3


def test_website_domain_helper_handles_non_text() -> None:
    """Non-text website values have no domain."""
    assert website_domain(None) is None and website_domain(["acme.com"]) is None


def test_public_suffix_parser_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suffix parser is built from the bundled snapshot with no fetch and no cache dir."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(requests.Session, "send", refuse)
    normalize._extractor.cache_clear()
    normalize._split_host.cache_clear()
    extractor = normalize._extractor()
    assert extractor.suffix_list_urls == ()
    assert registrable_domain("mail.eu.acme.co.uk") == "acme.co.uk"


# Free mail, disposable, role addresses -------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "jo@gmail.com",
        "jo@GoogleMail.com",
        "jo@yahoo.co.uk",
        "jo@hotmail.fr",
        "jo@outlook.com",
        "jo@icloud.com",
        "jo@proton.me",
        "jo@gmx.de",
        "jo@web.de",
        "jo@orange.fr",
        "jo@qq.com",
        "jo@naver.com",
        "jo@uol.com.br",
        "jo@bigpond.com",
    ],
)
def test_free_mail_providers_are_flagged(email: str) -> None:
    """Addresses at consumer mailbox providers are free mail."""
    lead = lead_of(email=email)
    assert lead["free_mail"] is True and lead["disposable"] is False


def test_free_mail_matches_on_registrable_domain() -> None:
    """A subdomain of a listed provider is free mail too."""
    assert lead_of(email="jo@mail.yahoo.co.jp")["free_mail"] is True


def test_company_domain_is_not_free_mail() -> None:
    """A company's own domain is neither free nor disposable."""
    lead = lead_of(email="jo@acme.com")
    assert lead["free_mail"] is False and lead["disposable"] is False


def test_free_mail_is_not_a_problem() -> None:
    """Free mail is a flag for scoring, not an oddity."""
    assert fields_with_problems(email="jo@gmail.com") == []


@pytest.mark.parametrize(
    "email", ["x@mailinator.com", "x@guerrillamail.de", "x@10minutemail.com", "x@yopmail.com"]
)
def test_disposable_domains_are_flagged_with_a_problem(email: str) -> None:
    """Throwaway mailbox services are disposable and reported."""
    lead, problems = normalize_lead({"email": email})
    assert lead["disposable"] is True and lead["free_mail"] is False
    assert "disposable" in problems[0]["problem"]


def test_disposable_matches_on_full_email_domain() -> None:
    """A listed host under a non-listed registrable domain still matches."""
    lead = lead_of(email="x@cool.fr.nf")
    assert lead["domain"] == "fr.nf" and lead["disposable"] is True


def test_flag_helpers_check_domain_and_registrable_domain() -> None:
    """The public helpers accept an email domain and check both forms."""
    assert is_free_mail("mail.GMAIL.com") and is_disposable("inbox.mailinator.com")
    assert not is_free_mail("acme.com") and not is_disposable(None)


@pytest.mark.parametrize(
    "local",
    [
        "info",
        "sales",
        "admin",
        "support",
        "noreply",
        "no-reply",
        "hello",
        "contact",
        "office",
        "team",
        "Sales.EMEA",
        "info+web",
        "customer.service",
    ],
)
def test_role_addresses_are_flagged(local: str) -> None:
    """Shared mailboxes are role addresses."""
    assert lead_of(email=f"{local}@acme.com")["role_address"] is True


@pytest.mark.parametrize("local", ["jane.doe", "jsmith", "infosec.lead", "john.sales", "hellen"])
def test_personal_addresses_are_not_role_addresses(local: str) -> None:
    """Personal mailboxes, even ones containing a role word, are not role addresses."""
    assert is_role_address(local) is False


def test_role_address_is_reported() -> None:
    """A role address is a non-fatal problem on the email field."""
    problems = problems_of(email="sales@acme.com")
    assert problems == [{"field": "email", "problem": "role address 'sales', not a person"}]


def test_domain_lists_are_loaded_from_the_package_data_dir() -> None:
    """Both lists load from graph/data next to the module and are realistic in size."""
    assert normalize.DATA_DIR.parent == normalize.Path(normalize.__file__).resolve().parent
    assert len(free_mail_domains()) >= 140 and len(disposable_domains()) >= 140
    assert not free_mail_domains() & disposable_domains()


def test_domain_list_entries_are_lower_case_domains() -> None:
    """Every list entry is a lower-case domain with a dot."""
    pattern = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")
    for entry in free_mail_domains() | disposable_domains():
        assert pattern.fullmatch(entry), entry


# Names ---------------------------------------------------------------------------------------


def test_first_and_last_names_are_cleaned_and_joined() -> None:
    """First and last name are stripped, title-cased when shouted, and joined for full_name."""
    lead = lead_of(first_name="  jane ", last_name="DOE")
    assert (lead["first_name"], lead["last_name"], lead["full_name"]) == ("Jane", "Doe", "Jane Doe")


def test_full_name_is_split_into_first_and_last() -> None:
    """A full name alone is split into first and last name."""
    lead = lead_of(full_name="Jane Doe")
    assert (lead["first_name"], lead["last_name"]) == ("Jane", "Doe")


def test_last_comma_first_is_reordered() -> None:
    """`Last, First` is understood and written first-name first."""
    lead = lead_of(full_name="Doe, Jane")
    assert (lead["first_name"], lead["last_name"], lead["full_name"]) == ("Jane", "Doe", "Jane Doe")


def test_all_caps_name_is_title_cased() -> None:
    """A name typed in capitals is title-cased."""
    assert lead_of(full_name="JANE DOE")["full_name"] == "Jane Doe"


def test_all_lower_name_is_title_cased() -> None:
    """A name typed in lower case is title-cased."""
    assert lead_of(full_name="jane doe")["full_name"] == "Jane Doe"


def test_dutch_particles_stay_lower_case_and_with_the_surname() -> None:
    """`van der` stays lower-case and belongs to the last name."""
    lead = lead_of(full_name="JAN VAN DER BERG")
    assert (lead["first_name"], lead["last_name"]) == ("Jan", "van der Berg")


def test_romance_particles_stay_with_the_surname() -> None:
    """`de la` is kept lower-case as part of the last name."""
    lead = lead_of(full_name="maria de la cruz")
    assert (lead["first_name"], lead["last_name"]) == ("Maria", "de la Cruz")


def test_particle_in_last_name_field_is_lower_case() -> None:
    """A last name given with its particle keeps the particle lower-case."""
    assert lead_of(first_name="LUDWIG", last_name="VAN BEETHOVEN")["last_name"] == "van Beethoven"


def test_apostrophe_names_are_capitalized_on_both_sides() -> None:
    """`O'BRIEN` becomes `O'Brien`."""
    assert lead_of(full_name="SEAN O'BRIEN")["last_name"] == "O'Brien"


def test_mc_and_mac_names_keep_their_inner_capital() -> None:
    """`mcdonald` and `MACLEOD` become `McDonald` and `MacLeod`."""
    assert lead_of(full_name="mary mcdonald")["last_name"] == "McDonald"
    assert lead_of(full_name="IAN MACLEOD")["last_name"] == "MacLeod"


def test_ordinary_mac_prefix_is_not_split() -> None:
    """Names that merely start with "mac" are capitalized normally."""
    assert lead_of(full_name="ana MACHADO")["last_name"] == "Machado"


def test_hyphenated_names_capitalize_each_part() -> None:
    """Each part of a hyphenated name is capitalized."""
    assert lead_of(full_name="JEAN-CLAUDE SMITH-JONES")["full_name"] == "Jean-Claude Smith-Jones"


def test_mixed_case_names_are_kept_as_typed() -> None:
    """A name already in mixed case is trusted."""
    assert lead_of(full_name="DeShawn McKenzie-Smith")["full_name"] == "DeShawn McKenzie-Smith"


def test_single_token_is_a_first_name() -> None:
    """A one-word name is the first name, with no last name."""
    lead = lead_of(full_name="cher")
    assert (lead["first_name"], lead["last_name"], lead["full_name"]) == ("Cher", None, "Cher")


def test_middle_names_stay_in_full_name_only() -> None:
    """Middle names are kept in full_name while first_name is the first given name."""
    lead = lead_of(full_name="John Michael Smith")
    assert (lead["first_name"], lead["last_name"]) == ("John", "Smith")
    assert lead["full_name"] == "John Michael Smith"


def test_honorifics_and_credentials_are_dropped() -> None:
    """`Dr.` and `PhD` are not part of the name."""
    lead = lead_of(full_name="Dr. Jane Doe, PhD")
    assert (lead["first_name"], lead["last_name"], lead["full_name"]) == ("Jane", "Doe", "Jane Doe")


def test_honorific_and_credential_in_separate_fields_are_dropped() -> None:
    """`Dr.` in first_name and `, MBA` in last_name are not part of the name."""
    lead = lead_of(first_name="Dr. Jane", last_name="Doe, MBA")
    assert (lead["first_name"], lead["last_name"]) == ("Jane", "Doe")


def test_generational_suffix_stays_with_the_last_name() -> None:
    """`Jr.` is kept at the end of the last name."""
    lead = lead_of(full_name="MARTIN LUTHER KING JR")
    assert (lead["first_name"], lead["last_name"]) == ("Martin", "King Jr.")


def test_full_name_typed_into_first_name_is_split() -> None:
    """A whole name in first_name with no last name is split."""
    lead = lead_of(first_name="Jane Doe")
    assert (lead["first_name"], lead["last_name"]) == ("Jane", "Doe")


def test_initials_with_dots_are_capitalized() -> None:
    """Each initial in `J.R.R.` is capitalized."""
    assert lead_of(full_name="j.r.r. TOLKIEN")["full_name"] == "J.R.R. Tolkien"


def test_two_letter_initials_in_capitals_are_kept() -> None:
    """Deliberate capitals like `JJ` survive when the rest of the name is mixed case."""
    assert lead_of(first_name="JJ", last_name="Abrams")["full_name"] == "JJ Abrams"


def test_last_name_fills_from_full_name_when_missing() -> None:
    """Given first_name and full_name, last_name comes from full_name."""
    lead = lead_of(first_name="Jane", full_name="Jane Doe")
    assert (lead["first_name"], lead["last_name"]) == ("Jane", "Doe")


# Company, title, place, message --------------------------------------------------------------


def test_company_whitespace_is_collapsed_and_casing_kept() -> None:
    """Company names are trimmed and collapsed but otherwise untouched."""
    assert lead_of(company="  ACME   Holdings,\tInc. ")["company"] == "ACME Holdings, Inc."


def test_company_is_never_invented_from_the_domain() -> None:
    """No company field means no company, whatever the email domain."""
    assert lead_of(email="jo@acme.com")["company"] is None


def test_placeholder_company_is_dropped() -> None:
    """`N/A` and similar placeholders are no company."""
    assert lead_of(company=" n/a ")["company"] is None


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("  - VP,   Sales. ", "VP, Sales"),
        ("(CTO)", "CTO"),
        ('"Head of Growth"', "Head of Growth"),
        ("Head of Sales (EMEA)", "Head of Sales (EMEA)"),
        ("vp of MARKETING", "vp of MARKETING"),
        ("• Director, R&D |", "Director, R&D"),
    ],
)
def test_title_is_cleaned_and_casing_kept(title: str, expected: str) -> None:
    """Titles lose surrounding punctuation and extra spaces, not their casing."""
    assert lead_of(title=title)["title"] == expected


def test_state_and_city_are_cleaned() -> None:
    """State and city are trimmed and collapsed."""
    lead = lead_of(state=" CA ", city="  San   Francisco, ")
    assert (lead["state"], lead["city"]) == ("CA", "San Francisco")


def test_message_is_stripped() -> None:
    """The message keeps its text without surrounding whitespace."""
    assert lead_of(message="\n  Need pricing for 40 seats.  \r\n")["message"] == (
        "Need pricing for 40 seats."
    )


def test_long_message_is_truncated_with_a_problem() -> None:
    """Messages longer than 5,000 characters are cut and reported."""
    lead, problems = normalize_lead({"message": "x" * (MESSAGE_MAX_CHARS + 10)})
    assert len(lead["message"]) == MESSAGE_MAX_CHARS
    assert [p["field"] for p in problems] == ["message"]


def test_nul_characters_are_removed_from_text() -> None:
    """NUL characters, which databases reject, are dropped."""
    assert lead_of(company="Ac\x00me")["company"] == "Acme"


def test_source_and_form_id_pass_through_as_text() -> None:
    """source and form_id are kept; a numeric form id becomes text."""
    lead = lead_of(source=" hubspot ", form_id=1234)
    assert (lead["source"], lead["form_id"]) == ("hubspot", "1234")


def test_long_title_is_truncated_with_a_problem() -> None:
    """Titles are capped at 200 characters and the cut is reported."""
    lead, problems = normalize_lead({"title": "Chief " * 50})
    assert len(lead["title"]) <= 200
    assert [p["field"] for p in problems] == ["title"]


def test_hostile_long_values_are_bounded_and_fast() -> None:
    """Body-sized values in every text field are cut, reported and processed quickly."""
    size = 60_000
    payload = {
        "email": "a" * size + "@acme.com",
        "first_name": "a " * (size // 2),
        "last_name": "van " * (size // 4),
        "full_name": "Dr. " * (size // 4),
        "title": "(" * size,
        "company": "x" * size,
        "phone": "1" * size,
        "country": "y" * size,
        "website": "http://" + "a." * size + "com",
        "message": "z" * size,
    }
    started = time.perf_counter()
    lead, problems = normalize_lead(payload)
    assert time.perf_counter() - started < 1.0
    assert all(len(v) <= MESSAGE_MAX_CHARS for v in lead.values() if isinstance(v, str))
    assert {"email", "first_name", "title", "company", "phone", "message"} <= {
        p["field"] for p in problems
    }


# Phone ---------------------------------------------------------------------------------------


def test_us_national_phone_uses_country_as_region() -> None:
    """`(415) 555-2671` with country US becomes E.164."""
    assert lead_of(phone="(415) 555-2671", country="US")["phone"] == "+14155552671"


def test_international_phone_needs_no_country() -> None:
    """`+44 20 7946 0958` is parsed without a country."""
    assert lead_of(phone="+44 20 7946 0958")["phone"] == "+442079460958"


def test_german_national_phone_with_country_de() -> None:
    """`030 901820` with country DE becomes +4930901820."""
    assert lead_of(phone="030 901820", country="Deutschland")["phone"] == "+4930901820"


def test_double_zero_international_prefix() -> None:
    """A `00` international prefix is read as `+`."""
    assert lead_of(phone="0044 20 7946 0958", country="US")["phone"] == "+442079460958"


def test_phone_extension_is_dropped_from_e164() -> None:
    """E.164 has no extension; the number itself is kept."""
    assert lead_of(phone="+1 415-555-2671 ext. 42")["phone"] == "+14155552671"


@pytest.mark.parametrize("phone", ["junk", "12", "+44 20 7946", "555-555-555555555"])
def test_junk_phone_is_none_with_a_problem(phone: str) -> None:
    """Unparseable or invalid numbers give None and a phone problem."""
    lead, problems = normalize_lead({"phone": phone, "country": "US"})
    assert lead["phone"] is None
    assert [p["field"] for p in problems] == ["phone"]


def test_national_phone_without_any_country_hint_is_a_problem() -> None:
    """A national number with no country and a generic email domain cannot be placed."""
    lead, problems = normalize_lead({"phone": "(415) 555-2671", "email": "jo@acme.com"})
    assert lead["phone"] is None and problems[0]["field"] == "phone"


def test_parse_phone_helper_returns_number_and_country() -> None:
    """The helper gives the E.164 number and the number's own country."""
    assert parse_phone("+1 416 555 0199", "US") == ("+14165550199", "CA")
    assert parse_phone("not a phone", "US") is None


# Country and region --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("US", "US"),
        ("us", "US"),
        ("USA", "US"),
        ("U.S.", "US"),
        ("United States of America", "US"),
        ("UK", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("GBR", "GB"),
        ("Deutschland", "DE"),
        ("Germany", "DE"),
        ("España", "ES"),
        ("espana", "ES"),
        ("Brasil", "BR"),
        ("Holland", "NL"),
        ("The Netherlands", "NL"),
        ("Schweiz", "CH"),
        ("Österreich", "AT"),
        ("Korea, Republic of", "KR"),
        ("South Korea", "KR"),
        ("Viet Nam", "VN"),
        ("Côte d'Ivoire", "CI"),
        ("St. Lucia", "LC"),
        ("UAE", "AE"),
        ("日本", "JP"),
        ("Türkiye", "TR"),
        ("Germany (DE)", "DE"),
    ],
)
def test_country_codes_names_aliases_and_native_names(value: str, expected: str) -> None:
    """Codes, English names, aliases and native names map to alpha-2."""
    lead = lead_of(country=value)
    assert (lead["country"], lead["country_source"]) == (expected, "form")


def test_unknown_country_is_none_with_a_problem() -> None:
    """An unrecognised country gives None, no source, and a country problem."""
    lead, problems = normalize_lead({"country": "Narnia", "email": "jo@acme.de"})
    assert (lead["country"], lead["country_source"], lead["region"]) == (None, None, None)
    assert problems == [{"field": "country", "problem": "unknown country 'Narnia'"}]


def test_conflicting_country_parts_are_unknown() -> None:
    """A value naming a city and a country is not guessed at."""
    assert country_code("Berlin, Germany") is None


def test_country_is_inferred_from_phone_when_missing() -> None:
    """With no country on the form, the phone's country code decides."""
    lead = lead_of(phone="+44 20 7946 0958", email="jo@acme.com")
    assert (lead["country"], lead["country_source"]) == ("GB", "phone")


def test_form_country_wins_over_phone_country() -> None:
    """The country the lead typed is kept even when the phone is foreign."""
    lead = lead_of(phone="+44 20 7946 0958", country="Germany")
    assert (lead["country"], lead["country_source"]) == ("DE", "form")


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("jo@acme.de", "DE"),
        ("jo@eu.acme.co.uk", "GB"),
        ("jo@acme.com.au", "AU"),
        ("jo@acme.fr", "FR"),
        ("jo@acme.com.co", "CO"),
    ],
)
def test_country_is_inferred_from_email_cctld(email: str, expected: str) -> None:
    """With no country and no phone, a country-code TLD of the email decides."""
    lead = lead_of(email=email)
    assert (lead["country"], lead["country_source"]) == (expected, "email_tld")


@pytest.mark.parametrize("tld", ["io", "co", "ai", "me", "tv", "com", "eu", "org"])
def test_generic_and_vanity_tlds_say_nothing_about_country(tld: str) -> None:
    """.io, .co, .ai, .me, .tv and generic TLDs do not imply a country."""
    lead = lead_of(email=f"jo@acme.{tld}")
    assert (lead["country"], lead["country_source"]) == (None, None)


def test_email_cctld_is_the_phone_region_hint() -> None:
    """A national number is read in the email domain's country when the form has none."""
    lead = lead_of(email="jo@acme.de", phone="030 901820")
    assert (lead["phone"], lead["country"], lead["country_source"]) == (
        "+4930901820",
        "DE",
        "phone",
    )


def test_placeholder_country_counts_as_missing() -> None:
    """`N/A` in the country field lets inference run and is not reported."""
    lead, problems = normalize_lead({"country": "n/a", "email": "jo@acme.de"})
    assert (lead["country"], lead["country_source"], problems) == ("DE", "email_tld", [])


@pytest.mark.parametrize(
    ("country", "region"),
    [
        ("US", "NA"),
        ("CA", "NA"),
        ("PR", "NA"),
        ("DE", "EMEA"),
        ("AE", "EMEA"),
        ("ZA", "EMEA"),
        ("MX", "LATAM"),
        ("BR", "LATAM"),
        ("JM", "LATAM"),
        ("JP", "APAC"),
        ("IN", "APAC"),
        ("AU", "APAC"),
    ],
)
def test_region_comes_from_the_country(country: str, region: str) -> None:
    """Each country maps to its sales region."""
    assert lead_of(country=country)["region"] == region


def test_every_iso_country_has_a_region() -> None:
    """COUNTRY_REGION covers every ISO 3166-1 alpha-2 code with one of the four regions."""
    iso = {country.alpha_2 for country in pycountry.countries}
    assert iso <= set(COUNTRY_REGION)
    assert set(COUNTRY_REGION.values()) == set(REGIONS)


def test_region_for_accepts_codes_names_and_nothing() -> None:
    """region_for understands codes and names and returns None for unknowns."""
    assert [region_for(v) for v in ("de", "Germany", "Brasil", None, "", "Narnia")] == [
        "EMEA",
        "EMEA",
        "LATAM",
        None,
        None,
        None,
    ]


def test_every_iso_name_round_trips_through_country_code() -> None:
    """Each ISO short name and alpha-3 code resolves to its own alpha-2."""
    for country in pycountry.countries:
        assert country_code(country.name) == country.alpha_2, country.name
        assert country_code(country.alpha_3) == country.alpha_2, country.alpha_3


# Submission time -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00+00:00"),
        ("2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00+00:00"),
        ("2026-03-01 10:00:00", "2026-03-01T10:00:00+00:00"),
        ("2026-03-01", "2026-03-01T00:00:00+00:00"),
        (1772359200, "2026-03-01T10:00:00+00:00"),
        (1772359200000, "2026-03-01T10:00:00+00:00"),
        ("1772359200", "2026-03-01T10:00:00+00:00"),
        (1772359200.5, "2026-03-01T10:00:00.500000+00:00"),
    ],
)
def test_submitted_at_becomes_iso_utc(value: Any, expected: str) -> None:
    """ISO strings and Unix seconds or milliseconds become ISO-8601 UTC."""
    assert lead_of(submitted_at=value)["submitted_at"] == expected


@pytest.mark.parametrize("value", ["yesterday", "31/02/2026", True, -5, "0", 10**30])
def test_unparseable_submitted_at_is_none_with_a_problem(value: Any) -> None:
    """Junk timestamps give None and a submitted_at problem."""
    lead, problems = normalize_lead({"submitted_at": value})
    assert lead["submitted_at"] is None
    assert [p["field"] for p in problems] == ["submitted_at"]


def test_parse_timestamp_helper_ignores_missing_values() -> None:
    """The helper returns None for None and empty text."""
    assert parse_timestamp(None) is None and parse_timestamp("  ") is None


# Pass-through objects ------------------------------------------------------------------------


def test_utm_consent_and_properties_pass_through() -> None:
    """The three objects are copied through unchanged."""
    payload = {
        "utm": {"source": "google", "campaign": "q3"},
        "consent": {"email": True, "ts": "2026-03-01"},
        "properties": {"seats": 40, "plan": ["pro"]},
    }
    lead = lead_of(**payload)
    assert {key: lead[key] for key in payload} == payload


def test_non_object_utm_is_empty_with_a_problem() -> None:
    """A utm value that is not an object is dropped and reported."""
    lead, problems = normalize_lead({"utm": "google"})
    assert lead["utm"] == {}
    assert [p["field"] for p in problems] == ["utm"]


# Property ------------------------------------------------------------------------------------

_VALUES = st.one_of(
    st.text(),
    st.from_regex(r"[A-Za-z0-9.+_ -]{0,12}@[A-Za-z0-9.-]{0,20}", fullmatch=True),
    st.from_regex(r"[+0(]?[0-9 ()./-]{0,20}", fullmatch=True),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(st.sampled_from(PAYLOAD_FIELDS), st.text(max_size=12)), _VALUES))
def test_normalize_never_raises_and_returns_documented_keys(payload: dict[str, Any]) -> None:
    """For any payload of text (or other JSON) values the result has exactly the lead keys."""
    lead, problems = normalize_lead(payload)
    assert set(lead) == set(LEAD_KEYS)
    assert all(set(p) == {"field", "problem"} for p in problems)
    assert all(isinstance(p["field"], str) and isinstance(p["problem"], str) for p in problems)
    assert isinstance(lead["free_mail"], bool) and isinstance(lead["role_address"], bool)
    assert lead["country"] is None or lead["country"] in COUNTRY_REGION
    assert lead["region"] in (*REGIONS, None)
    json.dumps(lead)
