"""The controller's door to the API server: raw JSON requests on one Connection
(informers.connection: no generated models, bodies encoded and answers parsed once),
every write counted so tests and benchmarks can prove that a settled cluster gets none."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp.helpers import get_env_proxy_for_url
from prometheus_client import Counter
from yarl import URL

from informers.apierrors import ApiStatusError
from informers.connection import Api, Connection
from informers.decoding import json_loads
from informers.store import object_key
from reconciler import kubeconfig
from reconciler.own_writes import OwnWrites
from reconciler.write_fence import WriteCheck, checked_writes, fence

API_WRITES = Counter(
    "kuscia_reconciler_api_writes_total",
    "Write requests the controller sent to the API server.",
    ["verb", "resource"],
)
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiError(ApiStatusError):
    """A non-2xx answer, with the Status object's reason and message."""

    @property
    def status(self) -> int:
        return self.code

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


@dataclass(frozen=True)
class Kind:
    """Where a kind of object lives in the REST API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = (
            f"/api/{self.api_version}"
            if "/" not in self.api_version
            else (f"/apis/{self.api_version}")
        )
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


POD = Kind("v1", "Pod", "pods")
SERVICE = Kind("v1", "Service", "services")
CONFIG_MAP = Kind("v1", "ConfigMap", "configmaps")
EVENT = Kind("v1", "Event", "events")
NAMESPACE = Kind("v1", "Namespace", "namespaces", namespaced=False)
NETWORK_POLICY = Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
LEASE = Kind("coordination.k8s.io/v1", "Lease", "leases")
KUSCIA_TASK = Kind("kuscia.secretflow/v1alpha1", "KusciaTask", "kusciatasks")
APP_IMAGE = Kind("kuscia.secretflow/v1alpha1", "AppImage", "appimages", namespaced=False)
DOMAIN = Kind("kuscia.secretflow/v1alpha1", "Domain", "domains", namespaced=False)
POD_GROUP = Kind("scheduling.k8s.io/v1beta1", "PodGroup", "podgroups")

KINDS = {
    k.kind: k
    for k in (
        POD,
        SERVICE,
        CONFIG_MAP,
        EVENT,
        NAMESPACE,
        NETWORK_POLICY,
        LEASE,
        KUSCIA_TASK,
        APP_IMAGE,
        DOMAIN,
        POD_GROUP,
    )
}


def resource_of(path: str) -> str:
    """The resource (and subresource) a REST path names, never an object's name or
    namespace, so metrics labelled with it keep a bounded set of series:
    `/apis/g/v/namespaces/ns/kusciatasks/t/status` -> `kusciatasks/status`."""
    parts = [part for part in path.split("?", 1)[0].split("/") if part]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    namespace_subresource = len(rest) == 3 and rest[2] in ("status", "finalize")
    if rest[:1] == ["namespaces"] and len(rest) >= 3 and not namespace_subresource:
        rest = rest[2:]
    if not rest:
        return "unknown"
    return f"{rest[0]}/{rest[2]}" if len(rest) >= 3 else rest[0]


def json_bytes(body: Any) -> bytes:
    """A request body as JSON: orjson, many times faster than the standard encoder, for
    everything it takes (not integers past 64 bits, nor keys that are not strings)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":")).encode()


def kind_of(obj: Mapping[str, Any]) -> Kind:
    kind = KINDS.get(str(obj.get("kind")))
    if kind is None or kind.api_version != obj.get("apiVersion"):
        raise ValueError(f"no REST mapping for {obj.get('apiVersion')}/{obj.get('kind')}")
    return kind


class Kube:
    """JSON requests with the Connection's host, credentials and TLS settings."""

    def __init__(
        self,
        api: Api,
        *,
        write_guard: WriteCheck | None = None,
        timeout: float = 30.0,
        count_writes: bool = True,
        own_writes: OwnWrites | None = None,
    ) -> None:
        self.connection = Connection.of(api)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # Called before every write, and again right before its bytes are sent (see
        # write_fence); raising stops it (a replica that may no longer write), the
        # seconds it returns bound when the API server may still apply it.
        self.write_guard = write_guard
        self.count_writes = count_writes
        # Where the resourceVersions of applies to watched kinds are remembered.
        self.own_writes = own_writes

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        write = method in WRITE_VERBS
        if write:
            if self.write_guard is not None:
                self.write_guard()
            if self.count_writes:
                API_WRITES.labels(method, resource_of(path)).inc()
        data = None if body is None else json_bytes(body)
        with checked_writes(self.write_guard if write else None):
            raw = await self.connection.request(
                method,
                path,
                query=query,
                body=data,
                content_type=content_type,
                timeout=self._timeout,
            )
        try:
            data = await raw.read()
        finally:
            raw.release()
        if not 200 <= raw.status <= 299:
            raise ApiError.from_body(raw.status, data)
        return json_loads(data) if data else {}

    async def apply(
        self,
        obj: Mapping[str, Any],
        *,
        field_manager: str,
        subresource: str = "",
        dry_run: bool = False,
        force: bool = True,
    ) -> dict[str, Any]:
        """Server-side apply of `obj`; with `force`, fields other managers hold are taken over,
        without it such a field is a 409 Conflict."""
        meta = obj["metadata"]
        path = kind_of(obj).path(meta.get("namespace"), meta["name"])
        if subresource:
            path += f"/{subresource}"
        query = [("fieldManager", field_manager), ("force", "true" if force else "false")]
        if dry_run:
            query.append(("dryRun", "All"))
        kind, key = str(obj.get("kind")), object_key(obj)
        own = self.own_writes
        if own is not None and (dry_run or not own.tracks(kind)):
            own = None
        version: str | None = None
        if own is not None:
            own.begin(kind, key)
        try:
            answer = await self.request(
                "PATCH", path, query=query, body=obj, content_type="application/apply-patch+yaml"
            )
            version = (answer.get("metadata") or {}).get("resourceVersion")
        finally:
            if own is not None:
                own.end(kind, key, version)
        return answer

    async def delete(self, kind: Kind, namespace: str | None, name: str) -> bool:
        """Deletes one object (background propagation); False when it was already gone."""
        try:
            await self.request(
                "DELETE", kind.path(namespace, name), body={"propagationPolicy": "Background"}
            )
        except ApiError as error:
            if error.not_found:
                return False
            raise
        return True


async def load_connection(kubeconfig_path: str | None, context: str | None) -> Connection:
    """A Connection from --kubeconfig/--context, else in-cluster, else ~/.kube/config."""
    loaders = kubeconfig.loaders()
    configuration = loaders.Configuration()
    if kubeconfig_path or context:
        await loaders.load_kube_config(
            config_file=kubeconfig_path, context=context, client_configuration=configuration
        )
    else:
        try:
            loaders.load_incluster_config(client_configuration=configuration)
        except loaders.ConfigException:
            await loaders.load_kube_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, 64)
    if not configuration.proxy:
        # Resolved once here: the session does not read the environment on every request
        # (informers.connection), and netrc has nothing to add to a token or certificate.
        configuration.proxy, configuration.proxy_headers = _env_proxy(configuration.host)
    connection = Connection(configuration)
    fence(connection.session)
    return connection


def _env_proxy(host: str | None) -> tuple[str | None, dict[str, str] | None]:
    """The proxy HTTPS_PROXY/NO_PROXY and the like name for the API server, if any."""
    if not host:
        return None, None
    try:
        proxy, auth = get_env_proxy_for_url(URL(host))
    except LookupError:
        return None, None
    headers = {"Proxy-Authorization": auth.encode()} if auth else None
    return str(proxy), headers
