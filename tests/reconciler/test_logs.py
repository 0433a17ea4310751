"""Logged tracebacks never show local variables, in either format: the API client's
locals hold the bearer token, and rendering them took seconds per failure, long
enough for /healthz to stop answering during an API server outage."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog

from reconciler import logs

SECRET = "s3cr3t-t0ken-for-the-test"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _fail_holding_a_secret() -> None:
    headers = {"authorization": f"Bearer {SECRET}"}
    raise RuntimeError(f"boom with {len(headers)} header")


def _log_a_failure(log_format: str) -> None:
    logs.configure(log_format, "info")
    try:
        _fail_holding_a_secret()
    except RuntimeError as error:
        structlog.get_logger("test").warning("reconcile failed", exc_info=error)


@pytest.mark.usefixtures("restore_logging")
def test_a_console_traceback_names_the_error_and_shows_no_locals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _log_a_failure("console")
    err = capsys.readouterr().err
    assert "RuntimeError: boom with 1 header" in err
    assert "_fail_holding_a_secret" in err
    assert SECRET not in err


@pytest.mark.usefixtures("restore_logging")
def test_a_json_traceback_names_the_error_and_shows_no_locals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _log_a_failure("json")
    (line,) = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    (exception,) = record["exception"]
    assert exception["exc_type"] == "RuntimeError"
    assert exception["frames"][-1]["name"] == "_fail_holding_a_secret"
    assert SECRET not in line
