"""`model`: list, show, activate, roll back, shadow and promote learned scoring models.

The models folder is the folder of the current model (`MODEL_PATH`, default
`DATA_DIR/models/current.json`). It holds every learned model as `<version>.json`, the live
one copied to `current.json` (what the scorer loads at start), the shadow one copied to
`shadow.json` (scored beside the live one, recorded, never routed on) and `history.json`, the
activations in order, which `rollback` walks back. Every change writes a temporary file and
renames it over the old one, so a reader sees the old file or the new one, never half of one.
Running services load the models at start: restart them to use a change.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.learned_model import LearnedModel
from service.settings import Settings

RULES = "rules"
"""The version name of "no learned model": the scorer uses the rules of `scoring.yaml`."""
RESTART = "running serve and worker processes load it at start: restart them to use it"
RESERVED = {"current.json", "shadow.json", "history.json"}


def write_atomically(target: Path, data: bytes) -> None:
    """Replace `target` with `data`: write a temporary file beside it, then rename it over."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class ModelFolder:
    """The models folder: versioned files, the live and shadow copies, and the history."""

    current: Path

    @classmethod
    def of(cls, settings: Settings) -> ModelFolder:
        return cls(settings.current_model_path)

    @property
    def folder(self) -> Path:
        return self.current.parent

    @property
    def shadow(self) -> Path:
        return self.folder / "shadow.json"

    @property
    def history_file(self) -> Path:
        return self.folder / "history.json"

    def path(self, version: str) -> Path:
        return self.folder / f"{version}.json"

    def new_version(self, stem: str) -> str:
        """`stem`, or `stem-2`, `stem-3`… when a model of that version is already saved."""
        version, n = stem, 1
        while self.path(version).exists():
            n += 1
            version = f"{stem}-{n}"
        return version

    def versions(self) -> list[LearnedModel]:
        """Every saved model, oldest first (files that are not models are left out)."""
        models = []
        for file in sorted(self.folder.glob("*.json")):
            if file.name in RESERVED:
                continue
            try:
                models.append(LearnedModel.load(file))
            except (ValueError, OSError):
                continue
        return sorted(models, key=lambda m: (m.trained_at, m.version))

    def load(self, version: str) -> LearnedModel:
        """The saved model of `version`; ValueError naming the problem when there is none."""
        file = self.path(version)
        if version in RESERVED or "/" in version or not file.is_file():
            raise ValueError(f"no model {version!r} in {self.folder} (see `cli.py model list`)")
        return LearnedModel.load(file)

    def live(self) -> str:
        """The version the scorer loads at start, or `rules`."""
        return _version_of(self.current)

    def shadowed(self) -> str | None:
        """The version scored in shadow, or None."""
        return _version_of(self.shadow) if self.shadow.is_file() else None

    def history(self) -> list[dict[str, Any]]:
        if not self.history_file.is_file():
            return []
        return list(json.loads(self.history_file.read_text(encoding="utf-8")))

    def _record(self, action: str, version: str, previous: str) -> None:
        entry = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "action": action,
            "version": version,
            "previous": previous,
        }
        text = json.dumps([*self.history(), entry], indent=2) + "\n"
        write_atomically(self.history_file, text.encode())

    def activate(self, version: str, action: str = "activate") -> str:
        """Make `version` (or `rules`) the live model; return the version it replaced."""
        previous = self.live()
        if version == RULES:
            self.current.unlink(missing_ok=True)
        else:
            self.load(version)
            write_atomically(self.current, self.path(version).read_bytes())
        self._record(action, version, previous)
        return previous

    def rollback_target(self) -> str | None:
        """The version that was live before the live one, following earlier rollbacks."""
        entries = [e for e in self.history() if e["action"] != "shadow"]
        if not entries:
            return None
        stack = [entries[0]["previous"]]
        for entry in entries:
            if entry["action"] == "rollback":
                if len(stack) > 1:
                    stack.pop()
            else:
                stack.append(entry["version"])
        return stack[-2] if len(stack) > 1 else None

    def rollback(self) -> tuple[str, str]:
        """Make the previously live version live again; return (replaced, now live)."""
        target = self.rollback_target()
        if target is None:
            raise ValueError("nothing to roll back to: no model was activated before this one")
        return self.activate(target, action="rollback"), target

    def start_shadow(self, version: str) -> str | None:
        """Score `version` in shadow; return the version it replaced there."""
        previous = self.shadowed()
        self.load(version)
        write_atomically(self.shadow, self.path(version).read_bytes())
        self._record("shadow", version, previous or "none")
        return previous

    def stop_shadow(self) -> str | None:
        """Stop scoring in shadow; return the version that was."""
        previous = self.shadowed()
        self.shadow.unlink(missing_ok=True)
        if previous is not None:
            self._record("shadow", "none", previous)
        return previous

    def promote(self) -> tuple[str, str]:
        """Make the shadow model live and stop the shadow; return (replaced, now live)."""
        version = self.shadowed()
        if version is None:
            raise ValueError("no shadow model to promote (start one with `model shadow VERSION`)")
        if not self.path(version).is_file():
            write_atomically(self.path(version), self.shadow.read_bytes())
        previous = self.activate(version, action="promote")
        self.shadow.unlink(missing_ok=True)
        return previous, version


