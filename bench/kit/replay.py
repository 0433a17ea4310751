"""Sends one task's recorded requests the way the controller's reconcile does: step
by step, the child applies of a step all at once (up to the per-task limit)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bench.kit.apiclient import Api
from bench.kit.recorded import Request


async def send_steps(
    api: Api, steps: Sequence[Sequence[Request]], *, apply_concurrency: int
) -> int:
    """Sends every request; returns how many were sent. A non-2xx answer raises."""
    sent = 0
    for step in steps:
        if len(step) == 1:
            await _send(api, step[0])
        else:
            limit = asyncio.Semaphore(apply_concurrency)

            async def one(request: Request, limit: asyncio.Semaphore = limit) -> None:
                async with limit:
                    await _send(api, request)

            await asyncio.gather(*(one(request) for request in step))
        sent += len(step)
    return sent


async def _send(api: Api, request: Request) -> None:
    await api.send(
        request.method,
        request.path,
        query=request.query,
        body=request.body,
        content_type=request.content_type,
    )
