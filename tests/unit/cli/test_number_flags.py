"""Number flags refuse nan, inf and values past their bound with exit 2 and the allowed range, before
anything is contacted (issue 9 item 7; issue 10: `--max-time nan|inf`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from weatherballoon.cli.main import run_cli


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--max-cost", "nan", "--", "true"], "'--max-cost': 'nan' is not a finite number"),
        (["run", "--max-cost", "1e400", "--", "true"], "'--max-cost': '1e400' is not a finite number"),
        (["run", "--max-cost", "2000000", "--", "true"], "at most 1,000,000 USD"),
        (["run", "--max-time", "inf", "--", "true"], "'--max-time': 'inf' is out of range"),
        (["run", "--max-time", "nan", "--", "true"], "'--max-time': 'nan' is out of range"),
        (["run", "--max-time", "1e10", "--", "true"], "at most 366d"),
        (["run", "--max-time", "400d", "--", "true"], "at most 366d"),
        (["budget", "set", "alice", "nan"], "'USD': 'nan' is not a finite number"),
        (["budget", "set", "alice", "inf"], "'USD': 'inf' is not a finite number"),
        (["budget", "set", "alice", "1e400"], "'USD': '1e400' is not a finite number"),
        (["bootstrap", "--lease-minutes", "nan"], "'--lease-minutes': 'nan' is not a finite number"),
        (["bootstrap", "--idle-minutes", "inf"], "'--idle-minutes': 'inf' is not a finite number"),
        (["bootstrap", "--max-hours", "1e9"], "at most 8,760 hours"),
        (["bootstrap", "--user-budget", "nan"], "'--user-budget': 'nan' is not a finite number"),
        (["sandbox", "up", "--reaper-period", "inf"], "'--reaper-period': 'inf' is not a finite number"),
        (["sandbox", "up", "--lease-minutes", "nan"], "'--lease-minutes': 'nan' is not a finite number"),
    ],
)
def test_refused_with_the_range(capsys: pytest.CaptureFixture[str], args: list[str], says: str) -> None:
    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err


def test_in_range_values_parse(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parsing succeeds, and the command then fails for lack of a config (exit 2 with that message instead).
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WB_KIND", raising=False)
    monkeypatch.delenv("WB_CONFIG", raising=False)
    assert run_cli(["run", "--max-time", "366d", "--max-cost", "0.5", "--", "true"]) == 2
    assert "no .weatherballoon.json" in capsys.readouterr().err
