"""Write Lead Router's synthetic sample data (accounts and leads), deterministically.

`python infra/make_samples.py [--out DIR]` writes, into infra/ by default:

- accounts.csv: ~60 fictional B2B accounts with the ACCOUNTS_CSV columns of DESIGN §6 plus a
  `tier` property. About a third have an owner (a rep email from routing.yaml by region/size).
- sample_leads.jsonl: ~100 payloads for POST /webhooks/lead (DESIGN §5), one JSON object per
  line: leads at known accounts, unknown companies, free-mail, spam, a job seeker, support and
  partnership requests, exact duplicates (same event_id), same-person resubmissions and junk
  rows the API must reject with 422. Each line has an `_expect` object for tests:
  {"valid": bool, "duplicate_of_line": 1-based line of the identical earlier payload or null,
  "account_id": the account matched by the email or website domain, or null}.

All companies, people and domains are fictional; every run writes identical files.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import random
import unicodedata
from collections import namedtuple
from pathlib import Path

SEED = 20261104
HERE = Path(__file__).resolve().parent


def table(text: str) -> list[list[str]]:
    """Rows of a `|`-separated text table."""
    return [line.split("|") for line in text.strip().splitlines()]


# code | accounts | region | legal suffix | ccTLD | name locale | phone formats | city/state
COUNTRY_TABLE = """
US|14|NA|Inc.|.com|en|(###) 555-01##;+1 ###-555-01##;###.555.01##|Austin/TX;Chicago/IL;Boston/MA
CA|3|NA|Ltd.|.ca|en|(###) 555-01##;+1 ### 555 01##|Toronto/ON;Vancouver/BC;Montreal/QC
GB|5|EMEA|Ltd|.co.uk|en|020 7946 0###;+44 7700 900###|London/;Manchester/;Leeds/;Bristol/
DE|5|EMEA|GmbH|.de|de|+49 30 ########;030 ########|Berlin/BE;Munich/BY;Hamburg/HH;Cologne/NW
FR|4|EMEA|SAS|.fr|fr|01 ## ## ## ##;+33 6 ## ## ## ##|Paris/;Lyon/;Nantes/
NL|3|EMEA|B.V.|.nl|nl|+31 20 ### ####;020-#######|Amsterdam/;Utrecht/;Rotterdam/
ES|2|EMEA|S.L.|.es|es|+34 91 ### ## ##;91 ### ## ##|Madrid/;Barcelona/;Valencia/
IT|2|EMEA|S.r.l.|.it|it|+39 02 #### ####;02 ########|Milan/;Turin/;Bologna/
SE|2|EMEA|AB|.se|sv|08-### ### ##;+46 8 ### ### ##|Stockholm/;Gothenburg/;Malmö/
PL|2|EMEA|Sp. z o.o.|.pl|pl|+48 22 ### ## ##|Warsaw/;Kraków/;Wrocław/
CH|2|EMEA|AG|.ch|de|+41 44 ### ## ##;044 ### ## ##|Zurich/ZH;Basel/BS;Bern/BE
IE|2|EMEA|Ltd|.ie|en|+353 1 ### ####;(01) ### ####|Dublin/;Cork/;Galway/
JP|2|APAC|K.K.|.co.jp|ja|03-####-####;+81 6 #### ####|Tokyo/;Osaka/;Fukuoka/
SG|2|APAC|Pte. Ltd.|.com.sg|en|+65 6### ####;6###-####|Singapore/
AU|3|APAC|Pty Ltd|.com.au|en|(02) 5550 ####;0491 570 ###|Sydney/NSW;Melbourne/VIC;Brisbane/QLD
IN|3|APAC|Pvt. Ltd.|.in|in|+91 98### #####;080 #### ####|Bengaluru/KA;Pune/MH;Hyderabad/TS
BR|2|LATAM|Ltda.|.com.br|pt|(11) 9####-####;+55 41 9####-####|São Paulo/SP;Curitiba/PR
MX|2|LATAM|S.A. de C.V.|.com.mx|es|+52 55 #### ####;(81) #### ####|Mexico City/CDMX;Monterrey/NL
"""
Country = namedtuple("Country", "count region legal tld locale phones places")
COUNTRIES = {row[0]: Country(*row[1:]) for row in table(COUNTRY_TABLE)}
SPELLINGS = "US=USA;US=United States;GB=United Kingdom;DE=Deutschland;FR=France;ES=España;BR=Brasil"
# locale | first names | last names
NAME_TABLE = """
en|Olivia Marcus Hannah Declan Grace Owen Chloe Rowan Callum|Hartley Brennan Caldwell Keane Marlow
de|Lukas Anna Jonas Miriam Felix Katrin Tobias Sabine|Keller Brandt Hoffmann Vogel Lindner Böhm
fr|Camille Julien Élodie Mathieu Claire Antoine|Moreau Lefèvre Girard Rousseau Fontaine
es|Lucía Javier Marta Diego Carmen Pablo Inés Álvaro|Navarro Ortega Romero Delgado Castaño
it|Giulia Marco Chiara Davide Elena Luca Sara|Ferri Colombo Marino Greco Galli Rinaldi
nl|Daan Sanne Joris Femke Bram|Vermeulen Bakker Visser Smit Mulder
sv|Erik Linnea Oskar Maja Axel|Lindberg Ekström Nyqvist Holm Sandell
pl|Katarzyna Piotr Agnieszka Tomasz Marta|Nowak Kowalczyk Mazur Wróbel Kaczmarek
ja|Haruto Yui Kenji Aiko Sota Mei|Tanaka Watanabe Kobayashi Nakamura Yamada Ishikawa
in|Priya Arjun Ananya Rohan Kavya Vikram|Sharma Iyer Menon Kapoor Reddy Bhatt
pt|Beatriz Thiago Larissa Rafael Camila|Almeida Carvalho Ribeiro Souza Barros
"""
NAMES = {loc: (firsts.split(), lasts.split()) for loc, firsts, lasts in table(NAME_TABLE)}
STEM_TEXT = """Ambergate Brackenridge Duskfield Elmsworth Fennick Glimmerholt Hollowmere Isleward
Jarrowby Kelderwick Lumenvale Mossgrove Nimbrel Orrisdale Pellworth Quenby Rookhaven Saltrey
Tarnwick Umberly Veldmark Wrenfold Yarrowick Zanthorpe Brindlecote Caskwell Dovemarsh Eskerly
Fallowmere Gorsebrook Heronvale Ivelmoor Kittering Marlowick Nethercott Oxenmoor Pimbury
Ravelstone Sedgebury Thrushwell Vantmoor Wyndcliffe Zellmoor Arvenko Belvorra Cindral Dravona
Estrelo Galvestri Hesparo Ilvanta Jorvena Kastrelo Mirandel Novarin Osvaldi Pravena Quintara
Solvarda Tervani Ulvesta Vireloh Wexmoor Zorvane Tallowby Brevarin Corrimont Ashvelde
Merrowind Pendrathe Skellivar Torvika Lindqvar Ostrevia"""
STEMS = STEM_TEXT.split()
# industry | name nouns; the first nine are scoring.yaml's target_industries
INDUSTRY_TABLE = """
software|Software;Labs;Systems
saas|Cloud;Apps
fintech|Pay;Ledger
financial services|Capital;Financial
ecommerce|Commerce;Market
healthcare technology|Health;Medtech
cybersecurity|Security;Shield
marketing technology|Signals;Reach
logistics|Freight;Logistics
manufacturing|Industries;Works
education|Learning;Academy
retail|Retail;Goods
government|Civic Services;Public Data
media|Media;Studios
"""
INDUSTRY_NOUNS = {industry: nouns.split(";") for industry, nouns in table(INDUSTRY_TABLE)}
INDUSTRIES = list(INDUSTRY_NOUNS)
# name | domain | website host ("=": www.<domain>) | country | city | state | industry | employees |
# parent (row index)
FIXED_ACCOUNTS = """
Helvetia Robotics AG|helvetia-robotics.ch|www.helvetiarobotics.com|CH|Zurich|ZH|manufacturing|80000|
Helvetia Robotics Japan K.K.|helvetia-robotics.co.jp|=|JP|Osaka||manufacturing|1400|0
Northwind Freight GmbH|northwind-freight.de|=|DE|Hamburg|HH|logistics|4200|
Northwind Freight UK Ltd|northwindfreight.co.uk|northwindfreight.co.uk|GB|Leeds||logistics|310|2
Bluefjord Analytics AB|bluefjord.se|www.bluefjordanalytics.com|SE|Stockholm||software|340|
Larkspire Health Systems Inc.|larkspirehealth.com|=|US|Boston|MA|healthcare technology|12000|
Larkspire Health Canada Ltd.|larkspirehealth.ca|=|CA|Toronto|ON|healthcare technology|230|5
Quillmark Payments Pty Ltd|quillmark.com.au|www.quillmarkpay.com|AU|Sydney|NSW|fintech|620|
Tinderbox Kite Studio Ltd|tinderboxkite.ie|tinderboxkite.ie|IE|Galway||media|12|
"""
TITLE_TABLE = """
c_level|CEO;CFO;CRO;COO;Founder & CEO;Chief Marketing Officer
vp|VP Sales;VP Marketing;VP Revenue Operations;SVP Sales
director|Director of Marketing;Director of Sales;Head of RevOps;Head of Growth
manager|Sales Manager;Marketing Manager;RevOps Manager;Demand Gen Manager
ic|SDR;Account Executive;Software Engineer;Marketing Specialist;Intern
de|Geschäftsführer;Vertriebsleiter;Leiter Marketing
fr|Directeur Commercial;Responsable Marketing
es|Jefe de Ventas;Jefa de Marketing
it|Direttore Vendite;Responsabile Marketing
"""
TITLES = {key: titles.split(";") for key, titles in table(TITLE_TABLE)}
MESSAGE_TABLE = """
demo|Can we see a demo this week?
demo|We'd like a walkthrough of the routing rules.
demo|Could you show us a demo for a team of 40 reps?
demo|Please book a demo with our team.
demo-de|Können wir diese Woche eine Demo vereinbaren?
demo-fr|Pourriez-vous nous présenter une démo la semaine prochaine ?
demo-es|¿Podemos ver una demo la próxima semana?
pricing|What does pricing look like for 25 seats?
pricing|Do you offer annual pricing?
pricing|Can you send me your price list?
pricing|How much is it per user per month?
other|Just researching lead routing tools for now.
other|Is there a self-hosted option?
other|Does it work with our existing CRM?
other|Do you have a case study in our industry?
other|
support|Our login is broken since this morning.
support|Password reset emails never arrive.
support|Billing invoice question: we were charged twice for October.
support|SSO stopped working for our EMEA users, please help.
partnership|We're an agency and would like to discuss a reseller partnership.
partnership|Interested in a technology partnership and a joint integration.
urgency|Our contract with our current vendor ends this quarter.
urgency|We need to go live by end of next month.
urgency|This is urgent, we are switching from spreadsheets.
urgency|Our renewal deadline is in three weeks.
"""
MESSAGES: dict[str, list[str]] = {}
for _kind, _text in table(MESSAGE_TABLE):
    MESSAGES.setdefault(_kind, []).append(_text)
FORMS = {"demo": ["demo-request"] * 3 + ["webinar"], "pricing": ["pricing", "contact-sales"]}
FORMS["other"] = ["content", "webinar", "contact-sales"]
FREEMAIL = ["gmail.com", "outlook.com", "yahoo.com", "gmx.de"]
REPS = {"EMEA": ["ana", "ben"], "NA": ["dan", "erin"], "APAC": ["hana"], "small": ["farah", "gus"]}
SPAM = """
{"email": "xkqzvbt@yahoo.com", "first_name": "Xkqzvbt", "last_name": "Qwrtplk", "message": "asdk"}
{"email": "test123@mailinator.com", "full_name": "Test Test", "message": "free trial pls"}
"""
JUNK = """
{"first_name": "Nadia", "company": "Veldmark Cloud", "message": "Call me back"}
{"email": "not-an-email", "full_name": "Owen Brennan", "form_id": "pricing"}
{"email": 4155550123, "first_name": "Grace", "company": "Saltrey Goods"}
{"email": "tessa.marlow@wrenfold-example.com", "utm": "utm_source=google&utm_medium=cpc"}
{"email": "maria.lopez@", "first_name": "María", "last_name": "López", "source": "content"}
"""
COLUMNS = "account_id name domain website owner_email industry employees country state city"
COLUMNS += " parent_account_id tier"


def slug(text: str, sep: str = "") -> str:
    text = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    words = ["".join(c for c in w.lower() if c.isascii() and c.isalnum()) for w in text.split()]
    return sep.join(w for w in words if w)


def host(url: str) -> str:
    return url.split("//")[-1].split("/")[0].removeprefix("www.").lower()


def place(rng: random.Random, code: str) -> tuple[str, str]:
    city, state = rng.choice(COUNTRIES[code].places.split(";")).split("/")
    return city, state


def expect(valid: bool = True, account_id: str | None = None) -> dict:
    return {"valid": valid, "duplicate_of_line": None, "account_id": account_id}


def make_accounts(rng: random.Random) -> list[dict]:
    keys = ["name", "domain", "website", "country", "city", "state", "industry", "employees"]
    keys.append("parent")
    rows = [dict(zip(keys, row, strict=True)) for row in table(FIXED_ACCOUNTS)]
    stems = rng.sample(STEMS, len(STEMS))
    for code, (n, _region, legal, tld, *_rest) in COUNTRIES.items():
        for _ in range(int(n) - sum(r["country"] == code for r in rows)):
            stem, industry = stems.pop(), rng.choice(INDUSTRIES[:9] * 2 + INDUSTRIES[9:])
            noun = rng.choice(INDUSTRY_NOUNS[industry])
            domain = slug(f"{stem} {noun}", rng.choice(["", "-"])) if rng.random() < 0.4 else stem
            domain = domain.lower() + rng.choice([tld, tld, tld, ".com"])
            website = "=" if rng.random() < 0.7 else domain
            if rng.random() < 0.12:
                website = f"www.{slug(stem + noun)}.com"
            city, state = place(rng, code)
            size = max(int(round(12 * (80000 / 12) ** rng.random(), rng.choice([-1, 0]))), 12)
            row = [f"{stem} {noun} {legal}", domain, website, code, city, state, industry, size, ""]
            rows.append(dict(zip(keys, row, strict=True)))
    for i, row in enumerate(rows):
        row["account_id"], row["employees"] = f"ACC-{1001 + i}", int(row["employees"])
        row["parent_account_id"] = f"ACC-{1001 + int(row['parent'])}" if row["parent"] else ""
        row["website"] = "https://" + row["website"].replace("=", f"www.{row['domain']}")
        bands = [(10000, "strategic"), (1000, "enterprise"), (200, "mid-market"), (0, "smb")]
        row["tier"] = next(name for low, name in bands if row["employees"] >= low)
        row["owner_email"] = ""
    eligible = [r for r in rows if COUNTRIES[r["country"]].region != "LATAM" or r["tier"] == "smb"]
    turns: dict[str, int] = {}
    for row in sorted(rng.sample(eligible, len(rows) // 3), key=lambda r: r["account_id"]):
        region = COUNTRIES[row["country"]].region
        key = region if region == "APAC" or row["employees"] >= 1000 else "small"
        turns[key] = turns.get(key, -1) + 1
        row["owner_email"] = f"{REPS[key][turns[key] % len(REPS[key])]}@example.com"
    return rows


class LeadMaker:
    """Builds plausible form payloads; every random choice comes from one seeded Random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.turns: dict[str, int] = {}

    def rotate(self, key: str) -> str:
        """The next of TITLES[key] in turn, so every title shows up."""
        self.turns[key] = self.turns.get(key, -1) + 1
        return TITLES[key][self.turns[key] % len(TITLES[key])]

    def person(self, locale: str, domain: str) -> tuple[str, str, str]:
        while True:
            first, last = (self.rng.choice(names) for names in NAMES[locale])
            f, la = slug(first), slug(last)
            email = f"{self.rng.choice([f'{f}.{la}', f[0] + la, f, f'{f}_{la}'])}@{domain}"
            if email not in self.used:
                self.used.add(email)
                return first, last, email

    def title(self, intent: str, locale: str) -> str:
        first_round = self.turns.get(locale, -1) + 1 < len(TITLES.get(locale, []))
        if locale in TITLES and (first_round or self.rng.random() < 0.4):
            return self.rotate(locale)
        levels = {"support": ["manager", "ic"], "partnership": ["c_level", "director"]}.get(
            intent, ["c_level", "vp", "director", "director", "manager", "manager", "ic"]
        )
        return self.rotate(self.rng.choice(levels))

    def message(self, intent: str, locale: str) -> str | None:
        local = MESSAGES.get(f"{intent}-{locale}")
        text = self.rng.choice(local if local and self.rng.random() < 0.4 else MESSAGES[intent])
        if intent in ("demo", "pricing") and text.isascii() and self.rng.random() < 0.35:
            text = f"{text} {self.rng.choice(MESSAGES['urgency'])}"
        return text or None

    def lead(
        self,
        intent: str,
        company: str | None,
        domain: str,
        country: str,
        website: str | None = None,
        account: dict | None = None,
    ) -> dict:
        rng, locale = self.rng, COUNTRIES[country].locale
        first, last, email = self.person(locale, domain)
        out: dict = {"email": email.upper() if rng.random() < 0.05 else email}
        if rng.random() < 0.75:
            out.update(first_name=first, last_name=last)
        else:
            out["full_name"] = f"{first} {last}"
        out.update(company=company, title=self.title(intent, locale))
        if rng.random() < 0.75:
            pattern = rng.choice(COUNTRIES[country].phones.split(";"))
            out["phone"] = "".join(str(rng.randint(0, 9)) if c == "#" else c for c in pattern)
        spellings = [v for k, v in (p.split("=") for p in SPELLINGS.split(";")) if k == country]
        out["country"] = rng.choice([country, country, *spellings])
        city, state = (account["city"], account["state"]) if account else place(rng, country)
        out.update(state=state or None, city=city if rng.random() < 0.8 else None)
        if website and rng.random() < 0.4:
            out["website"] = website if rng.random() < 0.7 else host(website)
        out["message"] = self.message(intent, locale)
        form = rng.choice(FORMS.get(intent, ["contact-sales"]))
        if rng.random() < 0.8:
            out.update(form_id=form, source=rng.choice(["website", "landing-page"]))
        else:
            out["source"] = form
        if rng.random() < 0.85:
            out["event_id"] = f"evt_{rng.getrandbits(48):012x}"
        if rng.random() < 0.65:
            out["utm"] = {
                "source": rng.choice(["google", "linkedin", "newsletter", "partner"]),
                "medium": rng.choice(["cpc", "social", "email", "referral"]),
                "campaign": rng.choice(["routing-launch", "revops-summit", "q4-pipeline"]),
            }
        if rng.random() < 0.8:
            out["consent"] = {"marketing": rng.random() < 0.6, "privacy_policy": True}
        if rng.random() < 0.45:
            out["properties"] = {
                "team_size": rng.choice(["1-10", "11-50", "51-200", "200+"]),
                "use_case": rng.choice(["inbound routing", "lead scoring"]),
            }
        out = {k: v for k, v in out.items() if v is not None}
        out["_expect"] = expect(account_id=account and account["account_id"])
        return out


def index_of(rows: list[dict], row: dict) -> int:
    return next(i for i, x in enumerate(rows) if x is row)


def make_leads(rng: random.Random, accounts: list[dict]) -> list[dict]:
    mk, known, base = LeadMaker(rng), [], []
    customers = [a for a in accounts if a["owner_email"]]
    pool = rng.sample(accounts, len(accounts))
    intents = ["demo"] * 18 + ["pricing"] * 13 + ["other"] * 16 + ["support"] * 6
    for intent in [*intents, "partnership", "partnership", "partnership", "partnership"]:
        if intent == "support":
            acc = rng.choice(customers)
        else:
            acc = pool.pop() if rng.random() < 0.8 else rng.choice(accounts)
        domain, region = acc["domain"], COUNTRIES[acc["country"]].region
        if rng.random() < 0.12:
            domain = f"{region.lower()}.{domain}"
        elif host(acc["website"]) != acc["domain"] and rng.random() < 0.3:
            domain = host(acc["website"])
        company = acc["name"]
        if rng.random() < 0.3:
            company = company.removesuffix(" " + COUNTRIES[acc["country"]].legal)
        known.append(mk.lead(intent, company, domain, acc["country"], acc["website"], acc))
    taken = [a["domain"] for a in accounts] + [host(a["website"]) for a in accounts]
    stems = [s for s in STEMS if not any(slug(s) in t for t in taken)]
    for intent in ["demo"] * 5 + ["pricing"] * 4 + ["other"] * 4 + ["partnership"] * 2:
        code, industry = rng.choice(list(COUNTRIES)), rng.choice(INDUSTRIES)
        stem = stems.pop(rng.randrange(len(stems)))
        domain = slug(stem) + rng.choice([COUNTRIES[code].tld, ".com"])
        name = f"{stem} {rng.choice(INDUSTRY_NOUNS[industry])} {COUNTRIES[code].legal}"
        base.append(mk.lead(intent, name, domain, code, f"https://www.{domain}"))
    typed = [a["name"] for a in rng.sample(accounts, 3)] + ["Self-employed", "Marlow Consulting"]
    typed += ["Freelance", "Keane & Daughters", "Studio Nova Design", "Hartley Bakery", "n/a"]
    for intent, company in zip(["demo"] * 2 + ["pricing"] * 3 + ["other"] * 5, typed, strict=True):
        code = rng.choice(["US", "GB", "DE", "AU", "IN", "FR"])
        freemail = rng.choice(FREEMAIL if code == "DE" else FREEMAIL[:3])
        base.append(mk.lead(intent, company, freemail, code))
    job = mk.lead("other", None, "gmail.com", "US")
    job.update(title="Student", message="I'm looking for an SDR job, are you hiring? CV attached.")
    link_spam = mk.lead("other", "Rank Boost Agency", "outlook.com", "US")
    link_spam["title"] = "SEO Expert"
    link_spam["message"] = "Cheap SEO backlinks!!! http://rank-boost.example/buy http://seo.example"
    spam = [json.loads(line) | {"_expect": expect()} for line in SPAM.strip().splitlines()]
    junk = [json.loads(line) | {"_expect": expect(False)} for line in JUNK.strip().splitlines()]
    base += [*known, job, link_spam, *spam, *junk]
    rng.shuffle(base)
    originals = rng.sample([x for x in known if x.get("event_id")], 8)
    for orig in originals[:3]:
        again = copy.deepcopy(orig)
        again["event_id"] = f"evt_{rng.getrandbits(48):012x}"
        again["message"] = "Resending in case my earlier request got lost."
        base.insert(rng.randint(index_of(base, orig) + 1, len(base)), again)
    pairs = [(copy.deepcopy(orig), orig) for orig in originals[3:]]
    for dup, orig in pairs:
        base.insert(rng.randint(index_of(base, orig) + 1, len(base)), dup)
    for dup, orig in pairs:
        dup["_expect"]["duplicate_of_line"] = index_of(base, orig) + 1
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description="Write synthetic accounts.csv and leads.")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default infra/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    accounts = make_accounts(rng)
    leads = make_leads(rng, accounts)
    with open(args.out / "accounts.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS.split(), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(accounts)
    with open(args.out / "sample_leads.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(json.dumps(lead, ensure_ascii=False) + "\n" for lead in leads)
    print(f"wrote {len(accounts)} accounts and {len(leads)} leads to {args.out}")


if __name__ == "__main__":
    main()
