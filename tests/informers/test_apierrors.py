"""Failures become ApiStatusError however they arrived, and are classified as RF-6/RF-11
need (API-3, KA-12)."""

from __future__ import annotations

import json

from informers.apierrors import ApiStatusError

EXPIRED = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": "too old resource version: 223 (231)",
    "reason": "Expired",
    "code": 410,
}


def test_api3_a_410_status_body_is_expired_whether_bytes_or_text() -> None:
    for body in (json.dumps(EXPIRED).encode(), json.dumps(EXPIRED)):
        error = ApiStatusError.from_body(410, body)
        assert (error.code, error.reason, error.is_expired) == (410, "Expired", True)
        assert "too old resource version" in str(error)


def test_api3_a_watch_error_event_status_is_expired_also_with_the_old_reason_gone() -> None:
    assert ApiStatusError.from_status(EXPIRED).is_expired
    assert ApiStatusError.from_status({"kind": "Status", "reason": "Gone", "code": 0}).is_expired


def test_rf6_too_large_resource_version_by_cause_or_by_timeout_message() -> None:
    by_cause = {
        "kind": "Status",
        "code": 504,
        "reason": "Timeout",
        "details": {"causes": [{"reason": "ResourceVersionTooLarge", "message": "x"}]},
    }
    assert ApiStatusError.from_status(by_cause).is_too_large_resource_version
    by_message = {"kind": "Status", "code": 504, "message": "Too large resource version: 9"}
    assert ApiStatusError.from_body(504, json.dumps(by_message)).is_too_large_resource_version
    assert not ApiStatusError.from_body(504, b"gateway timeout").is_too_large_resource_version


def test_rf11_429_is_throttling_and_a_non_status_body_is_kept_as_the_message() -> None:
    throttled = ApiStatusError.from_body(429, b"<html>slow down</html>")
    assert throttled.is_too_many_requests
    assert not throttled.is_expired
    assert throttled.message == "<html>slow down</html>"
    assert ApiStatusError.from_status("garbage").code == 500
