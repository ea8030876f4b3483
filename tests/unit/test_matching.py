"""Unit tests for lead-to-account matching (domain/matching.py) on small synthetic directories."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from domain.matching import DEFAULT_THRESHOLD, AccountIndex, name_key


def account(account_id: str, name: str, domain: str | None = None, **extra: Any) -> dict[str, Any]:
    """An account row shaped like those `tools.directory.load_accounts_csv` returns."""
    row: dict[str, Any] = {
        "account_id": account_id,
        "name": name,
        "domain": domain,
        "website": None,
        "owner_email": None,
        "industry": None,
        "employees": None,
        "country": None,
        "state": None,
        "city": None,
        "parent_account_id": None,
        "properties": {},
    }
    return {**row, **extra}


DIRECTORY = [
    account("1", "Acme Robotics, Inc.", "acmerobotics.com"),
    account("2", "Corvex Corporation", "corvex.com"),
    account("3", "Quintex Ltd", "quintex.co.uk"),
    account("4", "Halden & Brook", "hb.com"),
    account("5", "Société Générale S.A.", "societegenerale.fr"),
    account("6", "Hooli Technologies", "hooli.xyz", website="https://www.hooli.io/about"),
    account("7", "Northern Ledger Systems", "nls.com"),
    account("8", "Vandelay Industries", "vandelay.com"),
    account("9", "Umbrella Pharmaceuticals GmbH", "umbrella-pharma.de"),
    account("10", "Wonka Confectionery Holdings", "wonka.com"),
    account("11", "Vastmere Dynamic", "vastmeredynamic.com"),
    account("12", "Acme Foods", "acmefoods.com"),
    account("13", "Gringotts Wizarding Bank", "gringotts.co.uk"),
    account("14", "Ollivanders", "ollivanders.co.uk"),
]


@pytest.fixture(scope="module")
def index() -> AccountIndex:
    return AccountIndex(DIRECTORY)


def test_matches_on_email_domain(index: AccountIndex) -> None:
    """A corporate email at an account's domain matches it by email domain."""
    found = index.match(email_domain="jo@corvex.com")
    assert found is not None
    assert (found.account_id, found.method, found.matched_on) == ("2", "email_domain", "corvex.com")
    assert found.confidence >= 0.99


def test_matches_email_on_a_subdomain(index: AccountIndex) -> None:
    """A mailbox on a subdomain matches the account of its registrable domain."""
    found = index.match(email_domain="jo@eu.mail.corvex.com")
    assert found is not None and found.account_id == "2"


def test_matches_country_code_suffix(index: AccountIndex) -> None:
    """Under a two-level public suffix (.co.uk) the registrable domain is the company's."""
    found = index.match(email_domain="jo@sales.quintex.co.uk")
    assert found is not None and found.account_id == "3"


def test_a_public_suffix_alone_never_matches(index: AccountIndex) -> None:
    """Another company under .co.uk does not match the accounts that live under .co.uk."""
    assert index.match(email_domain="jo@cyberdyne.co.uk") is None


def test_matches_on_website(index: AccountIndex) -> None:
    """A website URL matches the account whose website it is, by website."""
    found = index.match(email_domain="jo@gmail.com", website_domain="https://hooli.io/jobs")
    assert found is not None
    assert (found.account_id, found.method) == ("6", "website")


def test_free_mail_domain_never_matches_by_domain() -> None:
    """A free-mail domain is never domain evidence, even if an account lists it."""
    index = AccountIndex([account("1", "Gmail Fan Club", "gmail.com")])
    assert index.match(email_domain="jo@gmail.com") is None


def test_disposable_domain_never_matches_by_domain() -> None:
    """A disposable-mail domain is never domain evidence, even if an account lists it."""
    index = AccountIndex([account("1", "Mailinator", "mailinator.com")])
    assert index.match(email_domain="jo@mailinator.com") is None


def test_own_domain_never_matches_by_domain(index: AccountIndex) -> None:
    """The team's own domain is never domain evidence."""
    assert index.match(email_domain="jo@corvex.com", own_domains=["corvex.com"]) is None


