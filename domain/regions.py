"""Countries and sales regions.

`COUNTRY_REGION` maps every ISO 3166-1 alpha-2 code (plus `XK`, Kosovo, which CRMs use) to
one of the four sales regions: EMEA (Europe, the Middle East, Africa), NA (the United States,
Canada and US territories), LATAM (Mexico, Central and South America, the Caribbean) and APAC
(the rest of Asia, and Oceania).

`country_code` turns what people type into a country field into an alpha-2 code: ISO codes
(alpha-2 and alpha-3), English ISO names (short, official and common), reordered ISO names
("Republic of Korea"), everyday aliases ("USA", "U.S.", "UK", "Great Britain", "England",
"Holland") and native names ("Deutschland", "España", "Brasil", "Schweiz", "日本"). Matching
ignores case, accents, punctuation and a leading "the"; "St." and "Saint" are the same word.
`region_for` maps a code (or anything `country_code` understands) to its region.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

import pycountry

EMEA: Final = "EMEA"
NA: Final = "NA"
LATAM: Final = "LATAM"
APAC: Final = "APAC"
REGIONS: Final = (EMEA, NA, LATAM, APAC)

_BY_REGION: dict[str, str] = {
    EMEA: (
        "AD AE AL AM AO AT AX AZ BA BE BF BG BH BI BJ BW BY CD CF CG CH CI CM CV CY CZ DE DJ DK "
        "DZ EE EG EH ER ES ET FI FO FR GA GB GE GG GH GI GL GM GN GQ GR GW HR HU IE IL IM IO IQ "
        "IR IS IT JE JO KE KM KW LB LI LR LS LT LU LV LY MA MC MD ME MG MK ML MR MT MU MW MZ NA "
        "NE NG NL NO OM PL PS PT QA RE RO RS RU RW SA SC SD SE SH SI SJ SK SL SM SN SO SS ST SY "
        "SZ TD TF TG TN TR TZ UA UG VA XK YE YT ZA ZM ZW"
    ),
    NA: "AS BM CA GU MP PM PR UM US VI",
    LATAM: (
        "AG AI AR AW BB BL BO BQ BR BS BV BZ CL CO CR CU CW DM DO EC FK GD GF GP GS GT GY HN HT "
        "JM KN KY LC MF MQ MS MX NI PA PE PY SR SV SX TC TT UY VC VE VG"
    ),
    APAC: (
        "AF AQ AU BD BN BT CC CK CN CX FJ FM HK HM ID IN JP KG KH KI KP KR KZ LA LK MH MM MN MO "
        "MV MY NC NF NP NR NU NZ PF PG PH PK PN PW SB SG TH TJ TK TL TM TO TV TW UZ VN VU WF WS"
    ),
}

COUNTRY_REGION: Final[dict[str, str]] = {
    code: region for region, codes in _BY_REGION.items() for code in codes.split()
}

# Everyday names, abbreviations and native names. Keys go through the same normalization as
# the input, so accents, case and punctuation do not matter here.
_ALIASES: dict[str, tuple[str, ...]] = {
    "US": (
        "USA",
        "U.S.",
        "U.S.A.",
        "United States",
        "United States of America",
        "America",
        "the States",
        "Estados Unidos",
        "EE.UU.",
        "EEUU",
        "EUA",
        "États-Unis",
        "Vereinigte Staaten",
        "Stati Uniti",
        "Verenigde Staten",
    ),
    "GB": (
        "UK",
        "U.K.",
        "United Kingdom",
        "Great Britain",
        "Britain",
        "England",
        "Scotland",
        "Wales",
        "Northern Ireland",
        "Reino Unido",
        "Royaume-Uni",
        "Vereinigtes Königreich",
        "Großbritannien",
        "Regno Unito",
        "Verenigd Koninkrijk",
    ),
    "DE": ("Deutschland", "Allemagne", "Alemania", "Germania", "Duitsland", "Niemcy", "BRD"),
    "ES": ("España", "Espagne", "Spanien", "Spagna"),
    "BR": ("Brasil", "Brésil"),
    "NL": ("Holland", "Nederland", "Niederlande", "Pays-Bas", "Países Bajos", "Olanda"),
    "CH": (
        "Schweiz",
        "Suisse",
        "Svizzera",
        "Svizra",
        "Helvetia",
        "Confoederatio Helvetica",
        "Swiss Confederation",
    ),
    "AT": ("Österreich", "Oesterreich", "Autriche"),
    "FR": ("Frankreich", "Francia", "République française"),
    "IT": ("Italia", "Italie", "Italien"),
    "BE": ("Belgique", "België", "Belgien", "Bélgica"),
    "DK": ("Danmark", "Dänemark", "Danemark"),
    "SE": ("Sverige", "Schweden", "Suède"),
    "NO": ("Norge", "Noreg", "Norwegen", "Norvège"),
    "FI": ("Suomi", "Finnland"),
    "PL": ("Polska", "Polen", "Pologne"),
    "CZ": ("Czech Republic", "Czech Rep.", "Czech", "Česká republika", "Česko", "Tschechien"),
    "SK": ("Slovensko", "Slovak Republic"),
    "HU": ("Magyarország", "Ungarn", "Hongrie"),
    "HR": ("Hrvatska", "Kroatien"),
    "SI": ("Slovenija", "Slowenien"),
    "RO": ("România", "Rumänien"),
    "BG": ("България", "Bulgarien"),
    "GR": ("Ελλάδα", "Ellada", "Hellas", "Griechenland", "Grèce"),
    "IE": ("Éire", "Eire", "Republic of Ireland", "Irland", "Irlande"),
    "LU": ("Lëtzebuerg", "Luxemburg"),
    "LT": ("Lietuva",),
    "LV": ("Latvija",),
    "EE": ("Eesti",),
    "RU": ("Russia", "Rossiya", "Россия", "Russland"),
    "UA": ("Україна", "Ukraina"),
    "TR": ("Turkey", "Türkiye", "Turkiye", "Türkei"),
    "AE": ("UAE", "U.A.E.", "Emirates", "United Arab Emirates"),
    "SA": ("KSA", "Saudi", "Kingdom of Saudi Arabia"),
    "EG": ("Misr",),
    "ZA": ("RSA", "Suid-Afrika"),
    "CN": (
        "China",
        "PRC",
        "P.R.C.",
        "P.R. China",
        "People's Republic of China",
        "Mainland China",
        "Zhongguo",
        "中国",
    ),
    "HK": ("Hong Kong SAR", "Hong Kong S.A.R.", "Hongkong", "Hong Kong, China", "香港"),
    "MO": ("Macau", "Macao SAR", "Macau SAR", "澳門"),
    "TW": ("Taiwan", "Taiwan ROC", "台灣", "台湾"),
    "JP": ("Nippon", "Nihon", "日本"),
    "KR": (
        "Korea",
        "South Korea",
        "Korea South",
        "Korea (South)",
        "S. Korea",
        "Republic of Korea",
        "Rep. of Korea",
        "ROK",
        "대한민국",
        "한국",
    ),
    "KP": ("North Korea", "Korea (North)", "DPRK"),
    "IN": ("Bharat", "भारत"),
    "VN": ("Vietnam",),
    "LA": ("Laos",),
    "MM": ("Burma",),
    "TL": ("East Timor",),
    "PH": ("Philippines", "Pilipinas"),
    "MX": ("México", "Méjico"),
    "DO": ("República Dominicana",),
    "CI": ("Ivory Coast",),
    "CV": ("Cape Verde",),
    "SZ": ("Swaziland",),
    "MK": ("Macedonia", "FYROM"),
    "CD": ("DRC", "DR Congo", "Democratic Republic of Congo", "Congo-Kinshasa"),
    "CG": ("Republic of Congo", "Republic of the Congo", "Congo-Brazzaville"),
    "VA": ("Vatican", "Vatican City"),
    "PS": ("Palestine",),
    "SY": ("Syria",),
    "IR": ("Iran",),
    "MD": ("Moldova",),
    "BO": ("Bolivia",),
    "VE": ("Venezuela",),
    "TZ": ("Tanzania",),
    "FM": ("Micronesia",),
    "BN": ("Brunei",),
    "NZ": ("Aotearoa",),
    "VG": ("British Virgin Islands", "BVI"),
    "VI": ("US Virgin Islands", "U.S. Virgin Islands", "USVI"),
    "FK": ("Falklands", "Falkland Islands", "Malvinas"),
    "KN": ("St Kitts", "Saint Kitts"),
    "XK": ("Kosovo",),
}

_SPLIT = re.compile(r"[()\[\]/|,;–—]|\s-\s")
_NON_WORD = re.compile(r"[^\w]+")


def _key(value: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a country name or code."""
    text = unicodedata.normalize("NFKD", value)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " and ").replace(".", "").replace("'", "").replace("’", "")
    words = _NON_WORD.sub(" ", text).replace("_", " ").split()
    if words and words[0] == "the" and len(words) > 1:
        words = words[1:]
    return " ".join("saint" if word == "st" else word for word in words)


