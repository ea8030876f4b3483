"""Dates in a reply, in English, German, French, Spanish and Italian.

"back on 12 January", "zurück am 12.01.", "de retour le 12/01", "ping me in March", "after Q2",
"nach Ostern", "in zwei Wochen", "el próximo trimestre". Numeric dates read day first
(12/01 is 12 January) in every language. A date without a year is its next occurrence on or
after the reply's day. Pure: the text and the day it arrived in, dates out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "january januar janner janvier enero gennaio jan",
        "february februar fevrier febrero febbraio feb",
        "march marz mars marzo mar",
        "april avril abril aprile apr",
        "may mai mayo maggio",
        "june juni juin junio giugno jun",
        "july juli juillet julio luglio jul",
        "august aout agosto aug",
        "september septembre septiembre setiembre settembre sep sept",
        "october oktober octobre octubre ottobre oct okt",
        "november novembre noviembre nov",
        "december dezember decembre diciembre dicembre dec dez",
    ],
    start=1,
):
    for _name in _names.split():
        MONTHS[_name] = _number
# Short forms only count next to a day number ("12 Jan"), never alone ("mar" is the sea).
SHORT = {"jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "okt", "nov"}
SHORT |= {"dec", "dez"}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_LONG_MONTH = "|".join(sorted((m for m in MONTHS if m not in SHORT), key=len, reverse=True))

NUMBERS: dict[str, int] = {}
for _value, _words in enumerate(
    [
        "one a an ein eine einen einem un une uno una",
        "two couple zwei deux dos due",
        "three few drei trois tres tre",
        "four vier quatre cuatro quattro",
        "five funf cinq cinco cinque",
        "six sechs seis sei",
        "seven sieben sept siete sette",
        "eight acht huit ocho otto",
        "nine neun neuf nueve nove",
        "ten zehn dix diez dieci",
    ],
    start=1,
):
    for _word in _words.split():
        NUMBERS[_word] = _value
_NUM = r"\d{1,2}|" + "|".join(sorted(NUMBERS, key=len, reverse=True))

_AFTER = r"after|nach|apres|despues de(?:l)?|dopo(?: il| la| l')?|end of|ende|fin|finales de|fine"
_DAY_SUFFIX = r"(?:st|nd|rd|th|er|\.|º|°)?"

ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
NUMERIC = re.compile(
    r"(?<![\d.,/])(\d{1,2})(?:/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d%/])"
    r"|\.(\d{1,2})(?:\.(\d{4}|\d{2})\b|\.))"
)
DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}}){_DAY_SUFFIX}\s*(?:de\s+)?({_MONTH})\b\.?(?:\s+(?:de\s+)?(\d{{4}}))?"
)
MONTH_DAY = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?")
MONTH_ALONE = re.compile(
    rf"\b(in|im|ab|bis|from|until|till|by|en|a partir de|jusqu'en|hasta|a|ad|da|entro|verso"
    rf"|anfang|mitte|early|mid|{_AFTER})\s+(?:(?:de|del|di|el|le|il)\s+)?({_LONG_MONTH})\b"
    rf"(?:\s+(\d{{4}}))?"
)
QUARTER = re.compile(
    rf"\b(?:({_AFTER}|in|im|en|a|nel|para el|pour le|au|al)\s+(?:(?:the|le|el|il|del)\s+)?)?"
    rf"[qt]([1-4])\b(?:\s*/?\s*(\d{{4}}))?"
)
NEXT_PERIOD = re.compile(
    r"\b(?:next|nachste[nrs]?|prochaine?|proximo|proxima|prossim[oa])\s+"
    r"(week|woche|semaine|semana|settimana|month|monat|mois|mes|mese"
    r"|quarter|quartal|trimestre|year|jahr|annee|ano|anno)\b"
    r"|\b(?:la|le|el|il|l')\s*(semaine|mois|trimestre|annee|semana|mes|settimana|mese|anno)"
    r"\s+(?:prochaine?|proxim[oa]|prossim[oa]|que vient)\b"
)
RELATIVE = re.compile(
    rf"\b(?:in|dans|en|dentro de|tra|fra)\s+(?:a\s+)?({_NUM})\s+(?:of\s+)?"
    r"(days?|tagen?|jours?|dias?|giorni|weeks?|wochen?|semaines?|semanas?|settimane?"
    r"|months?|monaten?|mois|meses|mesi|mese)\b"
)
EASTER = re.compile(r"\b(?:easter|ostern|paques|pascua|semana santa|pasqua)\b")
CHRISTMAS = re.compile(
    rf"\b(?:{_AFTER})\s+(?:the |den |les |las |le )?(?:christmas|holidays|new year"
    r"|weihnachten|feiertagen|neujahr|noel|fetes|navidad|fiestas|natale|feste)\b"
)
SUMMER = re.compile(
    rf"\b(?:{_AFTER})\s+(?:the |dem |l'|el |l')?(?:summer|sommer|sommerferien|ete|verano|estate)\b"
)


@dataclass(frozen=True)
class FoundDate:
    """A date found in the text, and the words it was read from (as they were written)."""

    day: date
    text: str
    start: int


def fold(text: str) -> str:
    """Lower-case without accents, one character for each of the text's (so spans match)."""
    out = []
    for char in text.lower():
        base = [c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)]
        out.append(base[0] if len(base) == 1 else char)
    return "".join(out)