@pytest.mark.parametrize(
    ("typed", "account_id"),
    [
        ("ACME ROBOTICS", "1"),
        ("Acme Robotics LLC", "1"),
        ("The Acme Robotics Company", "1"),
        ("acme-robotics", "1"),
        ("Acme Robotics N.V.", "1"),
        ("Halden and Brook", "4"),
        ("Societe Generale", "5"),
        ("SOCIÉTÉ GÉNÉRALE", "5"),
        ("Umbrella Pharmaceuticals", "9"),
        ("Umbrella Pharmaceuticals B.V.", "9"),
        ("Wonka Confectionary Holdings", "10"),
    ],
)
def test_name_variants_match(index: AccountIndex, typed: str, account_id: str) -> None:
    """Legal suffix, case, punctuation, `The`, `&`/`and`, accents and a typo still match."""
    found = index.match(email_domain="jo@gmail.com", company_name=typed)
    assert found is not None
    assert found.account_id == account_id
    assert found.method in ("name_exact", "name_fuzzy")
    assert found.confidence >= DEFAULT_THRESHOLD


def test_normalized_name_drops_legal_forms_and_punctuation() -> None:
    """Normalization gives one key for the spellings of one legal entity."""
    keys = {
        name_key(name)
        for name in ("Azora Nobel N.V.", "AZORA NOBEL NV", "Azora Nobel, N. V.", "azora nobel")
    }
    assert keys == {"azora nobel"}


def test_one_character_typo_in_a_long_name_matches_fuzzily(index: AccountIndex) -> None:
    """A one-letter slip in a long word matches by fuzzy name."""
    found = index.match(company_name="Gringotts Wizardng Bank")
    assert found is not None
    assert (found.account_id, found.method) == ("13", "name_fuzzy")


def test_initialism_alone_stays_below_threshold() -> None:
    """Initials that nothing corroborates are weak evidence: the matcher abstains."""
    index = AccountIndex([account("1", "Worldwide Widget Works", "widgetworks.com")])
    assert index.match(email_domain="jo@gmail.com", company_name="WWW") is None
    scored = index.candidates("WWW")
    assert scored and scored[0].method == "name_initialism"
    assert scored[0].confidence < DEFAULT_THRESHOLD


def test_initialism_corroborated_by_the_account_domain_matches(index: AccountIndex) -> None:
    """Initials that are also the account's domain label (nls.com) match by initialism."""
    found = index.match(email_domain="jo@gmail.com", company_name="NLS")
    assert found is not None
    assert (found.account_id, found.method) == ("7", "name_initialism")


def test_initialism_corroborated_by_the_lead_domain_matches() -> None:
    """Initials typed from a domain with the account's label (a country site) match."""
    index = AccountIndex([account("1", "Worldwide Widget Works", "widgetworks.com")])
    found = index.match(email_domain="jo@widgetworks.de", company_name="WWW")
    assert found is not None
    assert (found.account_id, found.method) == ("1", "name_initialism")


def test_abstains_on_another_company_with_a_similar_name() -> None:
    """`Acme Robotics` typed against a directory that only knows Acme Foods: no match."""
    index = AccountIndex([row for row in DIRECTORY if row["account_id"] != "1"])
    assert index.match(email_domain="jo@gmail.com", company_name="Acme Robotics") is None


def test_abstains_on_a_name_sharing_one_word_with_two_accounts(index: AccountIndex) -> None:
    """`Acme Widgets` is neither Acme Robotics nor Acme Foods: no match."""
    assert index.match(email_domain="jo@gmail.com", company_name="Acme Widgets") is None


def test_abstains_between_two_unrelated_accounts_of_one_name() -> None:
    """Two unrelated accounts called the same are ambiguous: no guess."""
    index = AccountIndex(
        [account("1", "Atlas", "atlas-one.com"), account("2", "Atlas Inc", "atlas-two.io")]
    )
    assert index.match(email_domain="jo@gmail.com", company_name="Atlas") is None


