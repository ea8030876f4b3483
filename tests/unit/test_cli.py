"""The command line's help: every command listed, each command's help reachable, defaults shown."""

from __future__ import annotations

import pytest

from cli import main

COMMANDS = ("serve", "worker", "demo", "eval", "learn", "model", "backtest", "check")


def help_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """What `python cli.py <argv>` prints, once it exits 0."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`cli.py --help` names each command with its one-line summary."""
    out = help_of(["--help"], capsys)
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("    ")}
    assert listed >= set(COMMANDS)


def test_eval_help_shows_what_it_measures(capsys: pytest.CaptureFixture[str]) -> None:
    """`cli.py eval --help` exits 0 and names match, score and intent."""
    out = help_of(["eval", "--help"], capsys)
    assert "match: account matching" in out and "intent" in out and "score" in out


def test_eval_without_what_is_refused_with_its_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """`cli.py eval` alone exits 2 with the usage on stderr."""
    assert main(["eval"]) == 2
    assert "usage: cli.py eval" in capsys.readouterr().err


def test_serve_help_shows_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """`cli.py serve --help` says where HOST and PORT come from and their defaults."""
    out = " ".join(help_of(["serve", "--help"], capsys).split())
    assert "default: HOST from .env or the environment, else 127.0.0.1" in out
    assert "default: PORT from .env or the environment, else 8000" in out
