"""`python cli.py check`: the routing and scoring configs and the accounts file, read as the
service reads them, reported for a RevOps reader; the exit status says whether it would start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ENV_SETTINGS, ROOT

INFRA = ROOT / "infra"
FILE_SETTINGS = [
    "ROUTING_CONFIG",
    "SCORING_CONFIG",
    "ACCOUNTS_CSV",
    "COMPANY_DIRECTORY",
    "ACCOUNTS_STRICT",
]
MESSY_ACCOUNTS = (
    "account_id,name,domain,website,owner_email,employees,country\n"
    "A-1,Acme Robotics,acme.com,,ana@example.com,1200,US\n"
    "A-2,Hollow Tree Partners,,https://www.htp,,lots,US\n"
    "ACC-00313,Brightwater Analytics,,,ben@example.com,,GB\n"
    "A-1,Acme Again,acme-again.com,,,,US\n"
)


def _check(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `cli.py check` from an empty directory, with only the given file settings."""
    base = {k: v for k, v in os.environ.items() if k not in ENV_SETTINGS and k not in FILE_SETTINGS}
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "check", *args],
        cwd=tmp_path,
        env={**base, "DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _messy(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text(MESSY_ACCOUNTS, encoding="utf-8")
    return path


def test_shipped_files_pass(tmp_path: Path) -> None:
    """With no options the shipped routing, scoring and accounts files are checked and pass."""
    done = _check(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"routing   {INFRA / 'routing.yaml'}: OK (")
    assert lines[1].startswith(f"scoring   {INFRA / 'scoring.yaml'}: OK (")
    assert lines[2].startswith(f"accounts  {INFRA / 'accounts.csv'}: ")
    assert "0 skipped, 0 warnings" in lines[2]
    assert lines[-1] == "check: OK"


def test_config_errors_and_account_problems_are_listed_and_fail(tmp_path: Path) -> None:
    """A routing error is listed with file:line next to the accounts summary; exit status 1."""
    routing = tmp_path / "routing.yaml"
    text = (INFRA / "routing.yaml").read_text(encoding="utf-8")
    routing.write_text(text.replace("pool: [ana, ben]", "pool: [ana, bob]"), encoding="utf-8")
    accounts = _messy(tmp_path)
    line = next(n for n, row in enumerate(routing.read_text().splitlines(), 1) if "bob" in row)

    done = _check(tmp_path, "--routing", str(routing), "--accounts", str(accounts))

    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert f"routing   {routing}: 1 error\n" in out
    assert f"  {routing}:{line}: teams.0.pool.1: unknown rep 'bob'\n" in out
    assert f"scoring   {INFRA / 'scoring.yaml'}: OK" in out
    assert f"accounts  {accounts}: 3 loaded, 1 skipped, 3 warnings\n" in out
    assert f"  {accounts}:5: skipped: duplicate account_id 'A-1' (first on line 2)\n" in out
    assert f"  {accounts}:3: website 'https://www.htp' has no registrable domain\n" in out
    assert out.splitlines()[-1].startswith("check: FAILED")


def test_account_warnings_pass_unless_strict(tmp_path: Path) -> None:
    """Skipped rows and dropped values pass as warnings; under ACCOUNTS_STRICT they fail."""
    accounts = _messy(tmp_path)

    tolerant = _check(tmp_path, "--accounts", str(accounts))
    strict = _check(tmp_path, "--accounts", str(accounts), ACCOUNTS_STRICT="true")

    assert tolerant.returncode == 0, tolerant.stdout + tolerant.stderr
    assert "warnings: 1 bad_employees, 1 bad_website, 1 no_domain" in tolerant.stdout
    assert tolerant.stdout.splitlines()[-1].startswith("check: OK with warnings")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert strict.stdout.splitlines()[-1].startswith("check: FAILED")
    assert "ACCOUNTS_STRICT" in strict.stdout.splitlines()[-1]


def test_unreadable_accounts_header_fails(tmp_path: Path) -> None:
    """An accounts file without an account_id column is an error naming file:1."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,domain\nAcme,acme.com\n", encoding="utf-8")

    done = _check(tmp_path, "--accounts", str(accounts))

    assert done.returncode == 1
    assert f"  {accounts}:1: header has no account_id column\n" in done.stdout
