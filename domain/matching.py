"""Lead-to-account matching: which known account (ACCOUNTS_CSV, DESIGN §6) a lead belongs to.

`AccountIndex` is built once from account rows (the dicts `tools.directory.load_accounts_csv`
returns) and answers `match(...)` from hash indexes and a candidate block, never by
scanning the directory; in a large block (names sharing only common words) a name is scored
only when a bound on its score says it could change the match or its listed candidates. An
account's `aliases` (former, trade or local names) are indexed as further names of the same
account: each is matched like the account's own name, none rivals it, and the match reports
the alias it used.

Evidence and its confidence, strongest first:

- `email_domain` (0.99): the registrable domain of the email (Public Suffix aware, so
  `jo@eu.acme.co.uk` gives `acme.co.uk`) is an account's `domain` or `website`.
- `website` (0.97): the same for the lead's website.
  Domain evidence is skipped for free-mail, disposable and the team's own domains.
- `name_exact` (0.96): the normalized company name equals an account's. Normalizing folds case
  and accents, drops punctuation, parenthesised asides, a web suffix (`Quillmark.com`), `the`,
  `and`/`&` and `of`, strips legal forms (Inc, GmbH, N.V., B.V., S.p.A., Sp. z o.o., Pty Ltd,
  …) at either end (and the unambiguous ones anywhere), expands common abbreviations
  (`Intl`, `Mfg`, `Hldgs`) and reads country names as countries (`Holland` = `Netherlands`).
  The same name written without spaces (`BrightHarbor`) gives 0.95.
- `name_fuzzy` (at most 0.94): the typed name's tokens are aligned with an account's tokens,
  a pair scoring 1 when equal, less when one edit apart (a typo: 0.40 to 0.70 for words of five
  to eight letters, then `1 - 1/(length - 2)`), and 0.7 for a truncation (`Konink` →
  `Koninklijke`), which only counts next to a better-matched word. The score is the Dice
  overlap of the aligned tokens weighted by rarity (inverse document frequency over account
  names; generic corporate words such as `Group`, `Labs` or `AI`, the form words of legal
  names — `Koninklijke`/`Royal`, `Maatschappij`, `Gesellschaft`, `Compagnie`, `Società`, … —
  country names, single letters and words no account uses weigh little), so `Acme Robotics`
  and `Acme Foods` share only `acme` and stay apart while a dropped generic word or an added
  city costs little. An account whose brand (its leading word, form and location words
  skipped: `vandel` in `Koninklijke Vandel Electronics`) is not matched keeps 0.85 of its
  score. When every typed word is in one account's name and that account's brand is a word
  no other account's name uses, the account's words left out count half (`Orrick` →
  `Orrick & Tamsin Groningen`); a typed word the account lacks (`Orrick Canada`, often
  another legal entity) or a brand shared by two accounts gets no such discount.
  A word spelt differently but sounding the same (`sound_key`: `ph`/`f`, `c`/`k`/`s`, `y`/`i`,
  `z`/`s`, `dzh`/`g`, doubled letters; `Fenwick`, `Elektroniks`, `Teknolodzhi`) counts as a
  one-letter typo of its length, first letter included; words under six letters never do
  (`Kopia` is not `Copia`). An abbreviation keeping a word's first three letters and dropping
  others (`Pharmls` → `Pharmaceuticals`, `Technlgs` → `Technologies`) counts like a
  truncation. Two typed words the directory knows as one, in either order (`La Velle` →
  `LaVelle`, `Microsystems QV` → `QVMicrosystems`), are joined, and an unknown
  run-on word is split into the fewest known words, legal forms dropped (`BrackwellNV`,
  `TarnDouglasIndsB` with its `B.V.` cut by a fixed-width field), which then count only
  together. The whole name written without spaces one edit away from an account's also counts.
- `name_initialism`: the typed name is the initials of an account's name of three or more
  words (`NLS` ↔ `Northern Ledger Systems`), or the other way round. Initials are weak
  evidence: 0.40 alone, below the default threshold; 0.90 when corroborated, that is when the
  account's own domain label is those initials (`ibm.com`) or the lead's corporate domain has
  the account's domain label (`jo@ibm.de`).

Rules applied to the scores:

- Domain first. When the email (or else the website) domain names an account, that account is
  the match even when the typed company names another one: the mailbox says where the person
  works, while a typed company is often a parent, a brand, a client or a former employer. The
  typed name only ranks accounts sharing the domain (by at most 0.01, before the tie-breaks);
  a name that does not fit the account but names another, unrelated one lowers the confidence
  to 0.90, and that account is listed in `candidates` and `notes`.
- A corporate domain the directory does not know (neither free-mail nor disposable nor own)
  contradicts a name match whose account has a domain with another label: such evidence is
  capped at 0.40, below the default threshold. `jo@usethread.io` typing `Thread` is not the
  `Thread` at thread.com (the person's mailbox is elsewhere); `jo@acme.de` typing `Acme` is
  still `Acme` at acme.com.
- Ambiguity: when an unrelated runner-up (not parent, child, sibling, nor sharing a domain)
  comes within `margin` of the leader, every candidate loses up to 0.50 (all of it on an exact
  tie), so two different companies called `Atlas` abstain rather than guess.
- Tie-breaks among the candidates that reach the threshold, in order: higher confidence; then
  an account with an owner; then the parent (the parent of another tied candidate, else an
  account that others name as `parent_account_id`); then the lowest `account_id` (numeric
  order when both are numbers). `tie_break` names the rule that decided: `confidence`,
  `owner`, `parent` or `lowest_id` (None when a single candidate qualified).
- Abstain: `match` returns None when the best confidence is below `threshold`.
  `DEFAULT_THRESHOLD` (0.66) was chosen on the dev split of `python cli.py eval match`: among
  the thresholds keeping dev precision at or above 0.99 on both name-matching data sets, the
  strictest one whose mean dev recall is within 0.01 of the best. Confidences are scores on
  one scale, not calibrated probabilities.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import html
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal

import numpy as np
from rapidfuzz.distance import OSA

from domain.accounts import split_aliases
from domain.bulk import collector_paused, keep_built
from domain.normalize import is_disposable, is_free_mail, registrable_domain
from domain.regions import country_code

Method = Literal["email_domain", "website", "name_exact", "name_fuzzy", "name_initialism"]

DEFAULT_THRESHOLD: Final = 0.66
DEFAULT_MARGIN: Final = 0.05

CONF_EMAIL_DOMAIN: Final = 0.99
CONF_WEBSITE: Final = 0.97
CONF_NAME_EXACT: Final = 0.96
CONF_NAME_COMPACT: Final = 0.95
CONF_FUZZY_CAP: Final = 0.94
CONF_INITIALISM: Final = 0.40
CONF_INITIALISM_CORROBORATED: Final = 0.90
CONF_DOMAIN_NAME_DISAGREE: Final = 0.90
CONF_NAME_NAMES_ANOTHER: Final = 0.80
CONF_DOMAIN_CONFLICT_CAP: Final = 0.40
AMBIGUITY_PENALTY: Final = 0.50

SIM_TRUNCATION: Final = 0.70
SOUND_MIN_LENGTH: Final = 6
BRAND_UNMATCHED_FACTOR: Final = 0.85
OMITTED_WORD_DISCOUNT: Final = 0.5
TYPO_MIN_LENGTH: Final = 5
# Longer "words" and names are not typed by people; their edit neighbourhoods grow with the
# square of the length, so they are not searched for typos.
TYPO_MAX_LENGTH: Final = 40
COMPACT_MAX_LENGTH: Final = 80
TYPO_SHORT: Final = {5: 0.40, 6: 0.45, 7: 0.50, 8: 0.70}
TRUNCATION_MIN_LENGTH: Final = 4
TRUNCATION_FANOUT: Final = 8
ABBREVIATION_MIN_LENGTH: Final = 5
ABBREVIATION_SCAN: Final = 64
RUN_ON_MAX_PARTS: Final = 4
RUN_ON_MAX_LENGTH: Final = 60
GENERIC_WEIGHT_SHARE: Final = 0.25
LOCATION_WEIGHT_SHARE: Final = 0.15
UNKNOWN_WEIGHT_SHARE: Final = 0.3
SINGLE_CHAR_WEIGHT_SHARE: Final = 0.25
BLOCK_POSTING_CAP: Final = 200
BLOCK_MAX: Final = 400
TOP_CANDIDATES: Final = 5
# The layout of `AccountIndex.saved_columns` and `saved_arrays`: raised when it changes, so
# that an index kept by an earlier version is built again rather than read.
INDEX_FORMAT: Final = 1
# Bounds are compared with this much room, so that rounding never drops a candidate.
BOUND_SLACK: Final = 1e-9


# Name normalization --------------------------------------------------------------------------


def _forms(text: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(form.split()) for form in text.split(","))


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


LEGAL_FORMS: Final = _forms(
    "inc, incorporated, corp, corporation, co, company, cos, llc, pllc, lllp, llp, lp, ltd,"
    "limited, plc, gmbh, mbh, ag, kg, kgaa, ohg, ug, se, sa, sas, sasu, sarl, eurl, sca, snc,"
    "spa, sapa, srl, sro, spol, sl, slu, sau, nv, bv, cv, bvba, cvba, sprl, vzw, ab, publ, asa,"
    "as, aps, oy, oyj, kk, gk, yk, pty, pte, pvt, ltda, bhd, sdn, tbk, jsc, pjsc, ojsc, ooo, zao,"
    "oao, pao, kft, zrt, nyrt, doo, sae, ehf, hf, sp z oo, sa de cv, s de rl, ltd sti, pty ltd,"
    "pte ltd, pvt ltd, co ltd, private limited, proprietary limited, public limited company,"
    "limited liability company, limited partnership, naamloze vennootschap,"
    "besloten vennootschap, aktiengesellschaft, gesellschaft mit beschrankter haftung,"
    "societe anonyme, societe par actions simplifiee, societa per azioni, sociedad anonima,"
    "sociedad limitada, aktiebolag, aktieselskab, anonim sirketi, kabushiki kaisha, godo kaisha"
)
LEADING_LEGAL_FORMS: Final = _forms(
    "nv, bv, ab, pt, ooo, oao, zao, pao, kabushiki kaisha, naamloze vennootschap"
)
# Legal forms that are never part of a brand, dropped wherever they stand.
UNAMBIGUOUS_LEGAL_TOKENS: Final = _words(
    "inc incorporated corp corporation llc pllc llp ltd limited plc gmbh mbh kgaa sarl srl"
    " nv bv bvba cvba publ oyj pty pte pvt ltda aktiengesellschaft aktiebolag aktieselskab"
)
_LEGAL_MAX_LEN: Final = max(len(form) for form in LEGAL_FORMS)
_LEGAL_LAST_WORDS: Final = frozenset(form[-1] for form in LEGAL_FORMS)
_LEADING_FIRST_WORDS: Final = frozenset(form[0] for form in LEADING_LEGAL_FORMS)
ABBREVIATIONS: Final = {
    "intl": "international",
    "internat": "international",
    "internationale": "international",
    "internationaal": "international",
    "internacional": "international",
    "internazionale": "international",
    "mfg": "manufacturing",
    "mfrs": "manufacturers",
    "natl": "national",
    "mij": "maatschappij",
    "inds": "industries",
    "prods": "products",
    "chem": "chemical",
    "chems": "chemicals",
    "res": "research",
    "gen": "general",
    "assn": "association",
    "assoc": "associates",
    "bros": "brothers",
    "svcs": "services",
    "grp": "group",
    "hldgs": "holdings",
    "hldg": "holding",
    "mgmt": "management",
    "univ": "university",
    "ctr": "center",
    "centre": "center",
    "labs": "laboratories",
    "lab": "laboratory",
    "tech": "technology",
    "technologies": "technology",
    "technologie": "technology",
    "pharma": "pharmaceuticals",
    "kon": "koninklijke",
    "konink": "koninklijke",
    "koninkl": "koninklijke",
    "koninklijk": "koninklijke",
}
GENERIC_TOKENS: Final = _words(
    "ai app co company corp enterprises global group holding holdings hq inc industries"
    " international io laboratories laboratory services solutions systems technology worldwide"
)
# Words of legal names that say what kind of body it is, not which one: "royal" (the Dutch
# `Koninklijke` predicate) and "company", "society", "corporation" in the languages of the
# legal forms above. Like `GENERIC_TOKENS` they weigh little and are never the brand.
FORM_TOKENS: Final = _words(
    "koninklijke royal maatschappij vennootschap gesellschaft compagnie cie societe societa"
    " sociedad compania companhia"
)
REGION_TOKENS: Final = _words(
    "europe europa euro emea apac asia latam americas benelux nordic nordics"
)
STOP_TOKENS: Final = _words("the and und et of")
_SHORT_COUNTRY_TOKENS: Final = {"us": "us", "usa": "us", "uk": "gb", "nl": "nl", "eu": "eu"}
LOCATION_PREFIX: Final = "~"

_FOLD_TABLE: Final = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
_PARENTHESISED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_AMPERSAND = re.compile(r"\s*[&+]\s*")
_A_SLASH_S = re.compile(r"\ba\s*/\s*s\b")
_APOSTROPHE = re.compile(r"['’`´]")
_WEB_SUFFIX = re.compile(r"(?<=[a-z0-9])(?:\.(?:com|net|org|io|ai|co|app|dev|so|xyz|uk|de))+\b")
_DOTTED = re.compile(r"(?<![a-z0-9])(?:[a-z]\.\s?)+[a-z](?![a-z0-9])\.?")
_DOTS_AND_SPACES = re.compile(r"[.\s]")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _fold(text: str) -> str:
    """Case- and accent-folded text: `Société Générale` → `societe generale`."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.translate(_FOLD_TABLE)


