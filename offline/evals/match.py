"""Account-matching evaluation: `python cli.py eval match [--data PATH] [--split test|dev|all]`.

Three data sets, all real third-party data read from the shared data directory:

- (a) `patstat`: messy organisation names from patent filings (`matching/patstat_input.csv`,
  the `Name` field) with hand-checked organisation ids (`leuven_id` in
  `matching/patstat_reference.csv`, joined per `person_id`). The directory holds one canonical
  name per organisation (its most common reference name); each distinct input name is a lead.
- (b) `companies`: the YC 2024 directory and the Fortune 500 (2019), one account per
  registrable domain. Each company gives two deterministic leads: a corporate email at its
  domain (sometimes a subdomain), most with a typed company name, and a free-mail email with a
  typed company name. Typed names carry realistic variations (case, legal suffix added or
  dropped, `&`↔`and`, a dropped `The`, punctuation and spacing, a one-character typo in long
  names, natural abbreviations, a dropped generic word).
- (c) `yc_2014_2024`: YC startups of 2005–2014 paired with the 2024 directory by registrable
  website domain; the 2014 name is matched by name alone (renamed companies make this hard)
  and by website domain.

Negatives: a fixed 20% of the organisations of (a) and of the companies of (b) are held out
of the directory, so their leads should abstain; precision = correct matches / matches made,
recall = correct matches / leads whose organisation is in the directory.

Split: every organisation (leuven_id) and company (registrable domain) falls in `dev` or
`test` by a hash of its id, 50/50. The matcher's threshold and rules are chosen on `dev`
only; `test` is what the command reports first. A sweep over thresholds on dev is printed so
the choice of `domain.matching.DEFAULT_THRESHOLD` can be checked.

Also measured: enrichment field accuracy (country, employee band, industry) when only a
corporate email is given, and the time per `match` call over all leads of (b) on the full
YC + Fortune 500 directory (5,000+ accounts).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from domain.matching import DEFAULT_THRESHOLD, AccountIndex, name_key
from domain.normalize import normalize_lead, registrable_domain
from offline.evals import add_data_argument, data_dir_or_none

SPLITS: Final = ("test", "dev")
DATA_FILES: Final = (
    "matching/patstat_input.csv",
    "matching/patstat_reference.csv",
    "companies/yc_companies_2024.csv",
    "companies/fortune500_2019.csv",
    "companies/yc_startups_2014.csv",
)
HOLDOUT_SHARE: Final = 0.20
SWEEP: Final = tuple(round(0.30 + 0.01 * step, 2) for step in range(66))
TARGET_PRECISION: Final = 0.98
TARGET_RECALL: Final = 0.90
SELECTION_PRECISION: Final = 0.99
RECALL_TOLERANCE: Final = 0.01
EMPLOYEE_BANDS: Final = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (1000, "201-1000"),
    (5000, "1001-5000"),
)
FREE_MAIL: Final = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "aol.com",
    "gmx.de",
)
SUBDOMAINS: Final = ("mail", "eu", "us", "corp", "uk", "global")
FIRST_NAMES: Final = "ana ben carla dev emma farid grace hiro ines jon kofi lena mateo nora omar"
LAST_NAMES: Final = "silva okafor novak chen garcia muller rossi tanaka kim dubois patel berg"
LEGAL_SUFFIXES: Final = (
    " Inc",
    " Inc.",
    ", Inc.",
    " LLC",
    " Ltd",
    " Ltd.",
    " Corp",
    " Corp.",
    " Corporation",
    " Co.",
    " Limited",
    " GmbH",
)
WORD_ABBREVIATIONS: Final = {
    "international": "Intl",
    "technologies": "Tech",
    "technology": "Tech",
    "corporation": "Corp",
    "company": "Co",
    "laboratories": "Labs",
    "manufacturing": "Mfg",
    "brothers": "Bros",
    "associates": "Assoc",
    "holdings": "Hldgs",
    "services": "Svcs",
    "incorporated": "Inc",
    "pharmaceuticals": "Pharma",
    "management": "Mgmt",
    "systems": "Sys",
}
DROPPABLE_WORDS: Final = frozenset(
    (
        "ai",
        "labs",
        "hq",
        "group",
        "holdings",
        "health",
        "technologies",
        "technology",
        "inc",
        "company",
        "app",
        "io",
    )
)
KEYBOARD: Final = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_LEGAL_TAIL = re.compile(
    r"[\s,]+(inc\.?|llc|ltd\.?|corp\.?|corporation|co\.|limited|gmbh|plc)$", re.IGNORECASE
)
_PUNCTUATION = re.compile(r"[.,'’\-!/]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


# Data loading ----------------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file with a header (quoted cells may contain newlines)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [
            {key.strip(): (value or "").strip() for key, value in row.items() if key}
            for row in csv.DictReader(handle)
        ]


def _hash_share(salt: str, key: str) -> float:
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(key: str) -> str:
    """`dev` or `test` for an organisation or company id, fixed and 50/50."""
    return "dev" if _hash_share("split", key) < 0.5 else "test"


def held_out(key: str) -> bool:
    """True for the fixed 20% of organisations kept out of the directory as negatives."""
    return _hash_share("holdout", key) < HOLDOUT_SHARE


def employee_band(count: float | int | None) -> str | None:
    """The employee band of a head count: 1-10, 11-50, 51-200, 201-1000, 1001-5000, 5000+."""
    if count is None or count <= 0:
        return None
    for upper, band in EMPLOYEE_BANDS:
        if count <= upper:
            return band
    return "5000+"


def _number(text: str) -> float | None:
    cleaned = text.replace(",", "").replace("$", "").strip()
    try:
        return float(cleaned)
    except ValueError:
        return None


@dataclass(frozen=True)
class Company:
    """One company of the YC or Fortune 500 files, identified by its registrable domain."""

    account_id: str
    name: str
    domain: str
    source: str
    country: str | None
    employees: int | None
    industry: str | None

    def account(self) -> dict[str, Any]:
        """The company as an account row (the shape `load_accounts_csv` returns)."""
        return {
            "account_id": self.account_id,
            "name": self.name,
            "domain": self.domain,
            "website": None,
            "owner_email": None,
            "industry": self.industry,
            "employees": self.employees,
            "country": self.country,
            "state": None,
            "city": None,
            "parent_account_id": None,
            "properties": {"source": self.source},
        }


def _website_domain(raw: str) -> str | None:
    first = raw.split(",")[0].strip()
    return registrable_domain(first) if first else None


def load_companies(data_dir: Path) -> list[Company]:
    """YC 2024 and Fortune 500 companies, one per registrable domain.

    Companies without a usable website are dropped, and so are domains that several companies
    list (a shared host such as github.com says nothing about who a lead is).
    """
    found: list[Company] = []
    for row in read_csv(data_dir / "companies" / "yc_companies_2024.csv"):
        domain = _website_domain(row.get("website", ""))
        if not domain or not row.get("company_name"):
            continue
        size = _number(row.get("team_size", ""))
        found.append(
            Company(
                account_id=f"yc-{row['company_id']}",
                name=row["company_name"],
                domain=domain,
                source="yc",
                country=row.get("country") or None,
                employees=int(size) if size else None,
                industry=None,
            )
        )
    for row in read_csv(data_dir / "companies" / "fortune500_2019.csv"):
        domain = _website_domain(row.get("website", ""))
        if not domain or not row.get("company_name"):
            continue
        employees = _number(row.get("employees", ""))
        found.append(
            Company(
                account_id=f"f500-{row['rank']}",
                name=row["company_name"],
                domain=domain,
                source="f500",
                country="US",
                employees=int(employees) if employees else None,
                industry=row.get("industry") or None,
            )
        )
    per_domain = Counter(company.domain for company in found)
    return [company for company in found if per_domain[company.domain] == 1]


# Scoring -----------------------------------------------------------------------------------


@dataclass
class Lead:
    """One evaluation lead: what the matcher sees, and the account it should match (or None)."""

    split: str
    kind: str
    truth: str | None
    email_domain: str | None = None
    website_domain: str | None = None
    company_name: str | None = None
    variation: str = ""
    key: str = ""
    records: int = 1


@dataclass
class Outcome:
    """A lead with the matcher's answer at threshold 0 (the confidence decides later)."""

    lead: Lead
    account_id: str | None
    confidence: float
    method: str | None