def test_unknown_corporate_domain_contradicts_a_name_match(index: AccountIndex) -> None:
    """A mailbox at a domain unlike the account's vetoes a match on the typed name alone."""
    assert index.match(email_domain="jo@zeta-labs.io", company_name="Corvex") is None


def test_country_domain_with_the_account_label_keeps_a_name_match(index: AccountIndex) -> None:
    """The same domain label under another suffix (corvex.de) agrees with the name match."""
    found = index.match(email_domain="jo@corvex.de", company_name="Corvex GmbH")
    assert found is not None and found.account_id == "2"


def test_domain_wins_over_a_disagreeing_typed_name(index: AccountIndex) -> None:
    """Email at one account and a typed name of another: the domain wins, with less confidence."""
    found = index.match(email_domain="jo@corvex.com", company_name="Vandelay Industries")
    assert found is not None
    assert (found.account_id, found.method) == ("2", "email_domain")
    assert found.confidence < 0.99
    assert "8" in {candidate.account_id for candidate in found.candidates}
    assert found.notes


def test_tie_break_prefers_the_account_with_an_owner() -> None:
    """Accounts sharing a domain: the one with an owner wins."""
    index = AccountIndex(
        [
            account("1", "Acme", "acme.com"),
            account("2", "Acme", "acme.com", owner_email="ana@example.com"),
        ]
    )
    found = index.match(email_domain="jo@acme.com")
    assert found is not None
    assert (found.account_id, found.tie_break) == ("2", "owner")


def test_tie_break_prefers_the_parent_account() -> None:
    """Accounts sharing a domain, none owned: the parent of the other wins."""
    index = AccountIndex(
        [
            account("1", "Acme EMEA", "acme.com", parent_account_id="2"),
            account("2", "Acme", "acme.com"),
        ]
    )
    found = index.match(email_domain="jo@acme.com")
    assert found is not None
    assert (found.account_id, found.tie_break) == ("2", "parent")


def test_tie_break_falls_back_to_the_lowest_account_id() -> None:
    """Accounts sharing a domain with nothing else to tell them apart: the lowest id wins."""
    index = AccountIndex([account("10", "Acme", "acme.com"), account("9", "Acme", "acme.com")])
    found = index.match(email_domain="jo@acme.com")
    assert found is not None
    assert (found.account_id, found.tie_break) == ("9", "lowest_id")


def test_owner_rule_comes_before_the_parent_rule() -> None:
    """An owned child beats an unowned parent."""
    index = AccountIndex(
        [
            account("1", "Acme", "acme.com"),
            account("2", "Acme EMEA", "acme.com", parent_account_id="1", owner_email="a@x.com"),
        ]
    )
    found = index.match(email_domain="jo@acme.com")
    assert found is not None
    assert (found.account_id, found.tie_break) == ("2", "owner")


def test_match_serializes_to_json(index: AccountIndex) -> None:
    """The match record fits in the JSON lead state."""
    found = index.match(email_domain="jo@gmail.com", company_name="Vastmere Dynamic Inc")
    assert found is not None
    record = json.loads(json.dumps(found.as_dict()))
    assert record["account_id"] == "11"
    assert record["candidates"][0]["account_id"] == "11"


def _generated_directory(size: int) -> list[dict[str, Any]]:
    """A deterministic directory of made-up company names over a shared vocabulary."""
    rng = random.Random(7)
    syllables = ("ka", "lo", "mi", "ra", "ve", "zen", "qua", "dor", "bel", "tri", "gon", "vex")
    words = ("Labs", "Systems", "Health", "Capital", "Foods", "Robotics", "Analytics", "Cloud")
    rows = []
    for number in range(size):
        brand = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))).capitalize()
        name = f"{brand} {rng.choice(words)}" if rng.random() < 0.6 else brand
        rows.append(account(str(number), name, f"{brand.lower()}{number}.com"))
    return rows


