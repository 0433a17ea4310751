"""The command line's exits: lost leadership is a plain message and exit 1,
also when it comes out of the controller's task group as an exception group."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.commands import cli
from reconciler.controller import LeadershipLost


@pytest.mark.parametrize(
    "raised",
    [LeadershipLost("lost"), BaseExceptionGroup("task group", [LeadershipLost("lost")])],
    ids=["bare", "grouped"],
)
def test_lost_leadership_exits_1_with_a_message(
    raised: BaseException, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*_: Any) -> None:
        raise raised

    monkeypatch.setattr("anyio.run", run)
    assert cli.main(["run", "--kubeconfig", "/nonexistent"]) == 1
    assert "leadership lost; exiting" in capsys.readouterr().err


def test_any_other_failure_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(*_: Any) -> None:
        raise BaseExceptionGroup("task group", [LeadershipLost("lost"), ValueError("bug")])

    monkeypatch.setattr("anyio.run", run)
    with pytest.raises(BaseExceptionGroup):
        cli.main(["run", "--kubeconfig", "/nonexistent"])