@dataclass
class Tally:
    """Counts behind precision and recall."""

    correct: int = 0
    wrong: int = 0
    positives: int = 0
    negatives: int = 0
    matched_negatives: int = 0
    methods: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: Outcome, threshold: float) -> None:
        """Count one outcome: matched when its confidence reaches the threshold."""
        matched = outcome.account_id is not None and outcome.confidence >= threshold
        if outcome.lead.truth is None:
            self.negatives += 1
        else:
            self.positives += 1
        if not matched:
            return
        if outcome.account_id == outcome.lead.truth:
            self.correct += 1
        else:
            self.wrong += 1
            if outcome.lead.truth is None:
                self.matched_negatives += 1
        self.methods[outcome.method or "?"] += 1

    def summary(self) -> dict[str, Any]:
        """Precision, recall and F1 with the counts they come from."""
        made = self.correct + self.wrong
        precision = self.correct / made if made else 1.0
        recall = self.correct / self.positives if self.positives else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "leads": self.positives + self.negatives,
            "positives": self.positives,
            "negatives": self.negatives,
            "matches": made,
            "correct": self.correct,
            "wrong": self.wrong,
            "negatives_matched": self.matched_negatives,
            "methods": dict(sorted(self.methods.items())),
        }


def evaluate(index: AccountIndex, leads: Sequence[Lead]) -> list[Outcome]:
    """Match every lead on an index built with threshold 0, keeping the confidence."""
    outcomes = []
    for lead in leads:
        found = index.match(
            email_domain=lead.email_domain,
            website_domain=lead.website_domain,
            company_name=lead.company_name,
        )
        outcomes.append(
            Outcome(
                lead=lead,
                account_id=found.account_id if found else None,
                confidence=found.confidence if found else 0.0,
                method=found.method if found else None,
            )
        )
    return outcomes