@functools.lru_cache(maxsize=8192)
def _location(token: str) -> str | None:
    """`~nl` for `holland`, `netherlands`, `nl`; `~europe` for a region; else None."""
    if token in _SHORT_COUNTRY_TOKENS:
        return LOCATION_PREFIX + _SHORT_COUNTRY_TOKENS[token]
    if token in REGION_TOKENS:
        return LOCATION_PREFIX + "europe" if token.startswith("euro") else LOCATION_PREFIX + token
    if len(token) < 4 or not token.isalpha():
        return None
    code = country_code(token)
    return LOCATION_PREFIX + code.lower() if code else None


def _strip_legal(tokens: list[str]) -> list[str]:
    """Tokens without legal forms at the end (repeatedly) and at the start; never empties."""
    # A legal form can only end (or start) where one of its last (first) words stands.
    changed = bool(tokens) and tokens[-1] in _LEGAL_LAST_WORDS
    while changed and len(tokens) > 1:
        changed = False
        for size in range(min(_LEGAL_MAX_LEN, len(tokens) - 1), 0, -1):
            if tuple(tokens[-size:]) in LEGAL_FORMS:
                del tokens[-size:]
                changed = True
                break
    for size in (2, 1) if tokens and tokens[0] in _LEADING_FIRST_WORDS else ():
        if len(tokens) > size and tuple(tokens[:size]) in LEADING_LEGAL_FORMS:
            del tokens[:size]
            break
    inner = [token for token in tokens if token not in UNAMBIGUOUS_LEGAL_TOKENS]
    return inner or tokens


def name_tokens(name: Any) -> tuple[str, ...]:
    """Normalized tokens of a company name; empty for a blank name.

    `The Acme Robotics, Inc.` → (`acme`, `robotics`); `Orrick & Tamsin` and `Orrick and
    Tamsin` → (`orrick`, `tamsin`); `QUELLAN NOBRE N.V.` → (`quellan`, `nobre`); `QVTX Holland` →
    (`qvtx`, `~nl`).
    """
    if name is None or name == "":
        return ()
    return _name_tokens(str(name))


@functools.lru_cache(maxsize=65536)
def _name_tokens(name: str) -> tuple[str, ...]:
    text = _fold(html.unescape(name))
    # Each rewrite is skipped when the character it needs is absent (most names).
    if "(" in text or "[" in text:
        bare = _PARENTHESISED.sub(" ", text)
        if _NON_WORD.sub("", bare):
            text = bare
    if "&" in text or "+" in text:
        text = _AMPERSAND.sub(" and ", text)
    if "/" in text:
        text = _A_SLASH_S.sub(" as ", text)
    text = _APOSTROPHE.sub("", text)
    if "." in text:
        text = _WEB_SUFFIX.sub(" ", text)
        text = _DOTTED.sub(lambda found: _DOTS_AND_SPACES.sub("", found.group()), text)
    tokens = _NON_WORD.sub(" ", text).split()
    kept = [token for token in tokens if token not in STOP_TOKENS]
    tokens = _strip_legal(kept or tokens)
    tokens = [ABBREVIATIONS.get(token, token) for token in tokens]
    if len(tokens) > 1:
        tokens = [_location(token) or token for token in tokens]
    return tuple(tokens)