def _version_of(path: Path) -> str:
    if not path.is_file():
        return RULES
    return LearnedModel.load(path).version


def describe(model: LearnedModel) -> dict[str, Any]:
    """A model's summary: version, training data, features and held-back figures."""
    training = model.training
    return {
        "version": model.version,
        "trained_at": model.trained_at,
        "label": model.label,
        "rows": training.get("rows"),
        "positives": training.get("positives"),
        "source": training.get("source"),
        "held_back": training.get("held_back"),
        "features": model.features,
        "excluded": model.excluded,
    }


def _auc(model: LearnedModel) -> str:
    held = model.training.get("held_back") or {}
    auc = (held.get("figures") or {}).get("roc_auc")
    return f"{auc:.3f}" if isinstance(auc, float) else "—"


def cmd_list(folder: ModelFolder) -> dict[str, Any]:
    live, shadow = folder.live(), folder.shadowed()
    models = folder.versions()
    print(f"models in {folder.folder}")
    print(
        f"  {'version':<30}{'trained at':<27}{'trained on':>11}{'features':>10}"
        f"{'held-back AUC':>15}"
    )
    for m in models:
        mark = " live" if m.version == live else " shadow" if m.version == shadow else ""
        rows = m.training.get("rows", 0)
        print(
            f"  {m.version:<30}{m.trained_at:<27}{rows:>11,}{len(m.features):>10}"
            f"{_auc(m):>15}{mark}"
        )
    if not models:
        print("  (none yet: `python cli.py learn` fits one)")
    print(f"live: {live}" + (" (the rules in scoring.yaml)" if live == RULES else ""))
    print(f"shadow: {shadow or 'none'}")
    return {"live": live, "shadow": shadow, "versions": [m.version for m in models]}


def cmd_show(folder: ModelFolder, version: str | None) -> dict[str, Any]:
    version = version or folder.live()
    if version == RULES:
        print("live: the rules in scoring.yaml (no learned model is active)")
        return {"version": RULES}
    summary = describe(folder.load(version))
    held = summary["held_back"] or {}
    figures = held.get("figures") or {}
    print(f"{summary['version']}: trained {summary['trained_at']} on {summary['rows']:,} rows")
    print(f"  source: {summary['source'] or 'not recorded'}; outcome: {summary['label']}")
    if figures:
        print(
            f"  held back {held['rows']:,} rows ({held['how']}): ROC-AUC {figures['roc_auc']:.3f}"
            f", PR-AUC {figures['pr_auc']:.3f}"
        )
    print(f"  features ({len(summary['features'])}): {', '.join(summary['features'])}")
    for name, why in summary["excluded"].items():
        print(f"  left out {name}: {why}")
    state = "live" if version == folder.live() else "shadow" if version == folder.shadowed() else ""
    print(f"  status: {state or 'saved, not in use'}")
    return summary


def cli(argv: Sequence[str], settings: Settings | None = None) -> int:
    """`model`: manage the learned scoring models; the JSON summary is the last line."""
    parser = argparse.ArgumentParser(prog="cli.py model", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="every saved model, and which is live and which in shadow")
    show = sub.add_parser("show", help="one model's training data, figures and features")
    show.add_argument("version", nargs="?", help="default: the live model")
    activate = sub.add_parser(
        "activate", aliases=["use"], help=f"make VERSION (or {RULES!r}) the live model"
    )
    activate.add_argument("version")
    sub.add_parser("rollback", help="make the previously live model live again")
    shadow = sub.add_parser("shadow", help="score VERSION beside the live model, not routing")
    shadow.add_argument("version", nargs="?")
    shadow.add_argument("--stop", action="store_true", help="stop scoring in shadow")
    sub.add_parser("promote", help="make the shadow model live")
    args = parser.parse_args(list(argv))
    folder = ModelFolder.of(settings or Settings())
    try:
        summary = _run(folder, args)
    except ValueError as exc:
        print(f"model {args.action}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def _run(folder: ModelFolder, args: argparse.Namespace) -> dict[str, Any]:
    if args.action == "list":
        return cmd_list(folder)
    if args.action == "show":
        return cmd_show(folder, args.version)
    if args.action == "use":
        args.action = "activate"
    if args.action in {"activate", "rollback", "promote"}:
        if args.action == "activate":
            previous, live = folder.activate(args.version), args.version
        elif args.action == "rollback":
            previous, live = folder.rollback()
        else:
            previous, live = folder.promote()
            print("shadow: none (promoted)")
        print(f"live model: {previous} → {live}; {RESTART}")
        return {"action": args.action, "previous": previous, "live": live}
    if args.stop:
        stopped = folder.stop_shadow()
        print(f"shadow model: {stopped or 'none'} → none; {RESTART}")
        return {"action": "shadow", "previous": stopped, "shadow": None}
    if not args.version:
        raise ValueError("name the VERSION to score in shadow, or pass --stop")
    replaced = folder.start_shadow(args.version)
    print(f"shadow model: {replaced or 'none'} → {args.version}; {RESTART}")
    return {"action": "shadow", "previous": replaced, "shadow": args.version}