def metrics(
    outcomes: Iterable[Outcome], threshold: float, *, by: Sequence[str] = ()
) -> dict[str, Any]:
    """Precision/recall per split, and per value of each lead attribute named in `by`."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    groups: dict[tuple[str, str], dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    for outcome in outcomes:
        tallies[outcome.lead.split].add(outcome, threshold)
        for attribute in by:
            value = getattr(outcome.lead, attribute)
            groups[(outcome.lead.split, attribute)][value].add(outcome, threshold)
    out: dict[str, Any] = {}
    for split in SPLITS:
        summary = tallies[split].summary()
        for attribute in by:
            summary[f"by_{attribute}"] = {
                name: _brief(tally.summary())
                for name, tally in sorted(groups[(split, attribute)].items())
            }
        out[split] = summary
    return out


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("precision", "recall", "leads", "positives", "negatives", "matches", "correct", "wrong")
    return {key: summary[key] for key in keys}


# (a) patstat ---------------------------------------------------------------------------------


def patstat_leads(data_dir: Path) -> tuple[list[dict[str, Any]], list[Lead]]:
    """The canonical-name directory, and one lead per distinct (name, organisation) with the
    number of input records carrying it."""
    reference = {
        row["person_id"]: row for row in read_csv(data_dir / "matching" / "patstat_reference.csv")
    }
    names: dict[str, Counter[str]] = defaultdict(Counter)
    variants: Counter[tuple[str, str]] = Counter()
    for row in read_csv(data_dir / "matching" / "patstat_input.csv"):
        ref = reference.get(row["person_id"])
        if not ref:
            continue
        org = ref["leuven_id"]
        names[org][ref["person_name"].strip(" *")] += 1
        if row.get("Name"):
            variants[(row["Name"], org)] += 1
    accounts = [
        {
            "account_id": org,
            "name": counts.most_common(1)[0][0],
            "domain": None,
            "website": None,
            "owner_email": None,
            "parent_account_id": None,
        }
        for org, counts in sorted(names.items())
        if not held_out(org)
    ]
    leads = [
        Lead(
            split=split_of(org),
            kind="name",
            truth=None if held_out(org) else org,
            company_name=name,
            key=org,
            records=count,
        )
        for (name, org), count in sorted(variants.items())
    ]
    return accounts, leads


# (b) companies -------------------------------------------------------------------------------


def _typo(text: str, rng: random.Random) -> str | None:
    """One keyboard typo (substitution, deletion, doubling or swap) inside a long word."""
    words = [(m.start(), m.group()) for m in re.finditer(r"[A-Za-z]{5,}", text)]
    if not words:
        return None
    start, word = rng.choice(words)
    pos = rng.randrange(1, len(word) - 1)
    op = rng.choice(("substitute", "delete", "double", "swap"))
    if op == "substitute":
        row = next((r for r in KEYBOARD if word[pos].lower() in r), None)
        if row is None:
            return None
        at = row.index(word[pos].lower())
        neighbours = [row[i] for i in (at - 1, at + 1) if 0 <= i < len(row)]
        changed = word[:pos] + rng.choice(neighbours) + word[pos + 1 :]
    elif op == "delete":
        changed = word[:pos] + word[pos + 1 :]
    elif op == "double":
        changed = word[:pos] + word[pos] + word[pos:]
    else:
        if word[pos] == word[pos + 1]:
            return None
        changed = word[:pos] + word[pos + 1] + word[pos] + word[pos + 2 :]
    return text[:start] + changed + text[start + len(word) :]


def _abbreviate(text: str, domain: str) -> str | None:
    """A natural abbreviation: `Intl`, `Tech`, `Corp` …, or the initials a company's domain uses."""
    words = text.split()
    for i, word in enumerate(words):
        short = WORD_ABBREVIATIONS.get(word.lower().strip(",."))
        if short:
            return " ".join([*words[:i], short, *words[i + 1 :]])
    letters = [w for w in re.split(r"[\s&\-]+", text) if w and w.lower() not in {"and", "of"}]
    initials = "".join(w[0] for w in letters).lower()
    if len(letters) >= 2 and initials == domain.split(".", 1)[0]:
        return initials.upper()
    return None


