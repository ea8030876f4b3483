"""Start-up failures: one line saying what, where and how to fix it, and a non-zero exit;
the traceback only in the debug log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ENV_SETTINGS, ROOT, free_port


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `cli.py serve` in `tmp_path` (its .env, not the checkout's) until it exits."""
    base = {k: v for k, v in os.environ.items() if k not in ENV_SETTINGS}
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env={**base, "DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def the_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed start prints, once the exit status and the absence of a
    traceback are checked."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    return done.stderr.strip().splitlines()[-1]


def bad_routing(tmp_path: Path) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text("version: 1\nreps: []\n")
    return path


def test_a_bad_routing_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    """An invalid routing.yaml stops serve with its file:line and the problem."""
    path = bad_routing(tmp_path)
    line = the_line(serve(tmp_path, ROUTING_CONFIG=str(path)))
    assert line.startswith(f"serve: cannot start: {path}:2: reps: ")
    assert "python cli.py check" in line


def test_the_traceback_is_in_the_debug_log(tmp_path: Path) -> None:
    """With LOG_LEVEL=DEBUG the same failure also logs its traceback."""
    done = serve(tmp_path, ROUTING_CONFIG=str(bad_routing(tmp_path)), LOG_LEVEL="DEBUG")
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "start failed" in done.stderr


def test_an_invalid_setting_in_dotenv_is_named_with_its_value(tmp_path: Path) -> None:
    """IDEMPOTENCY_TTL_DAYS=3 in .env is refused in one line naming the setting and the limit."""
    (tmp_path / ".env").write_text("IDEMPOTENCY_TTL_DAYS=3\n")
    line = the_line(serve(tmp_path))
    assert line.startswith("serve: cannot start: invalid setting")
    assert "IDEMPOTENCY_TTL_DAYS=3: input should be greater than or equal to 7" in line


def test_an_unreachable_redis_says_where_and_what_to_do(tmp_path: Path) -> None:
    """A REDIS_URL nobody answers at stops serve naming the address (not its password)."""
    line = the_line(serve(tmp_path, REDIS_URL="redis://:hunter2@127.0.0.1:1/0"))
    assert line.startswith("serve: cannot start: cannot reach Redis at redis://:***@127.0.0.1:1/0")
    assert "unset REDIS_URL and QUEUE_URL" in line and "hunter2" not in line
