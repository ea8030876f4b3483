"""`check`: read routing.yaml, scoring.yaml and the accounts file(s) as the service would, and
say whether it would start.

Each config is OK or its errors are listed with file:line. Each accounts file gives how many
rows were loaded, skipped and warned about, the counts by kind and the first problems with
file:line. The exit status is 1 when a config has errors, an accounts file cannot be read, or,
under ACCOUNTS_STRICT, any account row was skipped or warned about; else 0.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from domain.config import ConfigError, RoutingConfig, ScoringConfig, load_routing, load_scoring
from service.settings import Settings
from tools.directory import read_accounts_csv

FIRST = 10
WIDTH = 10


@dataclass
class Checked:
    """The report of one file: its lines, whether it stops the service, whether it warns."""

    lines: list[str] = field(default_factory=list)
    failed: bool = False
    warned: bool = False


def check_config(
    name: str, path: Path, load: Callable[[Path], RoutingConfig | ScoringConfig]
) -> Checked:
    """One config file: OK with what it holds, or each error with file:line."""
    try:
        config = load(path)
    except ConfigError as exc:
        errors = str(exc).splitlines()
        plural = "s" if len(errors) > 1 else ""
        lines = [f"{name:<{WIDTH}}{path}: {len(errors)} error{plural}"]
        return Checked([*lines, *(f"  {error}" for error in errors)], failed=True)
    return Checked([f"{name:<{WIDTH}}{path}: OK ({_contents(config)})"])


def _contents(config: RoutingConfig | ScoringConfig) -> str:
    if isinstance(config, ScoringConfig):
        return f"model {config.model_version}"
    return (
        f"{len(config.reps)} reps, {len(config.teams)} teams, {len(config.queues)} queues, "
        f"{len(config.rules)} rules"
    )


def check_accounts(name: str, path: Path, *, strict: bool, first: int = FIRST) -> Checked:
    """One accounts file, read tolerantly so every problem is listed; failed under `strict`
    when any row was skipped or warned about."""
    try:
        report = read_accounts_csv(path)
    except OSError as exc:
        return _unreadable(name, path, f"{path}: cannot read: {exc.strerror}")
    except ValueError as exc:  # a header problem names file:line; a decoding error does not
        message = str(exc)
        return _unreadable(
            name, path, message if message.startswith(str(path)) else f"{path}: {message}"
        )
    summary = report.summary(first=first)
    problems = summary["skipped"] + summary["warnings"]
    lines = [
        f"{name:<{WIDTH}}{path}: {summary['loaded']} loaded, {summary['skipped']} skipped, "
        f"{summary['warnings']} warnings"
    ]
    lines += [
        f"  {title}: " + ", ".join(f"{count} {kind}" for kind, count in summary[key].items())
        for title, key in (("skipped", "skipped_by_kind"), ("warnings", "warnings_by_kind"))
        if summary[key]
    ]
    lines += [f"  {problem}" for problem in summary["first"]]
    if problems > len(summary["first"]):
        lines.append(f"  … and {problems - len(summary['first'])} more")
    return Checked(lines, failed=strict and problems > 0, warned=problems > 0)


def check_hubspot_accounts(settings: Settings, routing: RoutingConfig) -> Checked:
    """With HubSpot configured the accounts are its companies: what the last sync kept (the
    snapshot file), and its problems; none yet is not a failure (the first start reads them)."""
    from service.account_sync import hubspot_accounts

    name = "accounts"
    accounts = hubspot_accounts(settings, routing.reps)
    if not accounts.load():
        return Checked(
            [
                f"{name:<{WIDTH}}HubSpot companies: none synced yet ({accounts.path}); the first "
                "start reads them all"
            ]
        )
    summary = accounts.report().summary(first=FIRST)
    full_at = accounts.full_at.strftime("%Y-%m-%d %H:%M UTC") if accounts.full_at else "—"
    lines = [
        f"{name:<{WIDTH}}HubSpot companies: {summary['loaded']} loaded, {summary['skipped']} "
        f"skipped, {summary['warnings']} warnings (last full read {full_at})"
    ]
    lines += [f"  {problem}" for problem in summary["first"]]
    return Checked(lines, warned=bool(summary["skipped"] or summary["warnings"]))


def _unreadable(name: str, path: Path, message: str) -> Checked:
    return Checked([f"{name:<{WIDTH}}{path}: cannot be loaded", f"  {message}"], failed=True)


def check_owners(settings: Settings, routing: RoutingConfig) -> Checked:
    """With HubSpot configured: each rep whose `crm_owner_id` does not name their HubSpot owner.
    A mismatch warns (the lead still completes, without an owner set); HubSpot unreachable fails."""
    from tools.crm_hubspot import HubSpotCRM, HubSpotError

    assert settings.hubspot_access_token is not None
    crm = HubSpotCRM(settings.hubspot_access_token, base_url=settings.hubspot_api_url)
    name = "owners"
    try:
        mismatches = asyncio.run(crm.owner_mismatches(routing.reps))
    except HubSpotError as exc:
        return Checked([f"{name:<{WIDTH}}HubSpot: cannot be read", f"  {exc}"], failed=True)
    lines = [
        f"{name:<{WIDTH}}HubSpot: {len(routing.reps) - len(mismatches)} of {len(routing.reps)} "
        "reps name their owner"
    ]
    for mismatch in mismatches:
        hubspot = (
            f" (HubSpot has {mismatch['hubspot_email']})" if "hubspot_email" in mismatch else ""
        )
        lines.append(
            f"  {mismatch['rep']} <{mismatch['email']}> crm_owner_id "
            f"{mismatch['crm_owner_id'] or '—'}: {mismatch['problem']}{hubspot}"
        )
    return Checked(lines, warned=bool(mismatches))


def run(settings: Settings, *, strict: bool) -> tuple[list[str], int]:
    """The report's lines and the exit status for the files `settings` names."""
    checked = {
        "routing": check_config("routing", settings.routing_config, load_routing),
        "scoring": check_config("scoring", settings.scoring_config, load_scoring),
    }
    if settings.hubspot_access_token is not None and not checked["routing"].failed:
        routing = load_routing(settings.routing_config)
        checked["accounts"] = check_hubspot_accounts(settings, routing)
    else:
        checked["accounts"] = check_accounts("accounts", settings.accounts_csv, strict=strict)
    if settings.company_directory:
        checked["directory"] = check_accounts(
            "directory", settings.company_directory, strict=strict
        )
    if settings.hubspot_access_token is not None and not checked["routing"].failed:
        checked["owners"] = check_owners(settings, load_routing(settings.routing_config))
    lines = [line for result in checked.values() for line in result.lines]
    failed = [name for name, result in checked.items() if result.failed]
    warned = [name for name, result in checked.items() if result.warned]
    if failed:
        because = ", ".join(failed)
        strictly = " (ACCOUNTS_STRICT=true)" if strict and any(n in warned for n in failed) else ""
        lines.append(f"check: FAILED — the service would not start: {because}{strictly}")
        return lines, 1
    if warned:
        lines.append(
            f"check: OK with warnings in {', '.join(warned)} (they are logged at start too)"
        )
        return lines, 0
    lines.append("check: OK")
    return lines, 0