def typed_name(name: str, domain: str, rng: random.Random) -> tuple[str, str]:
    """A company name as a person might type it into a form, and which variation it carries."""
    base = re.sub(r"\s*\([^)]*\)", "", name).strip() or name.strip()
    options: list[tuple[str, str]] = [("exact", base), ("exact", base)]
    options.append(("case", base.lower()))
    options.append(("case", base.upper() if len(base) <= 25 else base.lower()))
    if _LEGAL_TAIL.search(base):
        options.append(("legal_suffix", _LEGAL_TAIL.sub("", base)))
    else:
        options.append(("legal_suffix", base + rng.choice(LEGAL_SUFFIXES)))
        options.append(("legal_suffix", base + rng.choice(LEGAL_SUFFIXES)))
    if "&" in base:
        options.append(("and", base.replace("&", " and ").replace("  ", " ")))
    elif " and " in base.lower():
        options.append(("and", re.sub(r"\band\b", "&", base, flags=re.IGNORECASE)))
    if base.lower().startswith("the "):
        options.append(("the", base[4:]))
    if sum(ch.isalpha() for ch in base) >= 10:
        typo = _typo(base, rng)
        if typo:
            options.extend([("typo", typo), ("typo", typo)])
    short = _abbreviate(base, domain)
    if short:
        options.append(("abbreviation", short))
    if _PUNCTUATION.search(base):
        options.append(("punctuation", re.sub(r"\s+", " ", _PUNCTUATION.sub(" ", base)).strip()))
    words = base.split()
    if len(words) >= 2 and words[-1].lower() in DROPPABLE_WORDS:
        options.append(("dropped_word", " ".join(words[:-1])))
    if _CAMEL.search(base) and " " not in base:
        options.append(("spacing", _CAMEL.sub(" ", base)))
    elif len(words) == 2:
        options.append(("spacing", "".join(words)))
    variation, text = rng.choice(options)
    if variation != "case" and rng.random() < 0.25:
        text = text.lower()
    return text, variation


def company_leads(companies: Iterable[Company]) -> list[Lead]:
    """Two deterministic leads per company: corporate email, and free mail with a typed name."""
    leads: list[Lead] = []
    firsts, lasts = FIRST_NAMES.split(), LAST_NAMES.split()
    for company in companies:
        rng = random.Random(f"lead:{company.domain}")
        truth = None if held_out(company.domain) else company.account_id
        split = split_of(company.domain)
        host = company.domain
        if rng.random() < 0.15:
            host = f"{rng.choice(SUBDOMAINS)}.{company.domain}"
        local = f"{rng.choice(firsts)}.{rng.choice(lasts)}"
        typed, variation = typed_name(company.name, company.domain, rng)
        with_name = rng.random() < 0.7
        leads.append(
            Lead(
                split=split,
                kind="corporate_email",
                truth=truth,
                email_domain=f"{local}@{host}".split("@", 1)[1],
                company_name=typed if with_name else None,
                variation=variation if with_name else "none",
                key=company.domain,
            )
        )
        typed, variation = typed_name(company.name, company.domain, rng)
        leads.append(
            Lead(
                split=split,
                kind="free_mail_name",
                truth=truth,
                email_domain=rng.choice(FREE_MAIL),
                company_name=typed,
                variation=variation,
                key=company.domain,
            )
        )
    return leads