def test_candidate_block_is_small_on_a_large_directory() -> None:
    """A typed name is scored against a small block, not the whole 5,000-account directory."""
    rows = _generated_directory(5000)
    index = AccountIndex(rows)
    target = next(row for row in rows if len(row["name"].split()[0]) >= 10)
    typo = target["name"][:4] + target["name"][5:]
    scored = index.candidates(typo)
    assert scored, "the typed name found no candidates"
    assert len(scored) < 0.02 * len(index)
    found = index.match(email_domain="jo@gmail.com", company_name=target["name"])
    assert found is not None and found.block_size < 0.02 * len(index)


FORM_WORD_DIRECTORY = [
    account("1", "Koninklijke Vandermolen Electronics N.V."),
    account("2", "Pharmavera & Upton Groningen BV"),
    account("3", "TQMicroelectronics N.V."),
    account("4", "St. Aldric Medical Puerto Rico B.V."),
    account("5", "Kestrel Internationale Research Maatschappij B.V."),
    account("6", "Azora Nobel N.V."),
    account("7", "Brenck Patent GmbH"),
    account("8", "Brenck Sharp & Dohme B.V."),
]


@pytest.fixture(scope="module")
def form_index() -> AccountIndex:
    return AccountIndex(FORM_WORD_DIRECTORY)


def test_form_words_weigh_little_and_are_not_the_brand(form_index: AccountIndex) -> None:
    """`Koninklijke` (Royal) is a form word: leaving it out costs little, and the brand is
    the next word."""
    found = form_index.match(company_name="VANDERMOLEN ELECTRONICS N V")
    assert found is not None and found.account_id == "1"
    assert found.confidence >= 0.85
    abbreviated = form_index.match(company_name="KONINKL VANDERMOLEN ELECTRONICS")
    assert abbreviated is not None and abbreviated.account_id == "1"
    assert abbreviated.confidence >= found.confidence


def test_a_typed_subset_holding_a_unique_brand_matches(form_index: AccountIndex) -> None:
    """Every typed word in one account's name, its brand used by no other account: the words
    left out count half, so the short form matches."""
    found = form_index.match(company_name="Pharmavera")
    assert found is not None and found.account_id == "2"


def test_an_extra_typed_word_gets_no_omitted_word_discount(form_index: AccountIndex) -> None:
    """A typed word the account lacks (`Kestrel Canada`, often another legal entity) keeps
    the plain overlap score, below the threshold."""
    assert form_index.match(company_name="Kestrel Canada") is None
    assert form_index.match(company_name="Pharmavera Foods") is None


def test_a_shared_brand_gets_no_omitted_word_discount(form_index: AccountIndex) -> None:
    """A brand two accounts use (`Brenck`) does not pick either when typed alone."""
    assert form_index.match(company_name="Brenck") is None


def test_two_words_are_joined_in_either_order(form_index: AccountIndex) -> None:
    """Word-sorted sources write `TQ Microelectronics` as `MICROELECTRONICS TQ`."""
    found = form_index.match(company_name="MICROELECTRONICS TQ")
    assert found is not None and found.account_id == "3"


SPELLING_DIRECTORY = [
    account("1", "Koninklijke Vandermolen Electronics N.V."),
    account("2", "Hunter Dalgety Industries B.V."),
    account("3", "Univela N.V."),
    account("4", "Quorvane Pharmaceuticals Inc."),
    account("5", "Quorvane Foods"),
    account("6", "Copia"),
    account("7", "Synder"),
    account("8", "Loop Torvick"),
    account("9", "Alcatra N.V."),
]


@pytest.fixture(scope="module")
def spelling_index() -> AccountIndex:
    return AccountIndex(SPELLING_DIRECTORY)


def test_words_spelt_as_they_sound_match(spelling_index: AccountIndex) -> None:
    """`Fandermolen Elektroniks` is a letter or two off each word; each sounds like the name's."""
    found = spelling_index.match(company_name="FANDERMOLEN ELEKTRONIKS")
    assert found is not None and found.account_id == "1"
    transliterated = spelling_index.match(company_name="EHLEKTRONIKS FANDERMOLEN")
    assert transliterated is not None and transliterated.account_id == "1"