def easter(year: int) -> date:
    """Easter Sunday (Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def _year(value: str | None) -> int | None:
    if not value:
        return None
    number = int(value)
    return number + 2000 if number < 100 else number


def _next(today: date, month: int, day: int, year: int | None) -> date | None:
    """The date in `year`, or its next occurrence on or after today."""
    try:
        if year is not None:
            return date(year, month, day)
        found = date(today.year, month, day)
        return found if found >= today else date(today.year + 1, month, day)
    except ValueError:
        return None


def _month_start(month: int, year: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _quarter_start(today: date, quarter: int, year: int | None, after: bool) -> date:
    """The first day of the quarter (or of the one after it); a quarter already over this year
    is next year's."""
    month = 3 * quarter + 1 if after else 3 * quarter - 2
    if year is not None:
        return _month_start(month, year)
    if _month_start(3 * quarter + 1, today.year) <= today:
        return _month_start(month, today.year + 1)
    return max(_month_start(month, today.year), today)


def _period(today: date, unit: str) -> date:
    if unit in {"week", "woche", "semaine", "semana", "settimana"}:
        return today + timedelta(days=7 - today.weekday())
    if unit in {"month", "monat", "mois", "mes", "mese"}:
        return _month_start(today.month + 1, today.year)
    if unit in {"quarter", "quartal", "trimestre"}:
        return _month_start(3 * ((today.month - 1) // 3) + 4, today.year)
    return date(today.year + 1, 1, 1)


def _relative(today: date, amount: int, unit: str) -> date:
    if unit.startswith(("day", "tag", "jour", "dia", "giorn")):
        return today + timedelta(days=amount)
    if unit.startswith(("week", "woche", "semaine", "semana", "settiman")):
        return today + timedelta(weeks=amount)
    return _month_start(today.month + amount, today.year).replace(day=min(today.day, 28))


def find_dates(text: str, today: date) -> list[FoundDate]:
    """Every date the text names, in the order written; overlapping readings keep the first
    (most specific) one."""
    folded = fold(text)
    found: list[FoundDate] = []
    taken: list[tuple[int, int]] = []

    def add(match: re.Match[str], day: date | None) -> None:
        start, end = match.span()
        if day is None or any(start < e and s < end for s, e in taken):
            return
        taken.append((start, end))
        found.append(FoundDate(day, text[start:end].strip(), start))

    for m in ISO.finditer(folded):
        add(m, _next(today, int(m[2]), int(m[3]), int(m[1])))
    for m in DAY_MONTH.finditer(folded):
        add(m, _next(today, MONTHS[m[2]], int(m[1]), _year(m[3])))
    for m in MONTH_DAY.finditer(folded):
        add(m, _next(today, MONTHS[m[1]], int(m[2]), _year(m[3])))
    for m in NUMERIC.finditer(folded):
        day, month = int(m[1]), int(m[2] or m[4])
        if 1 <= month <= 12 and 1 <= day <= 31:
            add(m, _next(today, month, day, _year(m[3] or m[5])))
    for m in MONTH_ALONE.finditer(folded):
        month, year = MONTHS[m[2]], _year(m[3])
        if re.fullmatch(_AFTER, m[1]):
            month += 1
        start = _month_start(month, year if year is not None else today.year)
        if year is None and start < today.replace(day=1):
            start = _month_start(month, today.year + 1)
        add(m, start)
    for m in QUARTER.finditer(folded):
        after = bool(m[1] and re.fullmatch(_AFTER, m[1]))
        add(m, _quarter_start(today, int(m[2]), _year(m[3]), after))
    for m in NEXT_PERIOD.finditer(folded):
        add(m, _period(today, m[1] or m[2]))
    for m in RELATIVE.finditer(folded):
        amount = int(m[1]) if m[1].isdigit() else NUMBERS[m[1]]
        add(m, _relative(today, amount, m[2]))
    for m in EASTER.finditer(folded):
        sunday = easter(today.year)
        if sunday + timedelta(days=1) < today:
            sunday = easter(today.year + 1)
        add(m, sunday + timedelta(days=2))
    for m in CHRISTMAS.finditer(folded):
        add(m, date(today.year + 1, 1, 7) if today.month > 1 or today.day > 7 else today)
    for m in SUMMER.finditer(folded):
        add(m, _next(today, 9, 1, None))
    return sorted(found, key=lambda f: f.start)


RETURN_CUE = re.compile(
    r"\b(?:back|return(?:ing)?|returns|in the office|zuruck|wieder (?:im buro|da|erreichbar)"
    r"|de retour|retour|reviens|de vuelta|regreso|vuelvo|di ritorno|rientro|rientrero"
    r"|torno)\b"
)
UNTIL_CUE = re.compile(
    r"\b(?:until|till|through|bis(?: zum| einschliesslich)?|jusqu'au|jusqu'a|hasta(?: el)?"
    r"|fino al|fino a)\b"
)


def return_date(text: str, today: date) -> FoundDate | None:
    """When an out-of-office reply says its writer is back: the first date after a return cue,
    else the day after the first date after "until", else the last date named."""
    dates = find_dates(text, today)
    if not dates:
        return None
    folded = fold(text)
    for cue in RETURN_CUE.finditer(folded):
        after = [d for d in dates if 0 <= d.start - cue.end() <= 40]
        if after:
            return after[0]
    for cue in UNTIL_CUE.finditer(folded):
        after = [d for d in dates if 0 <= d.start - cue.end() <= 10]
        if after:
            return FoundDate(after[0].day + timedelta(days=1), after[0].text, after[0].start)
    return dates[-1]