def _fresh_name_tokens(name: Any) -> tuple[str, ...]:
    """`name_tokens` without its cache, for a directory's names: each is seen once, and
    100,000 of them would only push the typed names out."""
    if name is None or name == "":
        return ()
    return _name_tokens.__wrapped__(str(name))


def name_key(name: Any) -> str:
    """The normalized name as one string: equal keys name the same company."""
    return " ".join(name_tokens(name))


def initialism(tokens: tuple[str, ...]) -> str | None:
    """Initials of a name of three or more words (`international business machines` → `ibm`)."""
    words = [token for token in tokens if not token.startswith(LOCATION_PREFIX)]
    if len(words) < 3:
        return None
    return "".join(word[0] for word in words)


def _domain_label(domain: str | None) -> str | None:
    """The label left of the public suffix, hyphens dropped: `acme-corp.co.uk` → `acmecorp`."""
    return domain.split(".", 1)[0].replace("-", "") if domain else None


_DZH: Final = re.compile(r"d?zh")
_CK: Final = re.compile(r"ck|ch|q")
_SOFT_C: Final = re.compile(r"c(?=[eiy])")
_SOFT_G: Final = re.compile(r"g(?=[eiy])")
_SILENT_H: Final = re.compile(r"(?<=[aeiou])h(?=[^aeiou])")
_DOUBLED: Final = re.compile(r"(.)\1+")


@functools.lru_cache(maxsize=65536)
def sound_key(token: str) -> str:
    """A word as it sounds, roughly, across the spellings of European company names and their
    transliterations: `phenwick`/`fenwick`, `calderon`/`kalderon`, `technology`/`teknolodzhi`,
    `electronics`/`ehlektroniks` and `phillips` all fold to one key per word.

    The rewrites, in order: `sch` → `sh`, `dzh`/`zh` → `j`, `ph` → `f`, `th` → `t`,
    `ck`/`ch`/`q` → `k`, `x` → `ks`, `c` → `s` before e, i, y and `k` elsewhere, `g` → `j` before
    e, i, y, `y` → `i`, `z` → `s`, `h` after a vowel and before a consonant dropped, doubled
    letters single; each skipped on a word without the letters it needs."""
    if "h" in token:
        if "sch" in token:
            token = token.replace("sch", "sh")
        if "zh" in token:
            token = _DZH.sub("j", token)
        if "ph" in token:
            token = token.replace("ph", "f")
        if "th" in token:
            token = token.replace("th", "t")
    if "c" in token or "q" in token:
        token = _CK.sub("k", token)
    if "x" in token:
        token = token.replace("x", "ks")
    if "c" in token:
        token = _SOFT_C.sub("s", token).replace("c", "k")
    if "g" in token:
        token = _SOFT_G.sub("j", token)
    if "y" in token:
        token = token.replace("y", "i")
    if "z" in token:
        token = token.replace("z", "s")
    if "h" in token:
        token = _SILENT_H.sub("", token)
    return _DOUBLED.sub(r"\1", token)


def _deletes(token: str) -> Iterator[str]:
    """The token with each one character removed (its SymSpell distance-1 neighbourhood)."""
    for index in range(len(token)):
        yield token[:index] + token[index + 1 :]


_HASH_BASE: Final = 0x01000193
_HASH_MASK: Final = 0xFFFFFFFF


def _mixed(value: Any) -> Any:
    """The last step of `_code`, on an int or a uint32 array alike: spreads the bits."""
    value ^= value >> 16
    value = (value * 0x45D9F3B) & _HASH_MASK
    return value ^ (value >> 16)


def _code(text: str) -> int:
    """A 32-bit code of a string: a polynomial over its UTF-8 bytes, mixed; the same as
    `_variant_codes` computes for a deletion variant without building it."""
    value = 0
    for byte in text.encode():
        value = (value * _HASH_BASE + byte) & _HASH_MASK
    return int(_mixed(value))