# (c) YC 2014 ↔ 2024 --------------------------------------------------------------------------


def yc_pair_leads(data_dir: Path, companies: Sequence[Company]) -> tuple[list[Lead], list[Lead]]:
    """2014 YC startups as name-only and website-only leads against the YC 2024 directory."""
    by_domain = {company.domain: company for company in companies if company.source == "yc"}
    by_name: list[Lead] = []
    by_website: list[Lead] = []
    seen: set[str] = set()
    for row in read_csv(data_dir / "companies" / "yc_startups_2014.csv"):
        domain = _website_domain(row.get("Website", ""))
        if not domain or not row.get("Company") or domain in seen:
            continue
        seen.add(domain)
        paired = by_domain.get(domain)
        truth = kind = None
        if paired is None:
            kind = "unpaired"
        else:
            truth = paired.account_id
            same = name_key(row["Company"]) == name_key(paired.name)
            kind = "same_name" if same else "renamed"
        split = split_of(domain)
        by_name.append(
            Lead(split=split, kind=kind, truth=truth, company_name=row["Company"], key=domain)
        )
        by_website.append(
            Lead(split=split, kind=kind, truth=truth, website_domain=domain, key=domain)
        )
    return by_name, by_website


def _pair_metrics(outcomes: list[Outcome], threshold: float) -> dict[str, Any]:
    """Precision/recall over the paired startups; matches of unpaired ones are counted apart."""
    paired = [outcome for outcome in outcomes if outcome.lead.kind != "unpaired"]
    out = metrics(paired, threshold, by=("kind",))
    for split in SPLITS:
        unpaired = [
            outcome
            for outcome in outcomes
            if outcome.lead.kind == "unpaired" and outcome.lead.split == split
        ]
        out[split]["unpaired_leads"] = len(unpaired)
        out[split]["unpaired_matched_unverifiable"] = sum(
            1 for o in unpaired if o.account_id and o.confidence >= threshold
        )
    return out


# Enrichment ----------------------------------------------------------------------------------


def enrichment_accuracy(
    index: AccountIndex, companies: Sequence[Company], threshold: float
) -> dict[str, Any]:
    """Country, employee band and industry from a corporate email alone, per split.

    The account matched on the email's domain supplies the fields; without a match the
    country falls back to the email's country-code TLD (as the capture node does). Accuracy
    is over every company of the split that has the field (held-out companies included).
    """
    by_id = {company.account_id: company for company in companies}
    fields = ("country", "employee_band", "industry")
    counts: dict[str, dict[str, Counter[str]]] = {
        split: {name: Counter() for name in fields} for split in SPLITS
    }
    for company in companies:
        email = f"jo.doe@{company.domain}"
        found = index.match(email_domain=company.domain)
        account = by_id.get(found.account_id) if found and found.confidence >= threshold else None
        lead, _ = normalize_lead({"email": email})
        predicted = {
            "country": (account.country if account else None) or lead.get("country"),
            "employee_band": employee_band(account.employees) if account else None,
            "industry": account.industry if account else None,
        }
        truth = {
            "country": company.country,
            "employee_band": employee_band(company.employees),
            "industry": company.industry,
        }
        for name in fields:
            if truth[name] is None:
                continue
            tally = counts[split_of(company.domain)][name]
            tally["with_truth"] += 1
            tally["answered"] += predicted[name] is not None
            tally["correct"] += predicted[name] == truth[name]
    out: dict[str, Any] = {}
    for split in SPLITS:
        out[split] = {name: _field_summary(tally) for name, tally in counts[split].items()}
    return out


def _field_summary(tally: Counter[str]) -> dict[str, Any]:
    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "accuracy": share(tally["correct"], tally["with_truth"]),
        "coverage": share(tally["answered"], tally["with_truth"]),
        "accuracy_when_answered": share(tally["correct"], tally["answered"]),
        "companies": tally["with_truth"],
    }


