"""The controller's API client reads proxy settings from the environment once, when it
is made, instead of on every request (a profile of the burst benchmark found the
per-request lookups to be about a third of the controller's CPU), and loads its
kubeconfig without importing kubernetes_asyncio's generated models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.kube import load_connection


def _kubeconfig(path: Path, server: str) -> Path:
    cluster = {"server": server, "insecure-skip-tls-verify": True}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path.write_text(json.dumps(config))
    return path


async def test_the_proxy_is_resolved_once_and_requests_skip_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    api = await load_connection(str(_kubeconfig(tmp_path / "k", "https://10.1.2.3:6443")), None)
    try:
        assert api.proxy == "http://proxy.example:3128"
        assert (api.proxy_headers or {})["Proxy-Authorization"].startswith("Basic ")
        assert api.session.trust_env is False
    finally:
        await api.close()


async def test_no_proxy_excludes_the_api_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "10.1.2.3")
    api = await load_connection(str(_kubeconfig(tmp_path / "k", "https://10.1.2.3:6443")), None)
    try:
        assert api.proxy is None
        assert api.session.trust_env is False
    finally:
        await api.close()


PROBE = """
import asyncio, json, sys

class Seen:
    names = []
    def find_spec(self, name, path=None, target=None):
        self.names.append(name)

sys.meta_path.insert(0, Seen())
from reconciler.kube import load_connection

async def main():
    connection = await load_connection(sys.argv[1], None)
    try:
        loaded = sorted(m for m in sys.modules if m.startswith("kubernetes_asyncio"))
        print(json.dumps({
            "host": connection.host,
            "authorization": await connection.authorization(),
            "loaded": loaded,
            "imported": [n for n in Seen.names if n.startswith("kubernetes_asyncio")],
        }))
    finally:
        await connection.close()

asyncio.run(main())
import kubernetes_asyncio.client
print(json.dumps({"full_client_after": hasattr(kubernetes_asyncio.client, "CoreV1Api")}))
"""


def test_the_controller_loads_its_kubeconfig_without_kubernetes_asyncios_models(
    tmp_path: Path,
) -> None:
    """A process of its own: in this one the tests have imported kubernetes_asyncio whole."""
    path = _kubeconfig(tmp_path / "k", "https://198.18.0.1:6443")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
    ).stdout.splitlines()
    loaded = json.loads(out[0])
    assert loaded["host"] == "https://198.18.0.1:6443"
    assert loaded["authorization"] == "Bearer t"
    imported = set(loaded["imported"])
    assert "kubernetes_asyncio.config.kube_config" in imported
    assert not {"kubernetes_asyncio.client.models", "kubernetes_asyncio.client.api_client"} & (
        imported
    )
    assert loaded["loaded"] == []  # the stand-ins and what came through them: taken out
    # Anything imported later gets the whole package, as it would have without us.
    assert json.loads(out[1]) == {"full_client_after": True}