def _variant_codes(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """`_code` of every one-deletion variant of every word, and the number of the word each
    came from. ASCII words of one length are done together, as columns of a byte matrix:
    the code of `word[:i] + word[i + 1:]` is its prefix's polynomial shifted past the suffix,
    plus the suffix's; other words (none, from `name_tokens`) one variant at a time."""
    codes: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    by_length: dict[int, list[int]] = defaultdict(list)
    other: list[int] = []
    for number, word in enumerate(words):
        (by_length[len(word)] if word.isascii() else other).append(number)
    for length, numbers in by_length.items():
        if not length:
            continue
        text = "".join(words[number] for number in numbers).encode("ascii")
        letters = np.frombuffer(text, dtype=np.uint8).reshape(len(numbers), length)
        letters = letters.astype(np.uint32)
        prefix = np.zeros((len(numbers), length + 1), dtype=np.uint32)
        suffix = np.zeros((len(numbers), length + 1), dtype=np.uint32)
        base = np.uint32(_HASH_BASE)
        for i in range(length):
            prefix[:, i + 1] = prefix[:, i] * base + letters[:, i]
        for i in range(length - 1, -1, -1):
            shift = np.uint32(pow(_HASH_BASE, length - 1 - i, 1 << 32))
            suffix[:, i] = letters[:, i] * shift + suffix[:, i + 1]
        numbered = np.array(numbers, dtype=np.uint32)
        for i in range(length):
            shift = np.uint32(pow(_HASH_BASE, length - 1 - i, 1 << 32))
            codes.append(_mixed(prefix[:, i] * shift + suffix[:, i + 1]))
            owners.append(numbered)
    for number in other:
        variants = [_code(variant) for variant in _deletes(words[number])]
        codes.append(np.array(variants, dtype=np.uint32))
        owners.append(np.full(len(variants), number, dtype=np.uint32))
    if not codes:
        return np.empty(0, np.uint32), np.empty(0, np.uint32)
    return np.concatenate(codes), np.concatenate(owners)


class _OneEditIndex:
    """Words by their one-deletion variants (SymSpell), for finding the words one edit away.

    `near(keys)` gives every word with a deletion variant among `keys`: given a typed word and
    its deletion variants, the words one edit (OSA) away that are not shorter than it, and a
    few more, which the caller verifies. The variants are kept as two
    sorted arrays, a 32-bit code of each variant (`_code`) and the number of the word it came
    from, about 8 bytes a variant where a set per variant took 300; a code shared by chance
    only adds a word that fails the caller's verification.
    """

    def __init__(self, words: Iterable[str], arrays: tuple[np.ndarray, np.ndarray] | None = None):
        """Index `words`; `arrays` are the `codes` and `owners` of an index of the same words
        made before (see `AccountIndex.saved_arrays`)."""
        self._words = list(words)
        if arrays is None:
            hashes, owners = _variant_codes(self._words)
            # Sorted by code, then word: both packed into 64 bits and sorted in place, three
            # times faster than a stable argsort of the codes, each step in place to spare memory.
            packed = hashes.astype(np.uint64)
            del hashes
            packed <<= np.uint64(32)
            packed |= owners
            del owners
            packed.sort()
            owners = packed.astype(np.uint32)  # the low 32 bits
            packed >>= np.uint64(32)
            arrays = packed.astype(np.uint32), owners
        self.codes, self.owners = arrays

    def near(self, keys: Iterable[str]) -> set[str]:
        """The words with a deletion variant among `keys`."""
        wanted = np.fromiter(map(_code, keys), dtype=np.uint32)
        starts = np.searchsorted(self.codes, wanted, side="left").tolist()
        ends = np.searchsorted(self.codes, wanted, side="right").tolist()
        words = self._words
        found: set[str] = set()
        for start, end in zip(starts, ends, strict=True):
            if start < end:
                found.update(words[owner] for owner in self.owners[start:end].tolist())
        return found


# Results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One account considered for a lead, with its best evidence."""

    account_id: str
    confidence: float
    method: Method


@dataclass(frozen=True)
class AccountMatch:
    """The account a lead was matched to, how, and how sure the matcher is.

    `candidates` are the top accounts considered (the chosen one included), `block_size` how
    many accounts the candidate block held (each scored, or bounded below what could change
    the match), `notes` any disagreement between the domain and the typed name,
    `alias` the account's other name (former or trade name) the typed name matched, if any.
    """

    account_id: str
    name: str | None
    domain: str | None
    owner_email: str | None
    parent_account_id: str | None
    method: Method
    confidence: float
    matched_on: str
    alias: str | None = None
    candidates: tuple[Candidate, ...] = ()
    tie_break: str | None = None
    block_size: int = 0
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict for the lead state."""
        out = asdict(self)
        out["candidates"] = [asdict(candidate) for candidate in self.candidates]
        out["notes"] = list(self.notes)
        return out


@dataclass(slots=True)
class _Account:
    index: int
    account_id: str
    name: str | None
    domain: str | None
    domains: tuple[str, ...]
    labels: tuple[str, ...]
    owner_email: str | None
    parent_account_id: str | None
    tokens: tuple[str, ...]
    primary: int = 0
    alias: str | None = None
    brand: str | None = None
    weight: float = 0.0


@dataclass
class _Evidence:
    confidence: float
    method: Method
    matched_on: str
    alias: str | None = None


@dataclass(frozen=True)
class _Part:
    matches: dict[str, float]
    truncations: frozenset[str]
    weight: float
    rarity: int


@dataclass(frozen=True)
class _Wanted:
    """Which name evidence can change an answer: any reaching `floor`; below it, only the
    best `top` when some evidence reaches `threshold` (the candidates listed with a match)."""

    floor: float
    threshold: float
    top: int


def _last_listed(best: dict[int, float], top: int) -> float:
    """The lowest confidence among the `top` best accounts; 0 while there are fewer."""
    if len(best) < top:
        return 0.0
    return heapq.nlargest(top, best.values())[-1]


class _Numbers:
    """Entry numbers by key, in the order added. Most keys (a name, a domain, a brand) have
    one entry, kept as the number itself rather than a list of one: 70 bytes less each."""

    __slots__ = ("_map",)

    def __init__(self) -> None:
        self._map: dict[str, int | list[int]] = {}

    def add(self, key: str, number: int) -> None:
        found = self._map.get(key)
        if found is None:
            self._map[key] = number
        elif isinstance(found, int):
            self._map[key] = [found, number]
        else:
            found.append(number)

    def get(self, key: str) -> list[int]:
        """The numbers under `key`; empty for a key never added."""
        found = self._map.get(key)
        if found is None:
            return []
        return [found] if isinstance(found, int) else found

    __getitem__ = get

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def counts(self) -> Iterator[tuple[str, int]]:
        """Each key with how many numbers it has."""
        for key, found in self._map.items():
            yield key, 1 if isinstance(found, int) else len(found)


Offer = Callable[[int, float, Method], None]


class _SavedNames:
    """The words of each name as `AccountIndex.saved_columns` kept them, handed out in the
    order a build meets the names: an account's own, then the aliases it kept."""

    def __init__(self, tokens: list[str], aliases: list[str | None]) -> None:
        self._entries = zip(tokens, aliases, strict=True)
        self._next = next(self._entries, None)

    def _take(self) -> tuple[str, ...]:
        assert self._next is not None
        words = tuple(self._next[0].split())
        self._next = next(self._entries, None)
        return words

    def own(self) -> tuple[str, ...]:
        """The words of the next account's own name."""
        if self._next is None or self._next[1] is not None:
            raise ValueError("the saved names do not follow the accounts")
        return self._take()

    def alias(self, alias: str) -> tuple[str, ...] | None:
        """The words of this alias of the account, or None when the build left it out."""
        return self._take() if self._next is not None and self._next[1] == alias else None

    def finish(self) -> None:
        if self._next is not None:
            raise ValueError("more names saved than the accounts have")


# The index -----------------------------------------------------------------------------------


class AccountIndex:
    """Known accounts indexed by domain, name (words run together), initials and words.

    `threshold`: the confidence below which `match` abstains. `margin`: how close an unrelated
    runner-up may come before both lose confidence as ambiguous. `saved_columns`,
    `saved_arrays` and `from_saved` turn a built index into plain lists and arrays and back,
    so that a process can keep it between starts instead of building it again.
    """

    def __init__(
        self,
        accounts: Iterable[Mapping[str, Any]],
        *,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        domains_normalized: bool = False,
    ) -> None:
        """Index `accounts`; `domains_normalized`: their `domain` and `website` are registrable
        domains already (`read_accounts_csv` rows), not to be normalized again."""
        self.threshold = threshold
        self.margin = margin
        with collector_paused():
            self._start()
            # A row's website is often its domain: normalized once.
            domains: dict[str | None, str | None] = {}
            for row in accounts:
                self._add(row, None if domains_normalized else domains)
            self._finish()
            keep_built(len(self._accounts))

    def _start(self) -> None:
        # One entry per name: an account's own name, then each of its aliases.
        self._accounts: list[_Account] = []
        self._aliases: dict[int, list[int]] = {}  # an account with aliases → its names
        self._by_id: dict[str, _Account] = {}
        self._by_domain = _Numbers()
        self._by_compact = _Numbers()
        self._by_initialism = _Numbers()
        self._postings = _Numbers()
        # Words of five letters or more by how they sound (`sound_key`), in the order seen.
        self._sounds: dict[str, tuple[str, ...]] = {}

    def _finish(self, edits: Mapping[str, np.ndarray] | None = None) -> None:
        """Everything derived from the names added; `edits`: the one-edit indexes' arrays
        (`saved_arrays`), else they are computed."""
        # Words and whole names a typo may be one edit away from.
        self._token_edits = _OneEditIndex(
            (token for token in self._postings if TYPO_MIN_LENGTH <= len(token) <= TYPO_MAX_LENGTH),
            None if edits is None else (edits["token_codes"], edits["token_owners"]),
        )
        self._compact_edits = _OneEditIndex(
            (compact for compact in self._by_compact if 8 <= len(compact) <= COMPACT_MAX_LENGTH),
            None if edits is None else (edits["compact_codes"], edits["compact_owners"]),
        )
        self._parents = frozenset(
            account.parent_account_id
            for account in self._accounts
            if account.parent_account_id in self._by_id
        )
        accounts, postings = self._accounts, self._postings
        # How many accounts use each word: its entries, unless some are aliases.
        self._frequency = (
            {
                token: len({accounts[index].primary for index in postings.get(token)})
                for token in postings
            }
            if self._aliases
            else dict(postings.counts())
        )
        self._max_weight = math.log(1 + max(len(self._by_id), 1))
        self._weights = {
            token: self._weight_for(token, frequency)
            for token, frequency in self._frequency.items()
        }
        weights = self._weights
        for account in accounts:
            account.weight = sum(weights[token] for token in account.tokens)
            account.brand = _brand(account.tokens)
        self._vocabulary = sorted(self._postings)
        # For bounding scores (`_block_scores`): each name's weight, the least it adds to the
        # denominator of its score (the omitted-word discount taken in full), its brand as a
        # number in the vocabulary (-1 for none), and the postings of common words as arrays.
        count = len(accounts)
        self._name_weights = np.fromiter(
            (account.weight for account in accounts), dtype=np.float64, count=count
        )
        self._least_rest = self._name_weights - OMITTED_WORD_DISCOUNT * np.fromiter(
            (sum(map(weights.__getitem__, frozenset(account.tokens))) for account in accounts),
            dtype=np.float64,
            count=count,
        )
        self._brands = np.fromiter(
            (self._word_number(account.brand) for account in accounts),
            dtype=np.int64,
            count=count,
        )
        self._common_postings = {
            token: np.array(postings.get(token), dtype=np.int64)
            for token, count in postings.counts()
            if count > BLOCK_POSTING_CAP
        }

    def __len__(self) -> int:
        return len(self._by_id)

    def take_over(self, fresh: AccountIndex) -> None:
        """Serve `fresh`'s accounts from now on, in one step (a refreshed directory): build
        the new index aside, then swap it in under the callers holding this one."""
        self.__dict__ = dict(fresh.__dict__)

    def _add(
        self,
        row: Mapping[str, Any],
        domains_seen: dict[str | None, str | None] | None,
        saved: _SavedNames | None = None,
    ) -> None:
        """Index one account row: its own name and each alias not spelt like another of its
        names. `domains_seen` memoizes normalized domains (None: the row's are normalized
        already); `saved` gives the names' words as an earlier build found them."""
        account_id = str(row["account_id"])
        if account_id in self._by_id:
            return
        found = [row.get("domain"), row.get("website")]
        if domains_seen is not None:
            for number, raw in enumerate(found):
                if raw not in domains_seen:
                    domains_seen.clear()  # only the row's own values repeat
                    domains_seen[raw] = registrable_domain(raw)
                found[number] = domains_seen[raw]
        domains = tuple(dict.fromkeys(domain for domain in found if domain))
        parent = row.get("parent_account_id")
        account = self._account(
            len(self._accounts),
            account_id,
            row.get("name") or None,
            domains,
            row.get("owner_email") or None,
            str(parent) if parent else None,
            _fresh_name_tokens(row.get("name")) if saved is None else saved.own(),
        )
        self._add_name(account, sounds=saved is None)
        known = {account.tokens}
        for alias in split_aliases(row.get("aliases")):
            if saved is not None:
                tokens = saved.alias(alias)
                if tokens is None:
                    continue
            else:
                tokens = _fresh_name_tokens(alias)
                if not tokens or tokens in known:
                    continue
                known.add(tokens)
            entry = replace(account, index=len(self._accounts), tokens=tokens, alias=alias)
            self._add_name(entry, sounds=saved is None)

    def _account(
        self,
        index: int,
        account_id: str,
        name: str | None,
        domains: tuple[str, ...],
        owner_email: str | None,
        parent_account_id: str | None,
        tokens: tuple[str, ...],
    ) -> _Account:
        """An account's own name entry, indexed by its id and domains (not yet by name)."""
        account = _Account(
            index=index,
            account_id=account_id,
            name=name,
            domain=domains[0] if domains else None,
            domains=domains,
            labels=tuple(dict.fromkeys(label for label in map(_domain_label, domains) if label)),
            owner_email=owner_email,
            parent_account_id=parent_account_id,
            tokens=tokens,
            primary=index,
        )
        self._by_id[account_id] = account
        for domain in domains:
            self._by_domain.add(domain, index)
        return account

    def _add_name(self, entry: _Account, *, sounds: bool = True) -> None:
        """Index one name of an account (its own or an alias) under the name indexes; with
        `sounds`, its new words under how they sound."""
        self._accounts.append(entry)
        if entry.alias is not None:
            self._aliases.setdefault(entry.primary, [entry.primary]).append(entry.index)
        tokens = entry.tokens
        if not tokens:
            return
        compact = "".join(tokens)
        self._by_compact.add(compact, entry.index)
        initials = initialism(tokens)
        if initials:
            self._by_initialism.add(initials, entry.index)
        postings = self._postings
        for token in dict.fromkeys(tokens) if len(tokens) > 1 else tokens:
            if (
                sounds
                and token not in postings
                and TYPO_MIN_LENGTH <= len(token) <= TYPO_MAX_LENGTH
            ):
                key = sound_key.__wrapped__(token)  # each word once: no use caching
                self._sounds[key] = (*self._sounds.get(key, ()), token)
            postings.add(token, entry.index)

    # Kept between starts -------------------------------------------------------------------

    def saved_columns(self) -> Iterator[tuple[str, list[Any]]]:
        """What is slow to compute from the account rows, as JSON-ready columns one at a
        time, for `from_saved`: the words of each name (each account's own, then its aliases
        kept, with the alias), and the words by how they sound."""
        yield "tokens", [" ".join(account.tokens) for account in self._accounts]
        yield "alias", [account.alias for account in self._accounts]
        yield "sound_keys", list(self._sounds)
        yield "sound_words", [" ".join(words) for words in self._sounds.values()]

    def saved_arrays(self) -> dict[str, np.ndarray]:
        """The one-edit indexes' arrays, for `from_saved`."""
        return {
            "token_codes": self._token_edits.codes,
            "token_owners": self._token_edits.owners,
            "compact_codes": self._compact_edits.codes,
            "compact_owners": self._compact_edits.owners,
        }

    @classmethod
    def from_saved(
        cls,
        accounts: Iterable[Mapping[str, Any]],
        columns: Mapping[str, list[Any]],
        arrays: Mapping[str, np.ndarray],
        *,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
    ) -> AccountIndex:
        """The index of `accounts` (rows with their domains normalized) that `saved_columns`
        and `saved_arrays` were taken from, answering every `match` and `candidates` alike,
        without normalizing a name or domain again.

        Raises ValueError (or KeyError, TypeError) on columns or arrays that are not such an
        index's, or not of these accounts.
        """
        edits = {
            name: np.asarray(arrays[name], dtype=np.uint32)
            for name in ("token_codes", "token_owners", "compact_codes", "compact_owners")
        }
        index = cls.__new__(cls)
        index.threshold = threshold
        index.margin = margin
        with collector_paused():
            index._start()
            saved = _SavedNames(columns["tokens"], columns["alias"])
            for row in accounts:
                index._add(row, None, saved)
            saved.finish()
            index._sounds = {
                key: tuple(words.split())
                for key, words in zip(columns["sound_keys"], columns["sound_words"], strict=True)
            }
            index._finish(edits)
            keep_built(len(index._accounts))
        for edit in (index._token_edits, index._compact_edits):
            codes, owners = edit.codes, edit.owners
            if codes.ndim != 1 or codes.shape != owners.shape:
                raise ValueError("one-edit codes and owners differ in shape")
            if codes.size and (
                bool((codes[1:] < codes[:-1]).any()) or int(owners.max()) >= len(edit._words)
            ):
                raise ValueError("one-edit codes unsorted, or owners beyond the words")
        return index

    def _weight_for(self, token: str, frequency: int) -> float:
        """Rarity of a token among account names, generic and location words capped low."""
        weight = math.log(1 + len(self._by_id) / frequency) if frequency else self._max_weight
        if not frequency:
            weight *= UNKNOWN_WEIGHT_SHARE
        if token in GENERIC_TOKENS or token in FORM_TOKENS:
            weight = min(weight, self._max_weight * GENERIC_WEIGHT_SHARE)
        if token.startswith(LOCATION_PREFIX):
            weight = min(weight, self._max_weight * LOCATION_WEIGHT_SHARE)
        if len(token) == 1:
            weight *= SINGLE_CHAR_WEIGHT_SHARE
        return weight

    def _word_number(self, token: str | None) -> int:
        """A directory word's place in the sorted vocabulary; -1 for None or another word."""
        if token is None:
            return -1
        number = bisect.bisect_left(self._vocabulary, token)
        found = number < len(self._vocabulary) and self._vocabulary[number] == token
        return number if found else -1

    def _weight(self, token: str) -> float:
        weight = self._weights.get(token)
        return self._weight_for(token, 0) if weight is None else weight

    # Public API ------------------------------------------------------------------------------

    def match(
        self,
        *,
        email_domain: str | None = None,
        website_domain: str | None = None,
        company_name: str | None = None,
        own_domains: Iterable[str] = (),
    ) -> AccountMatch | None:
        """The account this lead belongs to, or None when no account reaches the threshold.

        `email_domain` may be a bare domain, a host or the whole address. Domain evidence
        (email, then website) decides when it names an account; the typed company then only
        chooses among accounts sharing that domain, and a typed company naming another,
        unrelated account lowers the confidence to 0.90 and is reported, because the mailbox is
        better evidence of where the person works than what they type. Without domain evidence
        the name decides, abstaining on weak, contradicted or ambiguous names.
        """
        own = {domain for domain in map(registrable_domain, own_domains) if domain}
        sources: tuple[tuple[str | None, Method, float], ...] = (
            (email_domain, "email_domain", CONF_EMAIL_DOMAIN),
            (website_domain, "website", CONF_WEBSITE),
        )
        lead_domains: list[tuple[str, Method, float]] = []
        for raw, method, confidence in sources:
            domain = registrable_domain(raw)
            if domain and _corporate(domain, own):
                lead_domains.append((domain, method, confidence))

        tokens = name_tokens(company_name)
        for domain, method, confidence in lead_domains:
            indexes = self._by_domain.get(domain)
            if indexes:
                return self._domain_match(domain, method, confidence, indexes, tokens)
        if not tokens:
            return None
        lead_labels = {label for label in (_domain_label(d) for d, _, _ in lead_domains) if label}
        floor = self.threshold - max(self.margin, 0.0)
        wanted = _Wanted(floor, self.threshold, TOP_CANDIDATES)
        evidence, block_size = self._name_evidence(tokens, lead_labels, wanted)
        if not evidence:
            return None
        return self._decide(evidence, block_size)

    def candidates(self, company_name: str) -> list[Candidate]:
        """Every account scored for a typed company name, best first: the candidate block."""
        evidence, _ = self._name_evidence(name_tokens(company_name), set())
        ranked = sorted(evidence.items(), key=lambda item: -item[1].confidence)
        return [self._candidate(index, ev) for index, ev in ranked]

    # Domain ----------------------------------------------------------------------------------

    def _domain_match(
        self,
        domain: str,
        method: Method,
        confidence: float,
        indexes: list[int],
        tokens: tuple[str, ...],
    ) -> AccountMatch | None:
        evidence = {index: _Evidence(confidence, method, domain) for index in indexes}
        notes: tuple[str, ...] = ()
        if tokens and len(indexes) > 1:
            # Several accounts share the domain: the typed name ranks them, slightly.
            for index in indexes:
                similarity = self._similarity(tokens, self._accounts[index])
                evidence[index].confidence -= 0.01 * (1 - similarity)
        elif tokens and self._similarity(tokens, self._accounts[indexes[0]]) < 0.5:
            account = self._accounts[indexes[0]]
            wanted = _Wanted(CONF_NAME_NAMES_ANOTHER, CONF_NAME_NAMES_ANOTHER, 0)
            others, _ = self._name_evidence(tokens, set(), wanted)
            rivals = [
                (index, ev)
                for index, ev in others.items()
                if ev.confidence >= CONF_NAME_NAMES_ANOTHER
                and not self._related(account, self._accounts[index])
            ]
            if rivals:
                index, ev = max(rivals, key=lambda item: item[1].confidence)
                evidence[account.index].confidence = CONF_DOMAIN_NAME_DISAGREE
                evidence[index] = replace(ev, confidence=CONF_DOMAIN_CONFLICT_CAP)
                notes = (
                    f"typed company names account {self._accounts[index].account_id} "
                    f"({ev.method}, {ev.confidence:.2f}); the {method} match wins",
                )
        return self._decide(evidence, len(indexes), ambiguity=False, notes=notes)

    # Name ------------------------------------------------------------------------------------

    def _name_evidence(
        self, tokens: tuple[str, ...], lead_labels: set[str], wanted: _Wanted | None = None
    ) -> tuple[dict[int, _Evidence], int]:
        """Name evidence per account for a normalized name, and how many accounts the
        candidate block held. Every account is scored unless `wanted` says which evidence can
        change the caller's answer (see `_block_scores`)."""
        evidence: dict[int, _Evidence] = {}
        if not tokens:
            return evidence, 0
        key = " ".join(tokens)

        def offer(index: int, confidence: float, method: Method) -> None:
            entry = self._accounts[index]
            current = evidence.get(entry.primary)
            if current is None or confidence > current.confidence:
                evidence[entry.primary] = _Evidence(confidence, method, key, entry.alias)

        compact = "".join(tokens)
        for index in self._by_compact.get(compact):  # the same words run together, or
            if self._accounts[index].tokens == tokens:  # the same words
                offer(index, CONF_NAME_EXACT, "name_exact")
        if len(compact) >= 4:
            for index in self._by_compact.get(compact):
                offer(index, CONF_NAME_COMPACT, "name_exact")
        self._initialism_evidence(tokens, lead_labels, offer)
        capped = self._capped(lead_labels)
        block = self._fuzzy_evidence(tokens, offer, evidence, capped, wanted)
        if lead_labels:
            for index, ev in evidence.items():
                ev.confidence = capped(index, ev.confidence)
        return evidence, max(block, len(evidence))

    def _capped(self, lead_labels: set[str]) -> Callable[[int, float], float]:
        """The confidence an account's name evidence keeps next to the lead's corporate
        domain labels: at most 0.40 when the account's domain has another label."""

        def capped(index: int, confidence: float) -> float:
            labels = self._accounts[index].labels
            if lead_labels and labels and lead_labels.isdisjoint(labels):
                return min(confidence, CONF_DOMAIN_CONFLICT_CAP)
            return confidence

        return capped

    def _initialism_evidence(
        self, tokens: tuple[str, ...], lead_labels: set[str], offer: Offer
    ) -> None:
        """Initials typed for a long account name, or a long name typed for initials."""
        if len(tokens) == 1 and 3 <= len(tokens[0]) <= 6:
            typed = tokens[0]
            for index in self._by_initialism.get(typed):
                account = self._accounts[index]
                corroborated = typed in account.labels or not lead_labels.isdisjoint(account.labels)
                offer(index, _initialism_confidence(corroborated), "name_initialism")
            return
        initials = initialism(tokens)
        for index in self._by_compact.get(initials or ""):
            corroborated = not lead_labels.isdisjoint(self._accounts[index].labels)
            offer(index, _initialism_confidence(corroborated), "name_initialism")

    def _lead_parts(self, tokens: tuple[str, ...]) -> tuple[list[tuple[_Part, ...]], float]:
        """The typed tokens as groups of parts, and the typed name's total weight.

        Two tokens whose concatenation, in either order, the directory knows are joined
        (`la velle` → `lavelle`; `microsystems qv` → `qvmicrosystems`, as word-sorted
        sources write it); an unknown run-on token is split into two known ones (`orrickinternat` →
        `orrick`, `international`), whose parts then only count together, for one account.
        """
        joined: list[str] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if index + 1 < len(tokens):
                following = tokens[index + 1]
                pair = next(
                    (
                        pair
                        for pair in (token + following, following + token)
                        if pair in self._postings
                    ),
                    None,
                )
                if pair and not (token in self._postings and following in self._postings):
                    joined.append(pair)
                    index += 2
                    continue
            joined.append(token)
            index += 1
        groups: list[tuple[_Part, ...]] = []
        lead_weight = 0.0
        for token in dict.fromkeys(joined):
            parts = tuple(self._part(piece) for piece in self._split(token))
            lead_weight += sum(part.weight for part in parts)
            if all(part.matches for part in parts):
                groups.append(parts)
        return groups, lead_weight

    def _part(self, token: str) -> _Part:
        matches, truncations = self._token_matches(token)
        if token in matches or not matches:
            weight = self._weight(token)
        else:
            weight = max(self._weight(vocab) for vocab in matches)
        rarity = min((self._frequency[vocab] for vocab in matches), default=0)
        return _Part(matches, truncations, weight, rarity)

    def _split(self, token: str) -> tuple[str, ...]:
        """An unknown run-on token as the fewest known words (`tarndouglasinds` →
        `tarn`, `douglas`, `industries`), or itself when it is no such run.

        Words are directory words of three or more letters (abbreviations expanded) and legal
        forms, which are dropped; after two or more words the last piece may also be the start
        of a legal form, as a fixed-width field cuts `…INDS B.V.` to `…INDSB`.
        """
        size = len(token)
        if (
            token in self._postings
            or not 5 <= size <= RUN_ON_MAX_LENGTH
            or token.startswith(LOCATION_PREFIX)
        ):
            return (token,)
        # best[i]: the fewest pieces covering token[:i], as (pieces, words kept).
        best: list[tuple[int, tuple[str, ...]] | None] = [None] * (size + 1)
        best[0] = (0, ())
        for end in range(1, size + 1):
            for start in range(end):
                before = best[start]
                if before is None or before[0] >= RUN_ON_MAX_PARTS:
                    continue
                piece = token[start:end]
                word = ABBREVIATIONS.get(piece, piece)
                if len(piece) >= (2 if start else 3) and word in self._postings:
                    kept: tuple[str, ...] = (*before[1], word)
                elif piece in UNAMBIGUOUS_LEGAL_TOKENS or (
                    end == size and len(before[1]) >= 2 and _starts_legal_form(piece)
                ):
                    kept = before[1]
                else:
                    continue
                current = best[end]
                if current is None or before[0] + 1 < current[0]:
                    best[end] = (before[0] + 1, kept)
        found = best[size]
        if found is None or found[0] < 2 or not found[1]:
            return (token,)
        return found[1]

    def _token_matches(self, token: str) -> tuple[dict[str, float], frozenset[str]]:
        """Directory tokens like one typed token with their similarity (0–1), and which of
        them are only truncations.

        A token the directory knows matches only itself; an unknown one matches words one
        edit away (typos) and, weakly, longer words it truncates.
        """
        if token in self._postings:
            return {token: 1.0}, frozenset()
        matches: dict[str, float] = {}
        if TYPO_MIN_LENGTH <= len(token) <= TYPO_MAX_LENGTH:
            variants = list(_deletes(token))
            neighbours = self._token_edits.near([token, *variants])
            neighbours.update(variant for variant in variants if variant in self._postings)
            for vocab in neighbours:
                if (
                    len(vocab) >= TYPO_MIN_LENGTH
                    and OSA.distance(token, vocab, score_cutoff=1) <= 1
                ):
                    matches[vocab] = _typo_similarity(token, vocab)
            for vocab, similarity in self._sound_alikes(token).items():
                matches[vocab] = max(similarity, matches.get(vocab, 0.0))
        if len(token) >= TRUNCATION_MIN_LENGTH:
            start = bisect.bisect_left(self._vocabulary, token)
            longer = []
            for vocab in self._vocabulary[start : start + TRUNCATION_FANOUT + 1]:
                if not vocab.startswith(token):
                    break
                if len(vocab) >= len(token) + 2:
                    longer.append(vocab)
            longer.extend(self._abbreviated(token))
            if len(longer) <= TRUNCATION_FANOUT:
                truncations = frozenset(vocab for vocab in longer if vocab not in matches)
                for vocab in truncations:
                    matches[vocab] = SIM_TRUNCATION
                return matches, truncations
        return matches, frozenset()

    def _sound_alikes(self, token: str) -> dict[str, float]:
        """Directory words spelt differently but sounding the same as an unknown typed word
        (`fenwick` → `phenwick`), scored like a one-letter typo of the same length, the first
        letter included (`ph` and `f` sound alike). Words under
        six letters are left out: `kopia` and `copia` are more often two companies than one
        misspelt."""
        if len(token) < SOUND_MIN_LENGTH:
            return {}
        return {
            vocab: _typo_similarity(token, vocab, same_start=True)
            for vocab in self._sounds.get(sound_key(token), ())
            if len(vocab) >= SOUND_MIN_LENGTH
        }

    def _abbreviated(self, token: str) -> list[str]:
        """Longer directory words an unknown word abbreviates by dropping letters, keeping its
        first three (`interunivir` → `interuniversitair`); plain truncations are found apart."""
        if len(token) < ABBREVIATION_MIN_LENGTH:
            return []
        head = token[:3]
        start = bisect.bisect_left(self._vocabulary, head)
        found = []
        for vocab in self._vocabulary[start : start + ABBREVIATION_SCAN]:
            if not vocab.startswith(head):
                break
            if (
                len(vocab) >= len(token) + 2
                and not vocab.startswith(token)
                and _subsequence(token, vocab)
            ):
                found.append(vocab)
        return found

    def _fuzzy_evidence(
        self,
        tokens: tuple[str, ...],
        offer: Offer,
        evidence: dict[int, _Evidence],
        capped: Callable[[int, float], float],
        wanted: _Wanted | None,
    ) -> int:
        """Score the candidate block by weighted token overlap; returns the block size."""
        groups, lead_weight = self._lead_parts(tokens)

        # The block: accounts sharing a rare matched token (or, failing that, the rarest).
        parts = sorted((part for group in groups for part in group), key=lambda p: p.rarity)
        block: set[int] = set()
        for part in parts:
            if block and (part.rarity > BLOCK_POSTING_CAP or len(block) >= BLOCK_MAX):
                break
            for vocab in part.matches:
                block.update(self._postings[vocab])

        compact = "".join(tokens)
        if 8 <= len(compact) <= COMPACT_MAX_LENGTH:
            variants = list(_deletes(compact))
            near = self._compact_edits.near([compact, *variants])
            near.update(variant for variant in variants if variant in self._by_compact)
            for other in near:
                if other != compact and OSA.distance(compact, other, score_cutoff=1) <= 1:
                    similarity = min(_typo_similarity(compact, other), CONF_FUZZY_CAP)
                    for index in self._by_compact[other]:
                        offer(index, similarity, "name_fuzzy")

        if wanted is None or len(block) <= BLOCK_MAX or lead_weight <= 0:
            scores = {
                index: self._score(groups, lead_weight, self._accounts[index]) for index in block
            }
        else:
            scores = self._block_scores(block, groups, lead_weight, evidence, capped, wanted)
        # Offered in the block's order, as without bounds, so that equal confidences rank alike.
        for index in filter(scores.__contains__, block):
            score = scores[index]
            if score > 0:
                offer(index, min(score, CONF_FUZZY_CAP), "name_fuzzy")
        return len(block)

    def _block_scores(
        self,
        block: set[int],
        groups: list[tuple[_Part, ...]],
        lead_weight: float,
        evidence: dict[int, _Evidence],
        capped: Callable[[int, float], float],
        wanted: _Wanted,
    ) -> dict[int, float]:
        """The scores of the block's names that can change the answer; the others are
        bounded and left out.

        A name's score is at most `2 * gain / (lead_weight + least_rest)`: its `gain` is at
        most the sum, over the typed parts, of the weighted similarity of every word of that
        name they match, and its denominator never drops below the typed name's weight plus
        the name's own less half of it (the omitted-word discount at most). When no typed
        part matches the name's brand there is no discount and the brand factor applies:
        `BRAND_UNMATCHED_FACTOR * 2 * gain / (lead_weight + weight)`. A name bounded
        below `wanted.floor` cannot lead, nor come within the ambiguity margin of a leader
        that reaches `wanted.threshold`; it matters only as one of the `wanted.top`
        candidates listed beside a match. So the names that may reach the floor are scored;
        when the evidence then gives no match the rest does not matter; else it is scored
        best bound first until the next bound is below the last listed candidate.
        """
        accounts = self._accounts
        gains: dict[str, float] = defaultdict(float)
        for group in groups:
            for part in group:
                for vocab, similarity in part.matches.items():
                    gains[vocab] += similarity * self._weight(vocab)
        gain = np.zeros(len(accounts))
        for vocab, value in gains.items():
            posting = self._common_postings.get(vocab)
            gain[self._postings[vocab] if posting is None else posting] += value
        # The block's names in its order, and their bounds.
        names = np.fromiter(block, dtype=np.int64, count=len(block))
        gain = gain[names]
        brands = self._brands[names]
        numbers = [number for number in map(self._word_number, gains) if number >= 0]
        brand_matched = np.isin(brands, numbers)
        rest = lead_weight + np.where(
            brand_matched, self._least_rest[names], self._name_weights[names]
        )
        factor = np.where(brand_matched | (brands < 0), 1.0, BRAND_UNMATCHED_FACTOR)
        with np.errstate(divide="ignore", invalid="ignore"):
            bounds = np.where(
                rest > 0, np.minimum(factor * 2 * gain / rest, CONF_FUZZY_CAP), CONF_FUZZY_CAP
            )
        bounds[gain <= 0] = 0.0

        best = {index: capped(index, ev.confidence) for index, ev in evidence.items()}
        scores: dict[int, float] = {}

        def score(index: int) -> None:
            account = accounts[index]
            value = scores[index] = self._score(groups, lead_weight, account)
            if value > 0:
                value = capped(account.primary, min(value, CONF_FUZZY_CAP))
                if value > best.get(account.primary, 0.0):
                    best[account.primary] = value

        def keep_places() -> None:
            """Score the other names of the accounts scored, which may come first in the
            block's order and so give the account its place among equal confidences."""
            if len(accounts) == len(self._by_id):
                return  # no aliases
            primaries = {accounts[index].primary for index in scores}
            for index in block:
                if index not in scores and accounts[index].primary in primaries:
                    score(index)

        for index in names[bounds + BOUND_SLACK >= wanted.floor].tolist():
            score(index)
        keep_places()
        if wanted.top and self._answers(block, scores, evidence, capped, wanted):
            order = np.argsort(-bounds, kind="stable").tolist()
            last = _last_listed(best, wanted.top)
            for index, bound in zip(names[order].tolist(), bounds[order].tolist(), strict=True):
                if bound <= 0 or bound + BOUND_SLACK < last:
                    break
                if index in scores:
                    continue
                score(index)
                if best.get(accounts[index].primary, 0.0) > last:
                    last = _last_listed(best, wanted.top)
            keep_places()
        return scores

    def _answers(
        self,
        block: set[int],
        scores: dict[int, float],
        evidence: dict[int, _Evidence],
        capped: Callable[[int, float], float],
        wanted: _Wanted,
    ) -> bool:
        """Whether the evidence so far gives a match: `_decide` on a copy, with the block's
        scores offered in its order. Evidence below `wanted.floor` changes neither the leader
        nor the ambiguity rule, so the answer is the one the whole block would give."""
        trial = {
            index: replace(ev, confidence=capped(index, ev.confidence))
            for index, ev in evidence.items()
        }
        for index in filter(scores.__contains__, block):
            score = scores[index]
            if score <= 0:
                continue
            primary = self._accounts[index].primary
            confidence = capped(primary, min(score, CONF_FUZZY_CAP))
            current = trial.get(primary)
            if current is None or confidence > current.confidence:
                trial[primary] = _Evidence(confidence, "name_fuzzy", "")
        if not trial or max(ev.confidence for ev in trial.values()) < wanted.threshold:
            return False
        return self._decide(trial, 0) is not None

    def _score(
        self, groups: list[tuple[_Part, ...]], lead_weight: float, account: _Account
    ) -> float:
        """Weighted Dice overlap (0–1) of the typed name's parts and one account's tokens.

        Zero unless some token matched better than a truncation; reduced when the account's
        leading word (usually its brand) is not among the matched ones.
        """
        gain = 0.0
        covered = 0.0
        strong = False
        matched: set[str] = set()
        for group in groups:
            found = []
            for part in group:
                best = max(
                    (
                        (sim * self._weight(vocab), sim, vocab)
                        for vocab, sim in part.matches.items()
                        if vocab in account.tokens
                    ),
                    default=None,
                )
                if best is None:
                    break
                found.append((best, part))
            else:
                for (value, _, vocab), part in found:
                    gain += value
                    covered += part.weight
                    strong = strong or vocab not in part.truncations
                    matched.add(vocab)
        total = lead_weight + account.weight
        if covered >= lead_weight - 1e-9 and self._unique_brand(account, matched):
            # Every typed word is in this account's name, and so is the directory's only use
            # of its brand: the words the typist left out say little.
            unmatched = sum(self._weight(token) for token in frozenset(account.tokens) - matched)
            total -= OMITTED_WORD_DISCOUNT * unmatched
        if not strong or not total:
            return 0.0
        score = 2 * gain / total
        if account.brand and account.brand not in matched:
            score *= BRAND_UNMATCHED_FACTOR
        return score

    def _unique_brand(self, account: _Account, matched: set[str]) -> bool:
        """The account's brand was matched and no other account's name uses it."""
        brand = account.brand
        return brand is not None and brand in matched and self._frequency.get(brand) == 1

    def _similarity(self, tokens: tuple[str, ...], account: _Account) -> float:
        """Weighted token overlap (0–1) of a typed name and the closest of an account's names."""
        indexes = self._aliases.get(account.primary, (account.primary,))
        names = [self._accounts[index] for index in indexes]
        if any(tokens == name.tokens for name in names):
            return 1.0
        groups, lead_weight = self._lead_parts(tokens)
        return max(self._score(groups, lead_weight, name) for name in names)

    # Decision ------------------------------------------------------------------------------

    def _related(self, one: _Account, other: _Account) -> bool:
        """Parent and child, siblings under one parent, or sharing a domain."""
        if one.parent_account_id and one.parent_account_id in (
            other.account_id,
            other.parent_account_id,
        ):
            return True
        return other.parent_account_id == one.account_id or any(
            domain in other.domains for domain in one.domains
        )

    def _candidate(self, index: int, ev: _Evidence) -> Candidate:
        return Candidate(self._accounts[index].account_id, round(ev.confidence, 4), ev.method)

    def _decide(
        self,
        evidence: dict[int, _Evidence],
        block_size: int,
        *,
        ambiguity: bool = True,
        notes: tuple[str, ...] = (),
    ) -> AccountMatch | None:
        """The best account when it reaches the threshold, after the ambiguity rule and the
        tie-breaks; None otherwise."""
        ranked = sorted(evidence.items(), key=lambda item: -item[1].confidence)
        leader = self._accounts[ranked[0][0]]
        if ambiguity:
            gap = next(
                (
                    ranked[0][1].confidence - ev.confidence
                    for index, ev in ranked[1:]
                    if not self._related(leader, self._accounts[index])
                ),
                None,
            )
            if gap is not None and gap < self.margin:
                penalty = AMBIGUITY_PENALTY * (1 - gap / self.margin)
                for _, ev in ranked:
                    ev.confidence -= penalty
        best = ranked[0][1].confidence
        if best < self.threshold:
            return None
        qualifying = [self._accounts[i] for i, ev in ranked if ev.confidence >= self.threshold]
        tied = [a for a in qualifying if evidence[a.index].confidence >= best - 1e-9]
        chosen, rule = self._tie_break(tied)
        if rule is None and len(qualifying) > 1:
            rule = "confidence"
        ev = evidence[chosen.index]
        return AccountMatch(
            account_id=chosen.account_id,
            name=chosen.name,
            domain=chosen.domain,
            owner_email=chosen.owner_email,
            parent_account_id=chosen.parent_account_id,
            method=ev.method,
            confidence=round(min(max(ev.confidence, 0.0), 1.0), 4),
            matched_on=ev.matched_on,
            alias=ev.alias,
            candidates=tuple(self._candidate(i, item) for i, item in ranked[:TOP_CANDIDATES]),
            tie_break=rule,
            block_size=block_size,
            notes=notes,
        )

    def _tie_break(self, tied: list[_Account]) -> tuple[_Account, str | None]:
        """One account among equally confident ones: owner, then parent, then lowest id."""
        if len(tied) == 1:
            return tied[0], None
        pool = [account for account in tied if account.owner_email] or tied
        if len(pool) == 1:
            return pool[0], "owner"
        parents = [
            account
            for account in pool
            if any(other.parent_account_id == account.account_id for other in pool)
        ] or [account for account in pool if account.account_id in self._parents]
        if len(parents) == 1:
            return parents[0], "parent"
        pool = parents or pool
        return min(pool, key=lambda account: _id_order(account.account_id)), "lowest_id"


def _brand(tokens: tuple[str, ...]) -> str | None:
    """The leading word of a name of several words that can be a brand: not a form or
    location word (`koninklijke vandel electronics` → `vandel`); None for one word."""
    if len(tokens) < 2:
        return None
    return next(
        (
            token
            for token in tokens
            if token not in FORM_TOKENS and not token.startswith(LOCATION_PREFIX)
        ),
        tokens[0],
    )


def _subsequence(short: str, long: str) -> bool:
    """Every letter of `short` appears in `long`, in order."""
    letters = iter(long)
    return all(letter in letters for letter in short)


def _starts_legal_form(piece: str) -> bool:
    """`b` or `bv`: the start of a legal form that is never part of a brand."""
    return any(form.startswith(piece) for form in UNAMBIGUOUS_LEGAL_TOKENS)


def _corporate(domain: str, own: set[str]) -> bool:
    """A domain worth matching on: not the team's own, not free-mail, not disposable."""
    return domain not in own and not is_free_mail(domain) and not is_disposable(domain)


def _typo_similarity(one: str, other: str, *, same_start: bool = False) -> float:
    """Similarity of two words one edit apart, by the longer one's length: 0.40 to 0.70 for
    five to eight letters (short words one edit apart are usually different words), then
    `1 - 1/(length - 2)`; 0.1 less when the first letter differs, as it is rarely mistyped
    (`same_start`: the first sounds are known to agree)."""
    length = max(len(one), len(other))
    similarity = TYPO_SHORT.get(length) or 1 - 1 / (length - 2)
    return similarity - 0.1 if one[0] != other[0] and not same_start else similarity


def _initialism_confidence(corroborated: bool) -> float:
    return CONF_INITIALISM_CORROBORATED if corroborated else CONF_INITIALISM


def _id_order(account_id: str) -> tuple[int, int, str]:
    return (0, int(account_id), "") if account_id.isdigit() else (1, 0, account_id)
