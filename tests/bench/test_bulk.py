"""Settled tasks made in bulk carry their objects' real creation times in status."""

from __future__ import annotations

import json

from bench.kit.bulk import _with_create_times


def test_status_gets_the_creation_times_the_server_gave() -> None:
    status = {
        "apiVersion": "kuscia.secretflow/v1alpha1",
        "kind": "KusciaTask",
        "metadata": {"name": "t", "namespace": "ns"},
        "status": {
            "podStatuses": {"alice/t-0": {"podName": "t-0", "createTime": "recorded"}},
            "serviceStatuses": {"alice/t-0-fed": {"createTime": "recorded"}},
            "phase": "Pending",
        },
    }
    made = [
        {"metadata": {"namespace": "alice", "name": "t-0", "creationTimestamp": "T1"}},
        {"metadata": {"namespace": "alice", "name": "t-0-fed", "creationTimestamp": "T2"}},
    ]
    got = json.loads(_with_create_times(json.dumps(status).encode(), made))
    assert got["status"]["podStatuses"]["alice/t-0"] == {"podName": "t-0", "createTime": "T1"}
    assert got["status"]["serviceStatuses"]["alice/t-0-fed"]["createTime"] == "T2"
    assert got["status"]["phase"] == "Pending"