def test_a_sound_alike_word_counts_no_more_than_a_typo(spelling_index: AccountIndex) -> None:
    """Short names that sound alike are usually two companies: `Kopia` is not `Copia`, and
    `Cinder` alone is not `Synder`."""
    assert spelling_index.match(company_name="Kopia") is None
    assert spelling_index.match(company_name="Cinder") is None
    assert spelling_index.match(company_name="Alkatra") is None


def test_an_abbreviation_dropping_letters_matches(spelling_index: AccountIndex) -> None:
    """`PHARMLS` keeps the first letters of `Pharmaceuticals` and drops some: it tells the two
    Quorvane accounts apart."""
    found = spelling_index.match(company_name="QUORVANE PHARMLS")
    assert found is not None and found.account_id == "4"


def test_a_run_on_name_splits_into_words_and_legal_forms(spelling_index: AccountIndex) -> None:
    """Several words and a legal form written as one, even when a fixed-width field cut the
    legal form short."""
    glued = spelling_index.match(company_name="UNIVELANV")
    assert glued is not None and glued.account_id == "3"
    cut = spelling_index.match(company_name="HUNTERDALGETYINDSB")
    assert cut is not None and cut.account_id == "2"


def test_a_plural_is_not_a_word_and_a_cut_legal_form(spelling_index: AccountIndex) -> None:
    """`Loops` is not `Loop` plus the start of a legal form such as `S.A.`."""
    assert spelling_index.match(company_name="Loops") is None


ALIAS_DIRECTORY = [
    account(
        "1",
        "Koninklijke Vandermolen Electronics N.V.",
        "vandermolen.com",
        aliases=["N.V. Vandermolen Gloeilampenfabrieken", "Vandermolen Electronics North America"],
    ),
    account("2", "Kestrel Internationale Research Maatschappij B.V.", "kestrel.com"),
    account("3", "Tarnwell Platforms", "tarnwell.com", aliases="Brightloom|Brightloom, Inc."),
    account("4", "Gloeilampen Fabriek Utrecht", "gfu.nl"),
]


@pytest.fixture(scope="module")
def alias_index() -> AccountIndex:
    return AccountIndex(ALIAS_DIRECTORY)


def test_a_former_name_matches_its_account(alias_index: AccountIndex) -> None:
    """A typed former name matches the account that lists it, and says which alias it used;
    without the alias the same name stays below the threshold."""
    found = alias_index.match(company_name="VANDERMOLEN GLOEILAMPENFABRIEKEN")
    assert found is not None and found.account_id == "1"
    assert found.alias == "N.V. Vandermolen Gloeilampenfabrieken"
    assert found.method == "name_exact"
    variant = alias_index.match(company_name="GLOEILAMPENFAB VANDERMOLEN")
    assert variant is not None and variant.account_id == "1"
    without = AccountIndex([{**ALIAS_DIRECTORY[0], "aliases": []}, *ALIAS_DIRECTORY[1:]])
    assert without.match(company_name="VANDERMOLEN GLOEILAMPENFABRIEKEN") is None


def test_an_alias_is_one_account_not_a_rival(alias_index: AccountIndex) -> None:
    """An account's own name and its alias sharing a brand do not make it ambiguous with
    itself, nor make the brand common: `Vandermolen` alone still matches."""
    found = alias_index.match(company_name="Vandermolen")
    assert found is not None and found.account_id == "1"
    assert [c.account_id for c in found.candidates].count("1") == 1
    assert len(alias_index) == 4


def test_a_trade_name_in_one_cell_matches(alias_index: AccountIndex) -> None:
    """Aliases given as one `|`-separated cell; the own name matches without an alias."""
    found = alias_index.match(company_name="brightloom inc")
    assert found is not None and (found.account_id, found.alias) == ("3", "Brightloom")
    own = alias_index.match(company_name="Tarnwell Platforms, Inc.")
    assert own is not None and own.account_id == "3" and own.alias is None
