"""List, then watch from the list's resourceVersion, forever: client-go's reflector (RF-*).

It keeps the resourceVersion bookkeeping and decides, for every way a list or watch can
end, whether to re-watch at once, back off and re-watch, or back off and relist (RF-11).
Objects go to a `ReflectorSink` (the informer); the reflector holds no cache of its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

import aiohttp
import structlog

from informers.apierrors import ApiStatusError
from informers.backoff import Backoff, BackoffPolicy
from informers.clock import Clock
from informers.decoding import json_loads, page_loads, strip_managed_fields
from informers.lines import LineSplitter, LineTooLongError
from informers.resource import Resource
from informers.transport import RawApi, read_json
from informers.watchdog import InactivityTimeoutError, InactivityWatchdog

log = structlog.get_logger(__name__)

Transform = Callable[[dict[str, Any]], dict[str, Any]]

# Failures of the connection itself (as opposed to an answer from the server).
_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)


class ReflectorSink(Protocol):
    def replace(self, objects: list[dict[str, Any]], resource_version: str) -> None: ...

    def upsert(self, obj: dict[str, Any]) -> None: ...

    def remove(self, obj: dict[str, Any]) -> None: ...

    def bookmark(self, resource_version: str) -> None: ...


@dataclass(frozen=True)
class ReflectorOptions:
    """Timings and sizes of one reflector; the defaults are client-go's unless noted."""

    page_size: int | None = None
    """LIST page size; None: 500 for RV "" and "0", otherwise unpaginated (RF-5)."""
    min_watch_timeout: float = 300.0
    """Each watch asks the server to end it after U[min, 2·min) seconds (RF-8)."""
    inactivity_timeout: float = 150.0
    """Not in client-go: a request that receives no byte for this long is replaced. The
    API server sends a bookmark about every minute, so this is two missed bookmarks."""
    connect_timeout: float = 30.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    very_short_watch: float = 1.0
    """A watch ending this soon with no event is an error (RF-11, VeryShortWatchError)."""

    def __post_init__(self) -> None:
        if self.page_size is not None and self.page_size <= 0:
            raise ValueError(f"page_size must be positive or None, got {self.page_size}")
        if self.min_watch_timeout < 1:
            raise ValueError(f"min_watch_timeout must be >= 1s, got {self.min_watch_timeout}")


@dataclass
class ReflectorStats:
    lists: int = 0  # completed LISTs, relists included
    list_pages: int = 0
    watches: int = 0  # watch requests answered 200
    events: int = 0  # ADDED, MODIFIED and DELETED events applied
    bookmarks: int = 0
    expired: int = 0  # 410 answers or ERROR events
    errors: int = 0  # list_and_watch rounds that ended in an error


class VeryShortWatchError(RuntimeError):
    pass


class WatchDecodeError(ValueError):
    pass


class _WatchStartError(RuntimeError):
    """The watch request never got an answer (refused, reset, timed out): re-watch later."""


