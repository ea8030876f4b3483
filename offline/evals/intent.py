"""Intent evaluation on labelled inbound messages: `python cli.py eval intent`.

The data set is in the repository (`offline/evals/data/intent_messages.jsonl`): inbound form
messages written for this evaluation, each labelled with the intent a sales-ops reviewer would
act on, in five languages, with the dev/test split fixed in the file. Rules are chosen on dev;
test is only measured.

What is measured is the intent the product acts on for the message: the rules' reading of it,
unless the spam verdict says spam (`domain.classification.intent_verdict`). A model classifier,
when one is configured, is measured on the same rows beside the rules.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, get_args

from domain.assist import IntentVerdict, lead_block
from domain.classification import intent_verdict
from domain.normalize import normalize_lead
from domain.prompts import chat, version
from domain.records import DecisionRecord, Intent, Lead
from offline.evals import REPO_ROOT
from tools.ports import ChatModel

DATASET: Final = Path(__file__).resolve().parent / "data" / "intent_messages.jsonl"
INTENTS: Final[tuple[Intent, ...]] = get_args(Intent)
SPLITS: Final = ("dev", "test")
LANGUAGES: Final = ("en", "de", "fr", "es", "it")
SHOWN: Final = 15

# A classifier reads the normalized lead and the raw payload, as the classify node does, and
# returns the intent and its reasons.
Classifier = Callable[[Lead, dict[str, Any]], tuple[Intent, list[str]]]


@dataclass(frozen=True)
class Example:
    """One labelled inbound message."""

    id: str
    split: str
    lang: str
    intent: Intent
    message: str
    form_id: str | None = None
    title: str | None = None
    note: str | None = None

    def payload(self) -> dict[str, Any]:
        """The form submission: the message, the form and the title."""
        return {"message": self.message, "form_id": self.form_id, "title": self.title}


def load(path: Path = DATASET) -> list[Example]:
    """The labelled messages, checked: known split, language and intent, unique ids."""
    examples: list[Example] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        example = Example(**row)
        problem = _problem(example, seen)
        if problem:
            raise ValueError(f"{path}:{number}: {problem}")
        seen.add(example.id)
        examples.append(example)
    return examples


def _problem(example: Example, seen: set[str]) -> str | None:
    if example.id in seen:
        return f"duplicate id {example.id!r}"
    for field, value, known in (
        ("split", example.split, SPLITS),
        ("language", example.lang, LANGUAGES),
        ("intent", example.intent, INTENTS),
    ):
        if value not in known:
            return f"unknown {field} {value!r}"
    return None


def rules(lead: Lead, raw: dict[str, Any]) -> tuple[Intent, list[str]]:
    """The intent the product acts on without a model, and its reasons."""
    verdict = intent_verdict(lead, raw)
    return verdict.intent, verdict.evidence


def measure(examples: Sequence[Example], classifier: Classifier) -> dict[str, Any]:
    """Accuracy, per-intent precision and recall, confusion, per-language accuracy, misses."""
    payloads = [example.payload() for example in examples]
    predicted = [classifier(normalize_lead(payload)[0], payload) for payload in payloads]
    pairs = [(e.intent, p[0]) for e, p in zip(examples, predicted, strict=True)]
    confusion = {truth: dict.fromkeys(INTENTS, 0) for truth in INTENTS}
    for truth, guess in pairs:
        confusion[truth][guess] += 1
    per_intent: dict[str, dict[str, Any]] = {}
    for intent in INTENTS:
        hits = confusion[intent][intent]
        said = sum(confusion[t][intent] for t in INTENTS)
        support = sum(confusion[intent].values())
        per_intent[intent] = {
            "precision": _ratio(hits, said),
            "recall": _ratio(hits, support),
            "support": support,
        }
    per_language: dict[str, dict[str, Any]] = {}
    for lang in LANGUAGES:
        right = [t == g for e, (t, g) in zip(examples, pairs, strict=True) if e.lang == lang]
        per_language[lang] = {"accuracy": _ratio(sum(right), len(right)), "n": len(right)}
    misses = [
        {
            "id": e.id,
            "lang": e.lang,
            "intent": e.intent,
            "predicted": p[0],
            "message": e.message,
            "form_id": e.form_id,
            "why": p[1][:2],
        }
        for e, p in zip(examples, predicted, strict=True)
        if p[0] != e.intent
    ]
    return {
        "n": len(examples),
        "accuracy": _ratio(sum(t == g for t, g in pairs), len(pairs)),
        "per_intent": per_intent,
        "per_language": per_language,
        "confusion": confusion,
        "misclassified": misses,
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def run(
    path: Path = DATASET, *, model: Classifier | None = None, model_name: str | None = None
) -> dict[str, Any]:
    """Measure the rules, and the model when one is given, on dev and on test."""
    examples = load(path)
    classifiers: dict[str, Classifier] = {"rules": rules}
    if model is not None:
        classifiers["model"] = model
    counts = Counter((e.split, e.intent, e.lang) for e in examples)
    result: dict[str, Any] = {
        "dataset": {
            "path": _shown(path),
            "rows": len(examples),
            "by_split": {s: sum(n for (sp, _, _), n in counts.items() if sp == s) for s in SPLITS},
        },
        "model_name": model_name if model is not None else None,
        "model": None,
    }
    for name, classifier in classifiers.items():
        result[name] = {
            split: measure([e for e in examples if e.split == split], classifier)
            for split in SPLITS
        }
    return result


def _shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)


def _cell(value: float | None) -> str:
    return "   -" if value is None else f"{value:.2f}"


def report(result: Mapping[str, Any], shown: int = SHOWN) -> list[str]:
    """Readable lines: per classifier and split, the figures, the confusion and the misses."""
    data = result["dataset"]
    lines = [
        f"intent evaluation: {data['rows']} labelled messages "
        f"(dev {data['by_split']['dev']}, test {data['by_split']['test']}) from {data['path']}",
        "model: " + (result["model_name"] or "none configured, rules only"),
        "",
    ]
    short = {i: i[:7] for i in INTENTS}
    for name in ("rules", "model"):
        if result[name] is None:
            continue
        for split in SPLITS:
            m = result[name][split]
            lines += [
                f"{name} on {split}: accuracy {m['accuracy']:.3f} ({m['n']} messages)",
                "  by language: "
                + ", ".join(
                    f"{lang} {_cell(v['accuracy'])} ({v['n']})"
                    for lang, v in m["per_language"].items()
                ),
                f"  {'intent':<12}{'precision':>10}{'recall':>8}{'n':>5}",
                *(
                    f"  {i:<12}{_cell(v['precision']):>10}{_cell(v['recall']):>8}{v['support']:>5}"
                    for i, v in m["per_intent"].items()
                ),
                "  confusion (rows: labelled, columns: predicted)",
                f"  {'':<12}" + "".join(f"{short[i]:>8}" for i in INTENTS),
                *(
                    f"  {t:<12}" + "".join(f"{m['confusion'][t][g]:>8}" for g in INTENTS)
                    for t in INTENTS
                ),
                f"  misclassified: {len(m['misclassified'])}"
                + (f" (first {shown})" if len(m["misclassified"]) > shown else ""),
                *(
                    f"    {x['id']}: {x['intent']} → {x['predicted']}: {x['message'][:90]!r}"
                    for x in m["misclassified"][:shown]
                ),
                "",
            ]
    return lines


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON summary: the figures, and the ids of the misclassified messages."""
    out: dict[str, Any] = {"dataset": result["dataset"], "model_name": result["model_name"]}
    for name in ("rules", "model"):
        out[name] = result[name] and {
            split: {
                **{k: v for k, v in m.items() if k != "misclassified"},
                "misclassified": [x["id"] for x in m["misclassified"]],
            }
            for split, m in result[name].items()
        }
    return out