def _iso_names(country: object) -> list[str]:
    """The English names pycountry knows for one country, with "X, Y of" also as "Y of X"."""
    names = [
        getattr(country, attr)
        for attr in ("name", "official_name", "common_name")
        if getattr(country, attr, None)
    ]
    for name in list(names):
        if "," in name:
            head, _, tail = name.partition(",")
            names.append(f"{tail.strip()} {head.strip()}")
    return names


@functools.cache
def _lookup() -> dict[str, str]:
    """Normalized name or code → alpha-2, built once on first use."""
    table: dict[str, str] = {}
    bases: dict[str, set[str]] = {}
    for country in pycountry.countries:
        code = country.alpha_2
        table[_key(code)] = code
        table[_key(country.alpha_3)] = code
        for name in _iso_names(country):
            table.setdefault(_key(name), code)
        if "," in country.name:
            bases.setdefault(_key(country.name.partition(",")[0]), set()).add(code)
    for base, codes in bases.items():
        if len(codes) == 1:
            table.setdefault(base, next(iter(codes)))
    table[_key("XK")] = "XK"
    table[_key("XKX")] = "XK"
    for code, aliases in _ALIASES.items():
        for alias in aliases:
            table[_key(alias)] = code
    return table


@functools.lru_cache(maxsize=2048)
def country_code(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code for a country code, name, alias or native name; None if unknown.

    A value made of several parts ("Germany (DE)", "US - United States") resolves when every
    part names the same country. `XK` stands for Kosovo.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    upper = text.upper()
    if len(upper) == 2 and upper in COUNTRY_REGION:
        return upper
    table = _lookup()
    # One lower-case ASCII word (a word of a company name) is its own key.
    simple = text.isascii() and text.isalpha() and text.islower() and text != "st"
    found = table.get(text if simple else _key(text))
    if found or simple:
        return found  # a single plain word splits into no further parts
    parts = [part for part in (_key(p) for p in _SPLIT.split(text)) if part]
    if len(parts) < 2:
        return None
    codes = {table.get(part) for part in parts}
    if len(codes) == 1:
        return codes.pop()
    return None


def region_for(country: str | None) -> str | None:
    """Sales region (EMEA, NA, LATAM or APAC) of a country code or name; None if unknown."""
    if not country:
        return None
    region = COUNTRY_REGION.get(country.strip().upper())
    if region:
        return region
    code = country_code(country)
    return COUNTRY_REGION.get(code) if code else None


def country_name(code: str | None) -> str | None:
    """A country's short English name for a reader ("Germany", "South Korea"); the code
    itself when pycountry does not know it; None for no code."""
    if not code:
        return None
    country = pycountry.countries.get(alpha_2=code.strip().upper())
    if country is None:
        return "Kosovo" if code.strip().upper() == "XK" else code
    return str(getattr(country, "common_name", None) or country.name)
