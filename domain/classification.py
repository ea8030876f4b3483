"""Classification: persona from the title, ICP segment, inbound intent and a spam/bot verdict.

Deterministic rules; every verdict lists the evidence it rests on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from domain.config import ScoringConfig
from domain.records import (
    Classification,
    Company,
    Intent,
    Lead,
    Persona,
    Provenance,
    Segment,
    Seniority,
    Spam,
)


def _rx(*words: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])(?:" + "|".join(words) + r")(?![\w])", re.IGNORECASE)


SENIORITY: list[tuple[Seniority, re.Pattern[str]]] = [
    (
        "c_level",
        _rx(
            r"c[eftmor]o",
            r"cxo",
            r"chief",
            r"founder",
            r"co-founder",
            r"cofounder",
            r"owner",
            r"president",
            r"managing director",
            r"geschäftsführer(?:in)?",
            r"gesch\.?\s?f\.?",
            r"pdg",
            r"directeur général",
            r"directrice générale",
            r"director general",
            r"amministratore delegato",
            r"partner",
        ),
    ),
    (
        "vp",
        _rx(
            r"vp",
            r"svp",
            r"evp",
            r"avp",
            r"vice[- ]president",
            r"vice presidente",
            r"vizepräsident",
            r"head",
            r"bereichsleiter(?:in)?",
        ),
    ),
    (
        "director",
        _rx(
            r"director",
            r"directora?",
            r"directeur",
            r"directrice",
            r"direttore",
            r"direttrice",
            r"diretor",
            r"leiter(?:in)?",
            r"vertriebsleiter(?:in)?",
            r"abteilungsleiter(?:in)?",
            r"dir\.?",
        ),
    ),
    (
        "manager",
        _rx(
            r"manager",
            r"mgr",
            r"lead",
            r"team lead",
            r"supervisor",
            r"jefe",
            r"jefa",
            r"responsable",
            r"gerente",
            r"responsabile",
            r"teamleiter(?:in)?",
            r"coordinator",
            r"principal",
        ),
    ),
    (
        "ic",
        _rx(
            r"engineer",
            r"developer",
            r"analyst",
            r"specialist",
            r"representative",
            r"rep",
            r"sdr",
            r"bdr",
            r"ae",
            r"account executive",
            r"associate",
            r"consultant",
            r"intern",
            r"student",
            r"assistant",
            r"admin",
            r"administrator",
            r"designer",
            r"scientist",
            r"architect",
            r"ingenieur",
            r"entwickler",
            r"referent(?:in)?",
            r"sachbearbeiter(?:in)?",
            r"technicien",
            r"analista",
            r"stagiaire",
            r"praktikant",
        ),
    ),
]

DEPARTMENT: list[tuple[str, re.Pattern[str]]] = [
    (
        "revops",
        _rx(
            r"revops",
            r"rev ops",
            r"revenue operations",
            r"sales operations",
            r"sales ops",
            r"marketing operations",
            r"marketing ops",
            r"go[- ]to[- ]market ops",
            r"gtm ops",
            r"crm",
        ),
    ),
    (
        "executive",
        _rx(
            r"ceo",
            r"founder",
            r"co-founder",
            r"owner",
            r"president",
            r"managing director",
            r"geschäftsführer(?:in)?",
            r"pdg",
            r"directeur général",
            r"amministratore delegato",
        ),
    ),
    (
        "sales",
        _rx(
            r"sales",
            r"cro",
            r"revenue",
            r"business development",
            r"sdr",
            r"bdr",
            r"account executive",
            r"ae",
            r"vertrieb\w*",
            r"vertriebsleiter(?:in)?",
            r"ventas",
            r"vendite",
            r"commercial",
            r"commerciale",
            r"comercial",
            r"account manager",
        ),
    ),
    (
        "marketing",
        _rx(
            r"marketing",
            r"cmo",
            r"growth",
            r"demand gen\w*",
            r"brand",
            r"content",
            r"communications?",
            r"mercadotecnia",
        ),
    ),
    (
        "it",
        _rx(
            r"cto",
            r"cio",
            r"engineer\w*",
            r"developer",
            r"software",
            r"it",
            r"technology",
            r"tech",
            r"data",
            r"security",
            r"devops",
            r"architect",
            r"ingenieur",
            r"entwickler",
            r"informatique",
            r"sistemas",
        ),
    ),
    (
        "finance",
        _rx(
            r"cfo",
            r"finance",
            r"financial",
            r"controller",
            r"accounting",
            r"procurement",
            r"purchasing",
            r"einkauf",
            r"achats",
        ),
    ),
    ("people", _rx(r"hr", r"human resources", r"people", r"talent", r"recruit\w*")),
    ("customer_success", _rx(r"customer success", r"support", r"customer service", r"cs")),
    ("operations", _rx(r"coo", r"operations", r"ops", r"logistics", r"supply chain")),
]


@dataclass(frozen=True)
class Cue:
    """Phrases (lower-case regexes) that count for intents; a negative weight counts against.

    A cue that is not `decisive` adds to an intent only when a decisive cue of that intent is
    also in the message; a cue with no weights masks its phrases from the cues listed after it.
    """

    weights: tuple[tuple[Intent, float], ...]
    phrases: tuple[str, ...]
    decisive: bool = True


def _cue(weights: dict[Intent, float], *phrases: str, decisive: bool = True) -> Cue:
    return Cue(tuple(weights.items()), phrases, decisive)


NO_SALES: dict[Intent, float] = {"demo": -3.0, "pricing": -3.0, "partnership": -3.0}

# Read left to right in one pass; where several cues match at the same place the one listed
# first wins, so "not looking for a job" counts against job_seeker and its "job" is not read.
INTENT_CUES: tuple[Cue, ...] = (
    # Opt-outs and negations.
    _cue(
        NO_SALES,
        r"unsubscribe",
        r"opt[- ]?out",
        r"remove (?:me|us) from (?:your|the|this) (?:mailing |email )?list",
        r"stop (?:emailing|contacting|calling) (?:me|us)",
        r"do not (?:contact|email) (?:me|us)",
        r"se désabonner",
        r"désinscri\w*",
        r"abmelden",
        r"darse de baja",
        r"disiscriv\w*",
        r"afmelden",
        r"stop sending (?:me|us)",
        r"(?:take|remove) (?:me|us) off",
        r"no more (?:emails|calls|newsletters)",
        r"never (?:signed|subscribed) up",
        r"(?:sent|submitted|filled (?:in|out)) (?:\S+ ){0,3}?by mistake",
        r"by mistake",
        r"(?:aus \S+ )?austragen",
        r"tragen sie mich aus",
        r"keine (?:weiteren |\S+ )?(?:e-mails|mails|anrufe|newsletter)(?: mehr)?",
        r"nicht mehr (?:kontaktieren|anrufen|anschreiben)",
        r"versehentlich",
        r"désinscrire",
        r"ne (?:\S+ )?(?:plus|pas) recevoir",
        r"retirez-(?:moi|nous)",
        r"par erreur",
        r"da(?:d|r)(?:me|nos) de baja",
        r"no (?:quiero|queremos) recibir",
        r"no (?:me |nos )?(?:envíen|enviéis|mandéis) más",
        r"por error",
        r"cancellat(?:emi|eci)",
        r"cancellar(?:mi|ci)",
        r"rimuovet(?:emi|eci)",
        r"non (?:voglio|vogliamo) più ricevere",
        r"per sbaglio",
    ),
    _cue({"demo": -2.0, "pricing": -2.0}, r"not interested", r"kein interesse", r"pas intéressée?"),
    _cue(
        {"demo": -2.0},
        r"no (?:need for a )?demo(?: needed| required| necessary)?",
        r"(?:don'?t|do not|doesn'?t|does not) need (?:a |the )?demo",
        r"not (?:interested in|looking for) (?:a |the )?demo",
        r"skip the demo",
        r"without a demo",
        r"keine demo",
        r"pas (?:besoin )?de démo",
        r"sin demo",
    ),
    _cue(
        {"demo": -1.5},
        r"just (?:researching|browsing|looking(?: around)?)",
        r"not ready to (?:buy|talk|commit)",
    ),
    _cue({"demo": -1.0, "pricing": -1.0}, r"no budget(?: yet)?"),
    _cue(
        {"support": -3.0},
        r"not (?:a |an )?(?:support|technical) (?:question|request|ticket|issue|problem)",
        r"no support (?:needed|required|question)",
        r"not (?:yet )?(?:a |an )(?:current |existing )?customer(?: yet)?",
    ),
    _cue(
        {"job_seeker": -3.0},
        r"not (?:looking for|seeking|after|applying for) (?:a |an )?(?:job|role|position|work)",
        r"not (?:a )?job (?:application|applicant|seeker|request)",
        r"not applying",
    ),
    _cue(
        {"partnership": -3.0},
        r"not (?:a |an )?(?:reseller|agency|partner|affiliate)(?: partner| partnership)?",
        r"not (?:looking|interested) (?:to partner|in (?:a |any )?partnerships?)",
    ),
    _cue(
        {"pricing": -2.0},
        r"not (?:about|asking about|a question about) (?:the )?pric(?:e|es|ing)",
        r"not (?:a )?pricing (?:question|request)",
    ),
    # Phrases that look like a cue and are not one.
    _cue(
        {},
        r"job titles?",
        r"jobs? to be done",
        r"(?:human|manual) errors?",
        r"error[- ]prone",
        r"trial and error",
        r"(?:we are|we're|we've been|we have been|we will be|we'll be) hiring",
        r"(?:24/7|premium|priority|dedicated|onboarding|phone|email) support",
        r"support (?:plans?|packages?|tiers?|slas?|hours|levels?)",
        r"(?:managing|senior|founding|general) partner",
        r"account (?:team|executive|manager|based)",
        r"(?:mark|classify|label|tag|flag|treat|set|route|score|grade)(?:ed)? "
        r"(?:this|it|me|the lead|this lead|this message)(?: lead| message)? (?:as|to) "
        r"(?:an? |the )?(?:hot |urgent |high[- ]priority |priority |qualified )?[\w-]+"
        r"(?: request| lead)?",
        r"(?:markieren|klassifizieren|einstufen|behandeln|werten) sie (?:dies|das|diese \S+) als "
        r"[\w-]+",
        r"(?:classez|marquez|traitez|considérez) (?:ceci|cela|ce lead|ce message) comme "
        r"(?:une |un )?(?:demande de )?[\w-]+",
        r"(?:clasifica|marca|trata)d? (?:esto|este lead|este mensaje) como (?:una |un )?"
        r"(?:solicitud de )?[\w-]+",
        r"(?:classifica|segna|tratta|marca) (?:questo|questo lead|questo messaggio) come "
        r"(?:una |un )?(?:richiesta di )?[\w-]+",
    ),
    # Vendor pitches, link selling, prize scams: spam, and not a purchase.
    _cue(
        {"spam": 2.0, "demo": -1.0, "pricing": -1.0},
        r"(?:demo|demonstration|presentation|walk ?-?through) of our",
        r"(?:show|present) you (?:how|our)",
        r"seo (?:services?|audits?|packages?|optimi[sz]ation)",
        r"search engine optimi[sz]ation",
        r"(?:discuss|improve|boost|fix) your (?:seo|website|site|rankings?|online presence)",
        r"(?:your|the) (?:website|site) (?:\S+ ){0,3}?(?:rank\w*|visible on google)",
        r"first page (?:of|on) google",
        r"(?:google|search) rankings?",
        r"link[- ]building",
        r"backlinks?",
        r"guest (?:posts?|articles?)",
        r"sponsored (?:posts?|articles?)",
        r"do-?follow(?: links?)?",
        r"(?:da|dr|domain authority) ?\d+\+?",
        r"(?:we|i) (?:can )?(?:offer|provide|sell|deliver|build|create|generate|get) (?:you |your "
        r"(?:\S+ )?)(?:high[- ]quality |affordable |cheap |more |\d[\d,.+]* )?\w+",
        r"(?:we|i) (?:offer|provide|sell) (?:high[- ]quality |affordable |cheap |professional "
        r"|premium )?(?:seo|link|backlink|guest|web design|website design|app development"
        r"|software development|outsourc|offshore|dedicated|lead generation)\w*",
        r"dedicated (?:offshore )?(?:developers|engineers|team)",
        r"offshore (?:developers|engineers|team|development)",
        r"outsourc\w+ (?:services|development|team)",
        r"(?:companies|businesses|teams|firms|brands) like yours",
        r"qualified (?:appointments|meetings|leads|calls) (?:per|a|every) (?:month|week)",
        r"(?:appointments|meetings) (?:per|a|every) month",
        r"(?:verified|targeted) (?:\S+ )?(?:emails?|contacts?|leads?|lists?)",
        r"list of [\d,.]+k? (?:\S+ )?(?:emails|contacts|leads)",
        r"decision[- ]maker (?:emails|contacts)",
        r"(?:increase|boost|grow|double|triple|improve) your (?:\S+ )?(?:traffic|rankings?|sales"
        r"|pipeline|revenue|visibility|online presence|leads)",
        r"(?:five|5)[- ]star reviews",
        r"(?:i'?m|i am) reaching out (?:because|to offer)",
        r"limited time offer",
        r"this week only",
        r"you(?:'ve| have)? (?:won|been selected)",
        r"click here",
        r"claim (?:your|it|now)",
        r"suchmaschinenoptimierung",
        r"bei google (?:\S+ ){0,2}?(?:sichtbar|gefunden|ranken)",
        r"erste[nr]? seite (?:bei|von|auf) google",
        r"gastbeitr(?:ag|äge)\w*",
        r"gesponserte[nr]? (?:artikel|beiträge?)",
        r"wir (?:bieten|verkaufen)(?: ihnen)? (?:professionelle |hochwertige |günstige )?"
        r"(?:seo|suchmaschinen\w*|backlinks|links|webdesign|termine)\w*",
        r"wir (?:erstellen|entwickeln|generieren) (?:ihnen |für sie )?ihre[nr]? \w+",
        r"(?:unternehmen|firmen) wie (?:ihres|ihre|ihrem)",
        r"qualifizierte termine",
        r"ihnen unser(?:en|e)? \S+ (?:\S+ ){0,4}?vorstellen",
        r"sie haben gewonnen",
        r"référencement",
        r"première page (?:de|sur) google",
        r"netlinking",
        r"articles? sponsorisés?",
        r"(?:nous|je) (?:vous )?(?:proposons|vendons|offrons) (?:des |nos )?(?:services de "
        r"|prestations de )?(?:référencement|seo|backlinks|liens|prospection)\w*",
        r"(?:nous|je) (?:créons|développons|générons) (?:votre|vos) \w+",
        r"(?:entreprises|éditeurs|sociétés) (?:saas |\S+ )?comme (?:la vôtre|vous)",
        r"rendez-vous qualifiés",
        r"prospection externalisée",
        r"vous avez gagné",
        r"cliquez ici",
        r"(?:démo|démonstration|présentation) de notre",
        r"vous présenter notre",
        r"posicionamiento (?:seo|web)",
        r"primera página de google",
        r"enlaces? (?:de calidad|dofollow)",
        r"artículos? patrocinados?",
        r"(?:ofrecemos|vendemos|publicamos) (?:servicios de )?(?:posicionamiento|seo|enlaces"
        r"|artículos|prospección)\w*",
        r"(?:desarrollamos|creamos) (?:tu|su|vuestra|vuestro) \w+",
        r"empresas (?:saas |\S+ )?como la (?:vuestra|suya|tuya)",
        r"reuniones cualificadas",
        r"(?:os|le|les|te) (?:muestro|enseño) (?:cómo|nuestro)",
        r"has ganado",
        r"haz clic aquí",
        r"posizionamento (?:seo|sui motori)",
        r"prima pagina di google",
        r"link di qualità",
        r"articoli? sponsorizzat[oi]",
        r"(?:offriamo|vendiamo) (?:servizi di )?(?:posizionamento|seo|link|lead generation)\w*",
        r"(?:realizziamo|sviluppiamo) (?:il tuo|il vostro|la vostra|la tua) \w+",
        r"aziende (?:saas |\S+ )?come la vostra",
        r"appuntamenti qualificati",
        r"vi mostro come",
        r"hai vinto",
    ),
    # Job-application phrasing: a job seeker, and not a purchase.
    _cue(
        {"job_seeker": 2.0, "demo": -1.0, "pricing": -1.0},
        r"(?:my|an?) application (?:for|to)",
        r"submitting my application",
        r"cover letter",
        r"(?:join|joining) your (?:team|company)",
        r"openings? for (?:an? )?(?:\S+ )?(?:engineers?|developers?|executives?|managers?|sdrs?"
        r"|bdrs?|designers?|analysts?|interns?|roles?|positions?)",
        r"(?:exploring|looking for|seeking) (?:new )?(?:opportunities|a new (?:role|job|position))",
        r"consider me for",
        r"(?:taking|accepting|hiring) (?:any )?(?:interns|applications|graduates)",
        r"(?:engineer|developer|manager|executive|sdr|bdr|designer|analyst|specialist"
        r"|representative|marketer)s? (?:posting|opening|role|position|vacancy)",
        r"bewerbe (?:ich )?mich",
        r"lebenslauf",
        r"anschreiben",
        r"werkstudent\w*",
        r"praktikumspl(?:atz|ätze)",
        r"stellenausschreibung",
        r"teil ihres teams",
        r"jobsuche",
        r"(?:neue|neuen) (?:stelle|position|herausforderung)",
        r"suchen sie (?:\S+ )?(?:verstärkung|mitarbeiter\w*)",
        r"postuler",
        r"candidature spontanée",
        r"lettre de motivation",
        r"rejoindre (?:votre|ton|vos) équipe",
        r"(?:un|de|du|mon) stage",
        r"recrutez-vous",
        r"(?:à la )?recherche d'un (?:emploi|stage|poste)",
        r"postular(?:me)?",
        r"unirme a (?:vuestro|su|tu) equipo",
        r"(?:hacer|busco|buscando|realizar|unas|de) prácticas",
        r"(?:estáis|están|estás) contratando",
        r"busco (?:empleo|trabajo|prácticas)",
        r"candidatura espontánea",
        r"candidarmi",
        r"far parte del vostro team",
        r"(?:uno|lo|di) stage",
        r"state assumendo",
        r"cerco (?:lavoro|uno stage|impiego)",
        r"candidatura spontanea",
        r"lettera di presentazione",
    ),
    # Buying context around words that otherwise read as support or a job.
    _cue(
        {"demo": 1.5},
        r"(?:please |can you |could you |would you )?help (?:us|me) (?:to )?(?:evaluate|choose"
        r"|compare|decide|assess|pick|select|understand|figure out|find|scale|grow|automate"
        r"|improve|speed up|replace|switch|migrate|route)",
        r"how (?:can|could|would|might) (?:you|your (?:product|platform|tool|team)) help",
    ),
    _cue(
        {"demo": 1.0},
        r"(?:our|the|my) (?:current|existing|old|legacy|present) (?:tools?|vendor|provider"
        r"|system|solution|platform|router|routing tool|setup|set-up|process|software)",
        r"switch(?:ing)? (?:away )?from",
        r"(?:looking for|need|want) (?:an? )?(?:alternatives?|replacement|new (?:tool|solution"
        r"|platform|vendor))",
        r"alternatives? to",
        r"replac(?:e|ing) (?:our|the|my)",
    ),
    _cue(
        {"pricing": 2.0},
        r"(?:annual|monthly|yearly) (?:billing|plans?|subscriptions?|contracts?)",
        r"billed (?:annually|monthly|yearly)",
        r"billing (?:options|terms|cycle|frequency)",
        r"pay(?:ing)? by invoice",
        r"invoic(?:e|ing) (?:options|terms)",
        r"(?:jährliche|monatliche)[nr]? (?:zahlung|abrechnung)",
        r"(?:monatlich|jährlich) (?:oder (?:monatlich|jährlich) )?abgerechnet",
        r"facturation (?:annuelle|mensuelle)",
        r"pago (?:anual|mensual)",
        r"fatturazione (?:annuale|mensile)",
    ),
    # Support.
    _cue(
        {"support": 2.0},
        r"(?:stopped|stops|quit) (?:working|loading|syncing|responding)",
        r"(?:not|isn'?t|aren'?t|wasn'?t|no longer|never) (?:working|loading|syncing|responding"
        r"|arriving|arrive|sending|updating|showing up)",
        r"(?:doesn'?t|does not|don'?t|do not|won'?t|will not|can'?t|cannot|can not) (?:work"
        r"|load|sync|connect|open|start|save)",
        r"broken",
        r"keeps? (?:breaking|crashing|failing|timing out|logging (?:us|me) out)",
        r"crash(?:es|ed|ing)?",
        r"outages?",
        r"(?:is|are|was|went|been|goes|going) down",
        r"down for (?:us|everyone|all)",
        r"bugs?",
        r"errors?",
        r"(?:http|status|error)(?: code)? ?[45]\d\d",
        r"[45]\d\d (?:error|response|status)",
        r"err_\w+",
        r"exceptions?",
        r"stack ?trace",
        r"tim(?:ing|ed) out",
        r"(?:can'?t|cannot|can not|could ?n[o']t|unable to) (?:log ?in|sign ?in|access|connect"
        r"|export|import|sync|save)",
        r"locked out",
        r"password reset",
        r"reset (?:my|our|the) password",
        r"forgot (?:my|our|the) password",
        r"(?:password|login) (?:not accepted|rejected|expired)",
        r"(?:sso|saml|scim|single sign[- ]on|2fa|mfa|two[- ]factor)(?: login)? (?:errors?|issues?"
        r"|problems?|failures?|failing|fails|is failing|broken|outage)",
        r"(?:issues?|problems?|trouble) (?:with|logging in(?:to)?|signing in(?:to)?|accessing) "
        r"(?:our|my|the) (?:account|login|instance|workspace|subscription|invoice|integration"
        r"|sync|dashboard|sso|saml|api|export|import|data)",
        r"(?:support|help ?desk) ticket",
        r"ticket",
        r"case (?:#|number) ?\d+",
        r"troubleshoot\w*",
        r"charged twice",
        r"double[- ]charged",
        r"overcharged",
        r"refunds?",
        r"funktioniert(?:\s+\S+){0,4}?\s+nicht(?: mehr)?",
        r"geht nicht(?: mehr)?",
        r"fehler(?:meldung|code)?",
        r"störung",
        r"ausfall",
        r"kann (?:mich )?nicht (?:anmelden|einloggen)",
        r"(?:ne )?(?:fonctionne|marche) (?:plus|pas)",
        r"erreur",
        r"panne",
        r"impossible de (?:me |nous |se )?(?:connecter|accéder)",
        r"no funciona",
        r"dej[óo] de funcionar",
        r"ha dejado de funcionar",
        r"fallo",
        r"ca[íi]d[oa]",
        r"non funziona(?: più)?",
        r"errore",
        r"guasto",
        r"não funciona",
        r"parou de funcionar",
        r"erro",
        r"falha",
        r"werkt niet(?: meer)?",
        r"storing",
        r"foutmelding",
        r"kan niet inloggen",
        r"stopped (?:arriving|sending|assigning|showing|appearing|firing|posting|updating|routing"
        r"|syncing)",
        r"(?:returns?|returning|throws?|throwing|gives?|giving|getting) (?:an? )?(?:[45]\d\d"
        r"|errors?)",
        r"(?:fail|fails|failing|failed)(?: with| since| after| on| to)?",
        r"(?:with|mit|avec|con) (?:an? |una? |einem )?(?:error |fehler |erreur |errore )?[45]\d\d",
        r"(?:how do (?:i|we)|how can (?:i|we)) fix",
        r"(?:i'?m|i am|we'?re|we are) (?:an? )?(?:existing|current|paying) (?:customers?|clients?"
        r"|users?)",
        r"invoiced for",
        r"(?:correct|fix) (?:the|our|my|this) invoice",
        r"(?:werden|wird) keine \S+ mehr",
        r"kann (?:mich|ich) nicht(?: mehr)?(?: \S+){0,3}? (?:anmelden|einloggen)",
        r"(?:passwort|kennwort) wird (?:nicht akzeptiert|abgelehnt)",
        r"wird abgelehnt",
        r"zu viel berechnet",
        r"(?:falsch|doppelt) berechnet",
        r"bricht (?:\S+ ){0,4}?ab",
        r"(?:ne )?(?:fonctionnent|marchent) (?:plus|pas)",
        r"(?:a|ont) cessé de (?:fonctionner|marcher)",
        r"renvoie (?:une |un )?(?:erreur|code)",
        r"(?:mot de passe|identifiant)s? (?:est |sont )?refusés?",
        r"(?:notre|la|cette) facture",
        r"no llega(?:n)?",
        r"no (?:puedo|podemos) (?:iniciar sesión|acceder|entrar|conectar\w*)",
        r"(?:contraseña|clave) no (?:es )?aceptada",
        r"da (?:un )?error",
        r"devuelve (?:un |una )?(?:error|[45]\d\d)",
        r"(?:nos|me) han cobrado",
        r"(?:la|nuestra|última) factura",
        r"non (?:arriva|arrivano) più",
        r"non funzionano",
        r"non (?:riesco|riusciamo) (?:ad |a )?(?:accedere|entrare|collegar\w+)",
        r"(?:password|credenziali) (?:viene |vengono )?rifiutat[ae]",
        r"dà errore",
        r"restituisce (?:un |una )?(?:errore|[45]\d\d)",
        r"(?:ci|mi) avete (?:addebitato|fatturato)",
        r"(?:nell'ultima|la nostra|l'ultima) fattura",
    ),
    _cue(
        {"support": 1.5},
        r"please help",
        r"(?:need|needs|needing) (?:some |urgent |your )?help (?:with|on|fixing|getting)",
        r"help!",
        r"invoices?",
        r"billing",
        r"(?:cancel|close|delete) (?:our|my) (?:account|subscription)",
    ),
    _cue(
        {"support": 0.5},
        r"help",
        r"urgent(?:ly)?",
        r"asap",
        r"log ?in",
        r"sign ?in",
        r"sso",
        r"saml",
        r"passwords?",
        r"issues?",
        r"problems?",
        r"(?:our|my) account",
        r"since (?:this morning|yesterday|today|last night|the (?:last |latest )?update|monday"
        r"|tuesday|wednesday|thursday|friday)",
        r"seit (?:dem (?:letzten )?update|gestern|heute(?: morgen)?|montag)",
        r"depuis (?:ce matin|hier|la mise à jour|lundi)",
        r"(?:desde|tras) (?:la actualización|ayer|esta mañana|el lunes)",
        r"(?:da ieri|da stamattina|dopo l'aggiornamento|da lunedì)",
        r"hilfe",
        r"aide",
        r"ayuda",
        r"aiuto",
        r"ajuda",
        r"hulp",
        r"dringend",
        r"urgente",
        decisive=False,
    ),
    # Job seekers.
    _cue(
        {"job_seeker": 2.0},
        r"(?:looking|searching|applying) for (?:a |an )?(?:job|role|position|internship|work)",
        r"job (?:applications?|openings?|offers?|vacanc(?:y|ies)|postings?)",
        r"open (?:roles?|positions?)",
        r"are you hiring",
        r"cv",
        r"résumé",
        r"curriculum vitae",
        r"(?:my|attached|the) resume",
        r"internships?",
        r"apply(?:ing)? (?:for|to) (?:the|a|an|your)",
        r"vacanc(?:y|ies)",
        r"career (?:opportunit(?:y|ies)|page)",
        r"bewerbung",
        r"bewerben",
        r"stellenangebot",
        r"offene stelle",
        r"praktikum",
        r"candidature",
        r"candidater",
        r"offre d'emploi",
        r"currículum",
        r"curriculum",
        r"vacante",
        r"candidatura",
        r"posizione aperta",
        r"offerta di lavoro",
        r"currículo",
        r"vacature",
        r"sollicit\w+",
    ),
    _cue(
        {"job_seeker": 1.5},
        r"jobs?",
        r"careers?",
        r"employment",
        r"emploi",
        r"empleo",
        r"emprego",
        r"vaga",
    ),
    _cue(
        {"job_seeker": 0.5},
        r"hiring",
        r"positions?",
        r"apply(?:ing)?",
        r"resume",
        r"trabajo",
        r"lavoro",
        decisive=False,
    ),
    # Partnerships.
    _cue(
        {"partnership": 2.0},
        r"partnerships?",
        r"partner (?:program|programme|network|portal|agreement)",
        r"become (?:a|your) partner",
        r"(?:technology|integration|channel|referral|reseller|solutions?|implementation|agency)"
        r" partners?",
        r"resell(?:er|ers|ing)?",
        r"white[- ]label(?:ed|ing)?",
        r"co[- ]marketing",
        r"co[- ]sell(?:ing)?",
        r"referral (?:program|programme|fee|agreement)",
        r"affiliate (?:program|programme)",
        r"revenue share",
        r"rev[- ]share",
        r"oem",
        r"partnerschaft",
        r"vertriebspartner",
        r"wiederverkäufer",
        r"partenariat",
        r"revendeur",
        r"devenir partenaire",
        r"alianza",
        r"revendedor",
        r"distribuidor",
        r"rivenditore",
        r"parceria",
        r"partnerschap",
        r"wederverkoper",
        r"(?:joint|co-?host\w*|shared) (?:\S+ ){0,2}?webina(?:r|ire)s?",
        r"webina(?:r|ire)s? (?:\S+ ){0,2}?(?:together|with you|commun|conjunto|insieme)",
        r"gemeinsam\w* (?:\S+ ){0,2}?webinar\w*",
        r"listed (?:as|on|in) (?:an? )?(?:\S+ ){0,2}?(?:provider|partner|integration)",
        r"integrations? (?:page|marketplace|directory)",
        r"(?:unseren|nos|a nuestros|ai nostri) (?:kunden|clients|clientes|clienti) (?:\S+ )?"
        r"(?:anbieten|proposer|ofrecer|offrire|revendre|revender|rivendere)",
        r"partnerprogramm",
        r"revendre",
        r"revender",
        r"rivendere",
        r"programme d'affiliation",
        r"programa de afiliados",
        r"programma di affiliazione",
    ),
    _cue(
        {"partnership": 1.0},
        r"partner(?:ing)?",
        r"agency",
        r"affiliates?",
        r"system integrators?",
        r"joint (?:integration|offering|webinar|solution|customers)",
        r"integration (?:with|into) your (?:platform|product|tool|router|solution)",
        r"agentur",
        r"agence",
        r"agencia",
        r"agenzia",
        r"kooperation",
        r"collaborer",
        r"colaborar",
        r"collaborazione",
        r"integration mit ihrer",
        r"integración con (?:vuestra|su|tu)",
        r"integrazione con (?:la vostra|la tua)",
        r"affiliation",
        r"afiliados",
        r"affiliazione",
        r"partenaire",
        r"distributeur",
        r"distributori",
    ),
    # Demos.
    _cue(
        {"demo": 2.0},
        r"demos?",
        r"demonstration",
        r"walk ?-?through",
        r"see (?:the|your) (?:product|platform|tool)",
        r"see it in action",
        r"product tour",
        r"(?:book|schedule|set up) (?:a|an) (?:call|meeting|demo)",
        r"(?:talk|speak) (?:to|with) (?:sales|someone|a rep|an expert)",
        r"démo",
        r"démonstration",
        r"demostración",
        r"vorführung",
        r"dimostrazione",
        r"demonstração",
        r"demonstratie",
    ),
    _cue(
        {"demo": 1.5},
        r"show (?:us|me)",
        r"(?:free )?trial",
        r"evaluat(?:e|ing|ion)",
        r"poc",
        r"proof of concept",
        r"pilot",
        r"testversion",
        r"testphase",
        r"essai gratuit",
        r"prueba gratuita",
        r"prova gratuita",
        r"teste grátis",
        r"proefperiode",
    ),
    _cue(
        {"demo": 1.5},
        r"(?:uns|nous|nos|ci) (?:\S+ )?(?:zeigen|montrer|mostrar|mostrare)",
        r"mostrarci",
        r"mostrarnos",
        r"enseñarnos",
        r"(?:uns|mir) (?:\S+ ){0,6}?vorstellen",
        r"nous présenter",
        r"(?:présenter|présentez) (?:la|votre) (?:plateforme|solution|produit|outil)",
        r"presentarnos",
        r"presentarci",
        r"live sehen",
        r"(?:en|in) acción",
        r"en action",
        r"(?:a|une|una) (?:short |quick |courte |breve )?(?:presentation|présentation|presentación"
        r"|presentazione)",
        r"prova gratuita",
        r"essai gratuit",
        r"evaluieren",
        r"évaluons",
        r"evaluando",
        r"valutando",
    ),
    _cue(
        {"demo": 1.0},
        r"meetings?",
        r"termin",
        r"rendez-vous",
        r"reunión",
        r"afspraak",
        r"incontro",
        r"(?:a|an|quick|short|intro|discovery|sales|kurzen|breve) calls?",
        r"appel",
        r"llamada",
    ),
    # Pricing.
    _cue(
        {"pricing": 2.0},
        r"price list",
        r"pric(?:e|es|ed|ing)",
        r"quotes?",
        r"quotation",
        r"how much",
        r"rate card",
        r"tarif\w*",
        r"precios?",
        r"preis\w*",
        r"prix",
        r"prezz[oi]",
        r"preços?",
        r"prijs",
        r"prijzen",
        r"devis",
        r"preventivo",
        r"cotización",
        r"cotação",
        r"kostet",
        r"kosten",
        r"coûts?",
        r"cost[oe]",
        r"custo",
        r"cuesta(?:n)?",
        r"cuánto",
        r"quanto costa",
        r"costa(?:no)?",
        r"combien",
        r"was kostet",
        r"gebühr\w*",
    ),
    _cue(
        {"pricing": 1.5},
        r"costs?",
        r"discounts?",
        r"budget",
        r"per (?:user|seat|rep|month|year|licen[cs]e)",
        r"licen[cs](?:e|es|ing)",
        r"lizenz(?:en)?",
        r"angebot",
        r"presupuesto",
        r"orçamento",
        r"offerte",
        r"rabatt\w*",
        r"remises?",
        r"descuentos?",
        r"scont[oi]",
        r"licencias?",
        r"licenz[ae]",
    ),
    _cue({"pricing": 1.0}, r"seats?", r"procurement"),
    _cue({"pricing": 0.5}, r"contracts?", r"tiers?", r"plans?", decisive=False),
)
CUE_PATTERN = re.compile(
    r"(?<![\w])(?:"
    + "|".join(f"(?P<c{i}>{'|'.join(cue.phrases)})" for i, cue in enumerate(INTENT_CUES))
    + r")(?![\w])"
)
# The order of intents when the message scores two equally and no form breaks the tie.
TIE_ORDER: tuple[Intent, ...] = ("job_seeker", "spam", "support", "partnership", "demo", "pricing")
FORM_INTENT: dict[str, Intent] = {
    "demo-request": "demo",
    "contact-sales": "demo",
    "pricing": "pricing",
}
# Forms whose submission is itself the ask; a contact-sales form implies a demo, not asks one.
ASKING_FORMS = frozenset({"demo-request", "pricing"})
URL = re.compile(r"https?://|www\.", re.IGNORECASE)
SPAM_WORDS = _rx(
    r"seo",
    r"backlinks?",
    r"crypto",
    r"bitcoin",
    r"casino",
    r"viagra",
    r"loan",
    r"guest post",
    r"rank(?:ing)? #?1",
    r"first page of google",
    r"buy followers",
    r"forex",
    r"web design services",
    r"lead list",
    r"email list",
)
TEST_WORDS = _rx(r"test", r"testing", r"asdf", r"qwerty", r"lorem ipsum", r"foo", r"bar")
HONEYPOT_FIELDS = ("honeypot", "_hp", "hp_field", "website_url_hp")


def persona_for(title: str | None) -> Persona:
    """Seniority and department from a job title, in English and the main European languages."""
    text = title or ""
    seniority: Seniority = "unknown"
    evidence: list[str] = []
    for level, pattern in SENIORITY:
        found = pattern.search(text)
        if found:
            seniority = level
            evidence.append(f"seniority '{found.group(0)}'")
            break
    department = "unknown"
    for name, pattern in DEPARTMENT:
        found = pattern.search(text)
        if found:
            department = name
            evidence.append(f"department '{found.group(0)}'")
            break
    return {"seniority": seniority, "department": department, "evidence": evidence}


def segment_for(company: Company, provenance: dict[str, Provenance], cfg: ScoringConfig) -> Segment:
    """The ICP segment by company size, abstaining when the size is unknown or unsure."""
    employees = company.get("employees")
    if not isinstance(employees, int | float):
        return {"id": None, "confidence": 0.0, "abstained": True, "reason": "company size unknown"}
    known = provenance.get("employees")
    confidence = float(known["confidence"]) if known else 0.0
    for seg in cfg.icp.segments:
        bounds = seg.employees
        if employees >= bounds.get("gte", float("-inf")) and employees < bounds.get(
            "lt", float("inf")
        ):
            if confidence < cfg.icp.abstain_below:
                return {
                    "id": None,
                    "confidence": confidence,
                    "abstained": True,
                    "reason": f"size {employees} too unsure ({confidence:.2f})",
                }
            return {
                "id": seg.id,
                "confidence": confidence,
                "abstained": False,
                "reason": f"{employees} employees",
            }
    return {
        "id": None,
        "confidence": confidence,
        "abstained": True,
        "reason": f"{employees} employees fits no segment",
    }


DecidedBy = Literal["message", "form", "none"]


@dataclass(frozen=True)
class IntentReading:
    """The intent, what decided it, the score of each intent the message named, and why."""

    intent: Intent
    decided_by: DecidedBy
    tied: bool
    scores: dict[Intent, float]
    evidence: list[str]


def _claims(message: str) -> list[tuple[Cue, str]]:
    """Each weighted cue found in the lower-cased message, with the text it matched."""
    found: list[tuple[Cue, str]] = []
    for match in CUE_PATTERN.finditer(message):
        cue = INTENT_CUES[int((match.lastgroup or "c0")[1:])]
        if cue.weights:
            found.append((cue, match.group(0)))
    return found


def _quoted(phrases: list[str]) -> str:
    return ", ".join(repr(p) for p in dict.fromkeys(phrases))


def _form(lead: Lead) -> tuple[str, str, Intent] | None:
    for key, given in (("form_id", lead.get("form_id")), ("source", lead.get("source"))):
        value = (given or "").lower()
        if value in FORM_INTENT:
            return key, value, FORM_INTENT[value]
    return None


@dataclass
class _Tally:
    scores: dict[Intent, float]
    decisive: set[Intent]
    said: dict[Intent, list[str]]
    ruled_out: dict[str, list[Intent]]


def _tally(message: str) -> _Tally:
    """Add up the weight of each cue phrase found (once per phrase) for every intent."""
    decisive: set[Intent] = set()
    firm: dict[Intent, float] = {}
    weak: dict[Intent, float] = {}
    said: dict[Intent, list[str]] = {}
    ruled_out: dict[str, list[Intent]] = {}
    for cue, text in dict.fromkeys(_claims(message)):
        for intent, weight in cue.weights:
            if weight < 0:
                firm[intent] = firm.get(intent, 0.0) + weight
                ruled_out.setdefault(text, []).append(intent)
                continue
            if cue.decisive:
                decisive.add(intent)
                firm[intent] = firm.get(intent, 0.0) + weight
            else:
                weak[intent] = weak.get(intent, 0.0) + weight
            said.setdefault(intent, []).append(text)
    scores = {
        intent: round(
            firm.get(intent, 0.0) + (weak.get(intent, 0.0) if intent in decisive else 0), 2
        )
        for intent in TIE_ORDER
        if intent in firm
    }
    return _Tally(scores, decisive, said, ruled_out)


def read_intent(lead: Lead) -> IntentReading:
    """Score every intent on the whole message; the form breaks ties or fills a silent message.

    Each cue phrase found adds its weight once; negative cues count against an intent, and a
    form cannot pick an intent its message rules out.
    """
    tally = _tally((lead.get("message") or "").lower().replace("\u2019", "'"))
    scores = tally.scores
    ruled_out = [
        f"message rules out {', '.join(intents)}: {text!r}"
        for text, intents in tally.ruled_out.items()
    ]
    form = _form(lead)
    leading = {i: s for i, s in scores.items() if s > 0 and i in tally.decisive}
    if leading:
        best = max(leading.values())
        top = [i for i in TIE_ORDER if leading.get(i) == best]
        winner = top[0]
        decided_by: DecidedBy = "message"
        if len(top) > 1 and form and form[2] in top:
            winner, decided_by = form[2], "form"
        others = sorted((i for i in scores if i != winner), key=lambda i: -scores[i])
        if len(top) > 1:
            versus = f", as much as {next(i for i in top if i != winner)}"
        elif form and form[2] != winner:
            versus = f", {form[2]} {scores.get(form[2], 0):g}"
        else:
            versus = f", {others[0]} {scores[others[0]]:g}" if others else ""
        line = (
            f"the message says {_quoted(tally.said[winner])}: {winner} cues weigh {best:g}{versus}"
        )
        if decided_by == "form" and form:
            line += f"; {_form_words(form)} broke the tie"
        return IntentReading(winner, decided_by, len(top) > 1, scores, [line, *ruled_out])
    weak = [t for i, texts in tally.said.items() if i not in tally.decisive for t in texts]
    silence = (
        f"only weak cues in the message ({_quoted(weak)})"
        if weak
        else "the message names no intent"
    )
    if form and scores.get(form[2], 0.0) >= 0:
        line = f"{silence}, so {_form_words(form)} decided"
        return IntentReading(form[2], "form", False, scores, [line, *ruled_out])
    if form:
        silence += f"; it rules out the {form[2]} that {_form_words(form)} implies"
    return IntentReading("other", "none", False, scores, [silence, *ruled_out])


def _form_words(form: tuple[str, str, Intent]) -> str:
    """The form or source that implied an intent, in words ("the contact-sales form")."""
    field, value, _ = form
    return f"the {value} form" if field == "form_id" else f"the source '{value}'"


def intent_for(lead: Lead) -> tuple[Intent, list[str]]:
    """Inbound intent and its reasons: what the message says, then the form or source."""
    reading = read_intent(lead)
    return reading.intent, reading.evidence


def _gibberish(name: str) -> bool:
    letters = re.sub(r"[^a-z]", "", name.lower())
    if len(letters) < 5:
        return False
    vowels = sum(ch in "aeiouy" for ch in letters)
    return vowels / len(letters) < 0.15 or re.search(r"[^aeiouy]{6,}", letters) is not None


def spam_for(lead: Lead, raw: dict[str, Any], reading: IntentReading | None = None) -> Spam:
    """Spam/bot verdict: strong signals alone, weak ones only together.

    A message whose reading is spam (a vendor pitch, link selling, a prize scam) is strong.
    """
    reasons: list[tuple[float, str]] = []
    if reading is not None and reading.intent == "spam":
        reasons.append((1.0, f"a pitch, not an enquiry: {reading.evidence[0]}"))
    given = raw.get("properties")
    props: dict[str, Any] = given if isinstance(given, dict) else {}
    if any(raw.get(f) or props.get(f) for f in HONEYPOT_FIELDS):
        reasons.append((1.0, "hidden honeypot field was filled (a bot)"))
    if lead.get("disposable"):
        reasons.append((1.0, f"disposable email domain {lead.get('domain')}"))
    message = lead.get("message") or ""
    links = len(URL.findall(message))
    if links >= 2:
        reasons.append((0.7, f"{links} links in the message"))
    spam_words = sorted({m.group(0).lower() for m in SPAM_WORDS.finditer(message)})
    if spam_words:
        reasons.append((0.6, f"spam words: {', '.join(spam_words[:3])}"))
    name = f"{lead.get('first_name') or ''}{lead.get('last_name') or ''}"
    if _gibberish(name):
        reasons.append((0.6, f"gibberish name {name!r}"))
    local = (lead.get("email") or "").split("@")[0]
    if TEST_WORDS.fullmatch(local) or TEST_WORDS.fullmatch((lead.get("first_name") or "").strip()):
        reasons.append((0.8, "looks like a test submission"))
    if lead.get("role_address"):
        reasons.append((0.2, f"role address {local}@"))
    score = round(sum(weight for weight, _ in reasons), 2)
    return {"is_spam": score >= 1.0, "score": score, "reasons": [r for _, r in reasons]}


@dataclass(frozen=True)
class IntentVerdict:
    """The intent the product acts on, its reasons, what decided it, and the spam verdict."""

    intent: Intent
    evidence: list[str]
    decided_by: DecidedBy
    spam: Spam


def intent_verdict(lead: Lead, raw: dict[str, Any]) -> IntentVerdict:
    """The message's intent, unless the spam verdict says spam: then spam, with its reasons.

    A message read as spam makes the verdict spam, so the intent is spam exactly when the
    verdict is.
    """
    reading = read_intent(lead)
    spam = spam_for(lead, raw, reading)
    if spam["is_spam"]:
        return IntentVerdict("spam", spam["reasons"], "none", spam)
    return IntentVerdict(reading.intent, reading.evidence, reading.decided_by, spam)


def classify_lead(
    lead: Lead,
    raw: dict[str, Any],
    company: Company,
    provenance: dict[str, Provenance],
    cfg: ScoringConfig,
) -> Classification:
    """Persona, segment, intent and spam from the lead and its enrichment; spam wins intent."""
    verdict = intent_verdict(lead, raw)
    return {
        "persona": persona_for(lead.get("title")),
        "segment": segment_for(company, provenance, cfg),
        "intent": verdict.intent,
        "intent_evidence": verdict.evidence,
        "intent_from": verdict.decided_by,
        "spam": verdict.spam,
        "method": "rules",
    }