def model_classifier(
    model: ChatModel, loop: asyncio.AbstractEventLoop, max_adjustment: float
) -> Classifier:
    """The model's intent through the `classify` prompt, as the assist step asks it; a failed
    call answers the rules' intent, with the outcome among the reasons."""

    def classify(lead: Lead, raw: dict[str, Any]) -> tuple[Intent, list[str]]:
        ruled, _ = rules(lead, raw)
        state: DecisionRecord = {"lead": lead}
        system, user = chat(
            "classify",
            max_adjustment=f"{max_adjustment:g}",
            rules_intent=ruled,
            score="—",
            lead_block=lead_block(state),
        )
        answer = loop.run_until_complete(
            model.ask("classify", version("classify"), system, user, IntentVerdict)
        )
        if answer.parsed is None:
            return ruled, [f"model {answer.call['outcome']}: the rules' intent"]
        return answer.parsed.intent, [f"model ({answer.call['ms']:g} ms)"]

    return classify


def cli(argv: list[str], *, model: Classifier | None = None, model_name: str | None = None) -> int:
    """`eval intent`: the figures for the rules (and a model when given), JSON summary last."""
    parser = argparse.ArgumentParser(
        prog="cli.py eval intent",
        description="Accuracy, per-intent precision and recall, a confusion matrix, per-language "
        "accuracy and the misclassified messages of the intent rules on the labelled inbound "
        "messages, on dev and on test.",
    )
    parser.add_argument(
        "--dataset", type=Path, default=DATASET, help=f"labelled JSONL (default {DATASET.name})"
    )
    parser.add_argument(
        "--show", type=int, default=SHOWN, metavar="N", help="misclassified messages listed"
    )
    parser.add_argument(
        "--rules-only", action="store_true", help="skip the model even when LLM_MODEL is set"
    )
    args = parser.parse_args(argv)
    if model is None and not args.rules_only:
        return _with_configured_model(args)
    result = run(args.dataset, model=model, model_name=model_name)
    for line in report(result, args.show):
        print(line)
    print(json.dumps(summary(result), ensure_ascii=False))
    return 0


def _with_configured_model(args: argparse.Namespace) -> int:
    """Run with the model LLM_MODEL names (rules only when none is set)."""
    from service.backends import open_chat
    from service.settings import Settings

    settings = Settings()
    opened = open_chat(settings)
    loop = asyncio.new_event_loop()
    try:
        classifier = model_classifier(opened, loop, settings.llm_max_adjustment) if opened else None
        result = run(args.dataset, model=classifier, model_name=opened.name if opened else None)
    finally:
        if opened is not None:
            loop.run_until_complete(opened.close())
        loop.close()
    for line in report(result, args.show):
        print(line)
    print(json.dumps(summary(result), ensure_ascii=False))
    return 0
