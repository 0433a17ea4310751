"""API-server failures as one exception type, whichever way they arrived.

A `Status` can come as a non-2xx response that kubernetes_asyncio returned (releases up
to 36) or raised as `ApiException` (later ones), or as a watch ERROR event (KA-12, API-3);
all become `ApiStatusError`, so the reflector classifies them in one place (RF-6, RF-11).
"""

from __future__ import annotations

import json
from typing import Any


class ApiStatusError(Exception):
    """A failed API call, described by the server's `Status` (or as much of it as we got)."""

    def __init__(
        self,
        code: int,
        reason: str = "",
        message: str = "",
        causes: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}" if reason else f"{code}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = causes or []

    @classmethod
    def from_status(cls, status: Any, *, fallback_code: int = 500) -> ApiStatusError:
        """From a decoded `Status` object; anything else is kept as the message."""
        if not isinstance(status, dict):
            return cls(fallback_code, "", repr(status)[:500])
        code = status.get("code")
        details = status.get("details")
        causes = details.get("causes") if isinstance(details, dict) else None
        return cls(
            code if isinstance(code, int) and code else fallback_code,
            str(status.get("reason") or ""),
            str(status.get("message") or ""),
            [c for c in causes if isinstance(c, dict)] if isinstance(causes, list) else [],
        )

    @classmethod
    def from_body(cls, http_status: int, body: bytes | str | None) -> ApiStatusError:
        """From an HTTP error response's body, which is a `Status` when the server wrote it."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        try:
            decoded = json.loads(text)
        except ValueError:
            return cls(http_status, "", text.strip()[:500])
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            error = cls.from_status(decoded, fallback_code=http_status)
            error.code = http_status or error.code
            return error
        return cls(http_status, "", text.strip()[:500])

    @property
    def is_expired(self) -> bool:
        """410 Expired/Gone: the resourceVersion or continue token is too old (API-3)."""
        return self.code == 410 or self.reason in ("Expired", "Gone")

    @property
    def is_too_large_resource_version(self) -> bool:
        """The server has not caught up with the requested resourceVersion yet (RF-6)."""
        if any(cause.get("reason") == "ResourceVersionTooLarge" for cause in self.causes):
            return True
        if self.code == 504 or self.reason == "Timeout":
            texts = [self.message, *(str(c.get("message", "")) for c in self.causes)]
            return any("Too large resource version" in text for text in texts)
        return False

    @property
    def is_too_many_requests(self) -> bool:
        return self.code == 429 or self.reason == "TooManyRequests"