# Timing --------------------------------------------------------------------------------------


def timing(companies: Sequence[Company], leads: Sequence[Lead]) -> dict[str, Any]:
    """Index build time and microseconds per `match` call on the full directory."""
    started = time.perf_counter()
    index = AccountIndex([company.account() for company in companies])
    build_ms = (time.perf_counter() - started) * 1000
    durations: list[float] = []
    clock = time.perf_counter
    for lead in leads:
        started = clock()
        index.match(
            email_domain=lead.email_domain,
            website_domain=lead.website_domain,
            company_name=lead.company_name,
        )
        durations.append((clock() - started) * 1e6)
    name_only = [
        d for d, lead in zip(durations, leads, strict=True) if lead.kind == "free_mail_name"
    ]
    durations.sort()
    # How many accounts a name-only lead scores: the candidate block, not the directory. At
    # threshold 0 every lead with any evidence returns a match carrying its block size.
    index.threshold = 0.0
    blocks = []
    for lead in leads:
        if lead.kind == "free_mail_name":
            found = index.match(company_name=lead.company_name)
            blocks.append(found.block_size if found else 0)
    return {
        "directory_accounts": len(index),
        "leads": len(leads),
        "build_ms": round(build_ms, 1),
        "avg_us_per_match": round(statistics.fmean(durations), 1),
        "p50_us": round(durations[len(durations) // 2], 1),
        "p99_us": round(durations[int(len(durations) * 0.99)], 1),
        "avg_us_name_only": round(statistics.fmean(name_only), 1) if name_only else None,
        "avg_accounts_scored_name_only": round(statistics.fmean(blocks), 1) if blocks else None,
        "max_accounts_scored_name_only": max(blocks, default=None),
    }


# Run -----------------------------------------------------------------------------------------


def _sweep(datasets: dict[str, list[Outcome]]) -> list[dict[str, Any]]:
    rows = []
    for threshold in SWEEP:
        row: dict[str, Any] = {"threshold": threshold}
        for name, outcomes in datasets.items():
            dev = metrics([o for o in outcomes if o.lead.split == "dev"], threshold)["dev"]
            row[name] = {"precision": dev["precision"], "recall": dev["recall"]}
        rows.append(row)
    return rows


def _chosen(sweep: list[dict[str, Any]], names: Sequence[str]) -> float | None:
    """The strictest threshold whose mean dev recall is within `RECALL_TOLERANCE` of the best
    one keeping dev precision at or above 0.99 (a margin over the 0.98 target) on every data
    set: when lowering the threshold buys almost no recall, precision wins."""
    feasible = [
        (statistics.fmean(row[name]["recall"] for name in names), float(row["threshold"]))
        for row in sweep
        if all(row[name]["precision"] >= SELECTION_PRECISION for name in names)
    ]
    if not feasible:
        return None
    best = max(recall for recall, _ in feasible)
    return max(threshold for recall, threshold in feasible if recall >= best - RECALL_TOLERANCE)


def _concentration(
    outcomes: list[Outcome], names: dict[str, str], threshold: float
) -> dict[str, Any]:
    """Per split, the organisation with the most distinct names and recall without it: one
    organisation with many name variants can dominate a split of ~50 organisations."""
    out: dict[str, Any] = {}
    for split in SPLITS:
        positives = [o for o in outcomes if o.lead.split == split and o.lead.truth]
        sizes = Counter(o.lead.truth for o in positives if o.lead.truth)
        if not sizes:
            continue
        largest, count = sizes.most_common(1)[0]

        def recall(group: list[Outcome]) -> float | None:
            if not group:
                return None
            found = sum(o.account_id == o.lead.truth and o.confidence >= threshold for o in group)
            return round(found / len(group), 4)

        out[split] = {
            "organisation": largest,
            "name": names.get(largest),
            "names": count,
            "of_names": len(positives),
            "recall": recall([o for o in positives if o.lead.truth == largest]),
            "recall_without_it": recall([o for o in positives if o.lead.truth != largest]),
        }
    return out


def _weighted(outcomes: list[Outcome], threshold: float) -> dict[str, Any]:
    """Patstat precision/recall counting each input record, not each distinct name."""
    out: dict[str, Any] = {}
    for split in SPLITS:
        correct = wrong = positives = 0
        for outcome in outcomes:
            lead = outcome.lead
            if lead.split != split:
                continue
            count = lead.records
            positives += count if lead.truth else 0
            if outcome.account_id and outcome.confidence >= threshold:
                if outcome.account_id == lead.truth:
                    correct += count
                else:
                    wrong += count
        made = correct + wrong
        out[split] = {
            "precision": round(correct / made, 4) if made else 1.0,
            "recall": round(correct / positives, 4) if positives else 0.0,
            "records": positives,
        }
    return out


def run(data_dir: Path, *, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """Every measurement as a JSON-serializable summary (both splits; test is the headline)."""
    patstat_accounts, patstat = patstat_leads(data_dir)
    companies = load_companies(data_dir)
    directory = [company for company in companies if not held_out(company.domain)]
    leads = company_leads(companies)

    started = time.perf_counter()
    patstat_index = AccountIndex(patstat_accounts, threshold=0.0)
    company_index = AccountIndex([company.account() for company in directory], threshold=0.0)
    yc_index = AccountIndex(
        [company.account() for company in companies if company.source == "yc"], threshold=0.0
    )
    build_seconds = time.perf_counter() - started

    patstat_out = evaluate(patstat_index, patstat)
    company_out = evaluate(company_index, leads)
    by_name, by_website = yc_pair_leads(data_dir, companies)
    pair_name_out = evaluate(yc_index, by_name)
    pair_site_out = evaluate(yc_index, by_website)

    sweep = _sweep({"patstat": patstat_out, "companies": company_out})
    return {
        "data_dir": str(data_dir),
        "threshold": threshold,
        "threshold_chosen_on_dev": _chosen(sweep, ("patstat", "companies")),
        "patstat": {
            "directory_accounts": len(patstat_index),
            **metrics(patstat_out, threshold),
            "by_record": _weighted(patstat_out, threshold),
            "largest_organisation": _concentration(
                patstat_out, {row["account_id"]: row["name"] for row in patstat_accounts}, threshold
            ),
        },
        "companies": {
            "directory_accounts": len(company_index),
            "held_out_companies": len(companies) - len(directory),
            **metrics(company_out, threshold, by=("kind", "variation")),
        },
        "yc_2014_2024": {
            "directory_accounts": len(yc_index),
            "name_only": _pair_metrics(pair_name_out, threshold),
            "website": _pair_metrics(pair_site_out, threshold),
        },
        "enrichment_from_email": enrichment_accuracy(company_index, companies, threshold),
        "timing": timing(companies, leads),
        "index_build_seconds_eval": round(build_seconds, 2),
        "dev_threshold_sweep": sweep,
    }


# Command line --------------------------------------------------------------------------------


def _counts(summary: dict[str, Any]) -> str:
    """The fractions behind P and R: correct of matches made, correct of leads that have an
    account, and the leads that have none."""
    return (
        f"P {summary['correct']}/{summary['matches']}, R {summary['correct']}/"
        f"{summary['positives']}; {summary['leads']} leads, {summary['negatives']} without an "
        "account"
    )


def _row(label: str, summary: dict[str, Any]) -> str:
    return (
        f"  {label:<28} P {summary['precision']:.3f}  R {summary['recall']:.3f}  "
        f"F1 {summary['f1']:.3f}  ({_counts(summary)})"
    )


def _target(summary: dict[str, Any], unit: str = "") -> str:
    met = summary["precision"] >= TARGET_PRECISION and summary["recall"] >= TARGET_RECALL
    verdict = "met" if met else "NOT met"
    return (
        f"  target precision ≥ {TARGET_PRECISION:.2f} at recall ≥ {TARGET_RECALL:.2f}"
        f"{unit}: {verdict}"
    )


def _report(result: dict[str, Any], splits: Sequence[str]) -> list[str]:
    lines = [f"account matching, threshold {result['threshold']} (data: {result['data_dir']})"]
    for split in splits:
        label = split.upper()
        if split == "dev":
            label += " (reference only: thresholds and rules were chosen on this split)"
        lines.append("")
        lines.append(f"== {label}")
        lines.append("(a) patstat names → canonical organisations")
        lines.append(_row("distinct names", result["patstat"][split]))
        record = result["patstat"]["by_record"][split]
        lines.append(
            f"  {'per input record':<28} P {record['precision']:.3f}  R {record['recall']:.3f}"
        )
        largest = result["patstat"]["largest_organisation"].get(split)
        if largest:
            lines.append(
                f"  largest organisation ({largest['name']}): {largest['names']} of "
                f"{largest['of_names']} names, recall {largest['recall']:.3f} on it, "
                f"{largest['recall_without_it']:.3f} on the rest"
            )
        lines.append(_target(result["patstat"][split], " on distinct names"))
        lines.append(_target(record, " per input record"))
        lines.append("(b) YC 2024 + Fortune 500 leads")
        lines.append(_row("all leads", result["companies"][split]))
        lines.append(_target(result["companies"][split]))
        for kind, summary in result["companies"][split]["by_kind"].items():
            lines.append(
                f"    {kind:<26} P {summary['precision']:.3f}  R {summary['recall']:.3f}  "
                f"({_counts(summary)})"
            )
        for name, summary in result["companies"][split]["by_variation"].items():
            lines.append(
                f"    variation {name:<16} P {summary['precision']:.3f}  "
                f"R {summary['recall']:.3f}  ({_counts(summary)})"
            )
        lines.append("(c) YC 2014 ↔ 2024 pairs")
        pairs = result["yc_2014_2024"]
        lines.append(_row("name only", pairs["name_only"][split]))
        for kind, summary in pairs["name_only"][split]["by_kind"].items():
            lines.append(
                f"    {kind:<26} P {summary['precision']:.3f}  R {summary['recall']:.3f}  "
                f"({_counts(summary)})"
            )
        lines.append(
            f"    unpaired 2014 names matched (unverifiable): "
            f"{pairs['name_only'][split]['unpaired_matched_unverifiable']}"
            f" of {pairs['name_only'][split]['unpaired_leads']}"
        )
        lines.append(_row("website domain", pairs["website"][split]))
        lines.append("enrichment from a corporate email alone")
        for name, summary in result["enrichment_from_email"][split].items():
            if summary["accuracy"] is not None:
                lines.append(
                    f"  {name:<28} accuracy {summary['accuracy']:.3f}  "
                    f"coverage {summary['coverage']:.3f}  "
                    f"when answered {summary['accuracy_when_answered']:.3f}  "
                    f"(companies {summary['companies']})"
                )
    t = result["timing"]
    lines.append("")
    lines.append(
        f"timing: {t['avg_us_per_match']} µs per match on average (p50 {t['p50_us']}, "
        f"p99 {t['p99_us']}, name-only {t['avg_us_name_only']}) over {t['leads']} leads; "
        f"{t['directory_accounts']} accounts indexed in {t['build_ms']} ms"
    )
    lines.append(
        f"accounts scored per name-only lead: {t['avg_accounts_scored_name_only']} on average, "
        f"at most {t['max_accounts_scored_name_only']} of {t['directory_accounts']}"
    )
    lines.append(
        f"threshold chosen on dev (strictest within 0.01 of the best mean recall of (a) and (b) "
        f"with dev precision ≥ 0.99 on both): {result['threshold_chosen_on_dev']}"
    )
    return lines


def _filter(result: dict[str, Any], splits: Sequence[str]) -> dict[str, Any]:
    """The summary with only the requested splits under each data set."""
    dropped = [split for split in SPLITS if split not in splits]

    def prune(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: prune(v) for k, v in value.items() if k not in dropped}
        return value

    out = prune(result)
    if "dev" in dropped:
        out.pop("dev_threshold_sweep", None)
    return dict(out)


def cli(argv: list[str]) -> int:
    """`eval match`: print a table per data set, then the JSON summary on the last line."""
    parser = argparse.ArgumentParser(
        prog="cli.py eval match",
        description="Precision, recall and speed of lead-to-account matching on shared data.",
    )
    add_data_argument(parser)
    parser.add_argument(
        "--split",
        choices=("test", "dev", "all"),
        default="all",
        help="which split to print: test (the reported numbers), dev (where thresholds were "
        "chosen) or all (default: test first, then dev)",
    )
    args = parser.parse_args(argv)
    data_dir = data_dir_or_none("eval match", args.data, DATA_FILES)
    if data_dir is None:
        return 2
    result = run(data_dir)
    splits = SPLITS if args.split == "all" else (args.split,)
    for line in _report(result, splits):
        print(line)
    print(json.dumps(_filter(result, splits)))
    return 0