class Reflector:
    def __init__(
        self,
        raw: RawApi,
        resource: Resource,
        sink: ReflectorSink,
        *,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        transform: Transform | None,
        drop_managed_fields: bool,
        options: ReflectorOptions,
        clock: Clock,
        watchdog: InactivityWatchdog,
        name: str,
        rng: random.Random | None = None,
    ) -> None:
        self._raw = raw
        self._resource = resource
        self._sink = sink
        self._path = resource.collection_path(namespace)
        self._selectors: list[tuple[str, str]] = []
        if label_selector:
            self._selectors.append(("labelSelector", label_selector))
        if field_selector:
            self._selectors.append(("fieldSelector", field_selector))
        self._transform = transform
        self._page_loads = page_loads(drop_managed_fields=drop_managed_fields)
        self._drop_managed_fields = drop_managed_fields
        self._options = options
        self._clock = clock
        self._watchdog = watchdog
        self._rng = rng or random.Random()
        self._backoff = Backoff(options.backoff, clock, self._rng)
        self._log = log.bind(informer=name)
        self.name = name
        self.stats = ReflectorStats()
        self.healthy = True
        self.last_sync_resource_version = ""
        self._last_sync_rv_unavailable = False
        self._paginated_result = False

    async def run(self) -> NoReturn:
        """list_and_watch until cancelled, backing off after each return (RF-1)."""
        while True:
            try:
                await self._list_and_watch()
            except Exception as err:
                self.stats.errors += 1
                self.healthy = False
                self._log.warning("list and watch failed", error=_describe(err))
            await self._clock.sleep(self._backoff.next_delay())

    # ---- LIST ---------------------------------------------------------------

    def _relist_resource_version(self) -> str:
        """RF-4."""
        if self._last_sync_rv_unavailable:
            return ""
        return self.last_sync_resource_version or "0"

    async def _list_and_watch(self) -> None:
        await self._list()
        while True:
            try:
                await self._watch()
            except _WatchStartError as err:
                self.healthy = False
                self._log.info("watch could not start; retrying", error=str(err))
            except ApiStatusError as err:
                if err.is_expired:
                    # RF-11: back off, then relist at last_sync_resource_version.
                    self.stats.expired += 1
                    self._log.info("watch expired; relisting", error=str(err))
                    return
                if not err.is_too_many_requests:
                    raise  # relist after backoff
                self._log.info("watch throttled; retrying", error=str(err))
            else:
                continue  # the stream ended normally: watch again at once (RF-11)
            await self._clock.sleep(self._backoff.next_delay())

    async def _list(self) -> None:
        resource_version = self._relist_resource_version()
        try:
            objects, list_rv = await self.list_objects(resource_version)
        except ApiStatusError as err:
            if not (err.is_expired or err.is_too_large_resource_version):
                raise
            # RF-6: fall back once to a consistent read.
            self.stats.expired += int(err.is_expired)
            self._log.info("list at resourceVersion failed; relisting", error=str(err))
            self._last_sync_rv_unavailable = True
            objects, list_rv = await self.list_objects("")
        self._last_sync_rv_unavailable = False
        self._sink.replace(objects, list_rv)
        self.last_sync_resource_version = list_rv
        self.stats.lists += 1
        self.healthy = True

    async def list_objects(self, resource_version: str) -> tuple[list[dict[str, Any]], str]:
        """All pages of a LIST (RF-5): the objects and the first page's resourceVersion."""
        limit = self._options.page_size
        if limit is None and (self._paginated_result or resource_version in ("", "0")):
            limit = 500
        first: list[tuple[str, str]] = list(self._selectors)
        if resource_version:
            first.append(("resourceVersion", resource_version))
        if limit is not None:
            first.append(("limit", str(limit)))
        page = await self._get_page(first)
        objects = self._page_objects(page)
        metadata = page.get("metadata") or {}
        list_rv = str(metadata.get("resourceVersion") or "")
        token = metadata.get("continue")
        if resource_version == "0" and token:
            self._paginated_result = True
        while token:
            params = [*self._selectors, ("limit", str(limit)), ("continue", str(token))]
            try:
                page = await self._get_page(params)
            except ApiStatusError as err:
                if not err.is_expired:
                    raise
                # RF-5: the continue token expired; one full list at the requested RV.
                full = list(self._selectors)
                if resource_version:
                    full.append(("resourceVersion", resource_version))
                page = await self._get_page(full)
                objects = self._page_objects(page)
                list_rv = str((page.get("metadata") or {}).get("resourceVersion") or "")
                break
            objects.extend(self._page_objects(page))
            token = (page.get("metadata") or {}).get("continue")
        if not list_rv:
            raise WatchDecodeError(f"LIST {self._path} returned no metadata.resourceVersion")
        return objects, list_rv

    async def _get_page(self, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
        with self._watchdog.guard(f"LIST {self._path}"):
            response = await self._raw.get(self._path, params)
            try:
                page = await read_json(response, self._page_loads, self._watchdog.touch)
            finally:
                response.release()
        if not isinstance(page, dict) or not isinstance(page.get("items", []), list):
            raise WatchDecodeError(f"LIST {self._path} did not return a list object")
        self.stats.list_pages += 1
        return page

    def _page_objects(self, page: dict[str, Any]) -> list[dict[str, Any]]:
        # Items of a list carry no apiVersion/kind of their own; give them the list's.
        kind = str(page.get("kind") or "")
        kind = kind.removesuffix("List")
        api_version = str(page.get("apiVersion") or self._resource.api_version)
        objects: list[dict[str, Any]] = []
        for item in page.get("items") or ():
            if not isinstance(item, dict):
                raise WatchDecodeError(f"LIST {self._path} has a non-object item: {item!r:.200}")
            if "kind" not in item and kind:
                item["apiVersion"] = api_version
                item["kind"] = kind
            objects.append(item if self._transform is None else self._transform(item))
        return objects

    # ---- WATCH --------------------------------------------------------------

    async def _watch(self) -> None:
        """One watch request; returns when its stream ends normally (RF-8 … RF-12)."""
        minimum = self._options.min_watch_timeout
        params = [
            *self._selectors,
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(int(minimum + self._rng.random() * minimum))),
        ]
        started_at_rv = self.last_sync_resource_version
        if started_at_rv:
            params.append(("resourceVersion", started_at_rv))
        started = self._clock.now()
        try:
            with self._watchdog.guard(f"WATCH {self._path}"):
                response = await self._raw.get(self._path, params)
        except _TRANSPORT_ERRORS as err:
            raise _WatchStartError(_describe(err)) from err
        except ApiStatusError as err:
            self.healthy = err.is_expired
            raise
        self.healthy = True
        self.stats.watches += 1
        state = _WatchState(propagate_rv=started_at_rv not in ("", "0"))
        try:
            with self._watchdog.guard(f"WATCH {self._path} at {started_at_rv or '(none)'}"):
                splitter = LineSplitter()
                async for chunk in response.content.iter_any():
                    self._watchdog.touch()
                    for line in splitter.feed(chunk):
                        self._handle_line(line, state)
        except (InactivityTimeoutError, *_TRANSPORT_ERRORS) as err:
            self._log.debug("watch stream ended", error=_describe(err), lines=state.lines)
        except LineTooLongError as err:
            raise WatchDecodeError(str(err)) from err
        finally:
            response.close()  # RF-12: closed before any re-watch or relist
        if state.lines == 0 and self._clock.now() - started < self._options.very_short_watch:
            raise VeryShortWatchError(f"WATCH {self._path} ended at once without an event")

    def _handle_line(self, line: bytes, state: _WatchState) -> None:
        state.lines += 1
        try:
            event = json_loads(line)
        except ValueError as err:
            raise WatchDecodeError(f"undecodable watch line: {line[:200]!r}") from err
        if not isinstance(event, dict):
            raise WatchDecodeError(f"watch line is not an object: {line[:200]!r}")
        event_type = event.get("type")
        obj = event.get("object")
        if event_type is None and "code" in event:
            raise ApiStatusError.from_status(event)  # an error body inside the stream (KA-4)
        if not isinstance(obj, dict):
            raise WatchDecodeError(f"watch event without an object: {line[:200]!r}")
        if event_type == "ERROR":
            raise ApiStatusError.from_status(obj)
        resource_version = (obj.get("metadata") or {}).get("resourceVersion")
        if event_type == "BOOKMARK":
            if not isinstance(resource_version, str) or not resource_version:
                raise WatchDecodeError(f"bookmark without a resourceVersion: {line[:200]!r}")
            self.stats.bookmarks += 1
            self._sink.bookmark(resource_version)
            self._advance(resource_version, event_type, state)
            return
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            self._log.warning("unknown watch event type", type=event_type)
            return
        api_version = obj.get("apiVersion")
        if api_version is not None and api_version != self._resource.api_version:
            self._log.warning("watch event of another type dropped", api_version=api_version)
            return
        if self._drop_managed_fields:
            strip_managed_fields(obj)
        if self._transform is not None:
            obj = self._transform(obj)
        if event_type == "DELETED":
            self._sink.remove(obj)
        else:
            self._sink.upsert(obj)
        self.stats.events += 1
        if isinstance(resource_version, str) and resource_version:
            self._advance(resource_version, event_type, state)

    def _advance(self, resource_version: str, event_type: str, state: _WatchState) -> None:
        """RF-9: synthetic ADDED events of an RV-less watch are unordered; skip them."""
        if not state.propagate_rv and event_type == "ADDED":
            return
        state.propagate_rv = True
        self.last_sync_resource_version = resource_version


@dataclass
class _WatchState:
    propagate_rv: bool
    lines: int = 0


def _describe(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