def cli(argv: list[str]) -> int:
    """`check`: print the report; exit 1 when the service would not start with these files."""
    parser = argparse.ArgumentParser(
        prog="cli.py check",
        description="Check routing.yaml, scoring.yaml and the accounts file(s) as the service "
        "reads them: each config OK or its errors with file:line; each accounts file's rows "
        "loaded, skipped and warned about, by kind, with the first problems. Exit status 1 "
        "when the service would not start with them.",
    )
    parser.add_argument(
        "--routing", type=Path, metavar="PATH", help="routing.yaml (default ROUTING_CONFIG)"
    )
    parser.add_argument(
        "--scoring", type=Path, metavar="PATH", help="scoring.yaml (default SCORING_CONFIG)"
    )
    parser.add_argument(
        "--accounts", type=Path, metavar="PATH", help="accounts CSV (default ACCOUNTS_CSV)"
    )
    parser.add_argument(
        "--directory",
        type=Path,
        metavar="PATH",
        help="company directory CSV (default COMPANY_DIRECTORY, none when unset)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail on any skipped account row or warning (default ACCOUNTS_STRICT)",
    )
    args = parser.parse_args(argv)

    settings = Settings()
    overrides = {
        name: value
        for name, value in (
            ("routing_config", args.routing),
            ("scoring_config", args.scoring),
            ("accounts_csv", args.accounts),
            ("company_directory", args.directory),
        )
        if value is not None
    }
    settings = settings.model_copy(update=overrides)
    lines, status = run(settings, strict=args.strict or settings.accounts_strict)
    for line in lines:
        print(line)
    return status
