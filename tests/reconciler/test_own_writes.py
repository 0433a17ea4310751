"""The echoes of the controller's own applies are told from everyone else's events:
unit tests of reconciler.own_writes (pure bookkeeping, no cluster)."""

from __future__ import annotations

from typing import Any

from reconciler.own_writes import OwnWrites, SkipEchoes

POD = "Pod"
KEY = "alice/task-0"


def test_the_event_of_our_own_write_is_dropped_and_anyone_elses_delivered() -> None:
    own = OwnWrites({POD})
    delivered: list[str] = []
    own.begin(POD, KEY)
    own.end(POD, KEY, "10")
    own.event(POD, KEY, "10", lambda: delivered.append("10"))
    own.event(POD, KEY, "11", lambda: delivered.append("11"))  # the kubelet's, say
    assert delivered == ["11"]
    assert len(own) == 0  # nothing kept once its echo came


def test_an_event_arriving_before_the_answer_waits_for_it() -> None:
    own = OwnWrites({POD})
    delivered: list[str] = []
    own.begin(POD, KEY)
    own.event(POD, KEY, "10", lambda: delivered.append("10"))
    own.event(POD, KEY, "9", lambda: delivered.append("9"))  # someone else's, just before
    assert delivered == []
    own.end(POD, KEY, "10")
    assert delivered == ["9"]


def test_a_failed_write_lets_the_waiting_events_through() -> None:
    own = OwnWrites({POD})
    delivered: list[str] = []
    own.begin(POD, KEY)
    own.event(POD, KEY, "10", lambda: delivered.append("10"))
    own.end(POD, KEY, None)
    assert delivered == ["10"]


def test_a_later_echo_drops_the_versions_before_it() -> None:
    own = OwnWrites({POD})
    for version in ("10", "11"):  # gated, then released, in one reconcile
        own.begin(POD, KEY)
        own.end(POD, KEY, version)
    delivered: list[str] = []
    own.event(POD, KEY, "11", lambda: delivered.append("11"))  # a relist folded "10"
    own.event(POD, KEY, "10", lambda: delivered.append("10"))
    assert delivered == ["10"]
    assert len(own) == 0


def _pod(version: str) -> dict[str, Any]:
    return {
        "kind": POD,
        "metadata": {"namespace": "alice", "name": "task-0", "resourceVersion": version},
    }


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def on_add(self, obj: dict[str, Any], is_initial_list: bool) -> None:
        self.seen.append(("add", obj["metadata"]["resourceVersion"]))

    def on_update(self, old: dict[str, Any], new: dict[str, Any], is_resync: bool) -> None:
        self.seen.append(("update", new["metadata"]["resourceVersion"]))

    def on_delete(self, obj: dict[str, Any]) -> None:
        self.seen.append(("delete", obj["metadata"]["resourceVersion"]))


def test_skip_echoes_passes_deletes_and_changes_but_not_our_echoes_or_unchanged_relists() -> None:
    own = OwnWrites({POD})
    recorder = Recorder()
    handler = SkipEchoes(recorder, own, skip_unchanged=True)
    own.begin(POD, KEY)
    own.end(POD, KEY, "10")
    handler.on_add(_pod("10"), False)  # our create's echo
    handler.on_update(_pod("10"), _pod("10"), True)  # a relist of the same version
    handler.on_update(_pod("10"), _pod("12"), False)  # an edit
    own.begin(POD, KEY)
    own.end(POD, KEY, "13")
    handler.on_delete(_pod("14"))  # deleted before the echo of "13" came
    handler.on_update(_pod("12"), _pod("13"), False)  # the same name made again later
    assert recorder.seen == [("update", "12"), ("delete", "14"), ("update", "13")]


def test_without_skip_unchanged_a_relist_is_delivered_even_of_a_version_we_wrote() -> None:
    own = OwnWrites({POD})
    own.begin(POD, KEY)
    own.end(POD, KEY, "7")  # an apply that changed nothing answers the version it found
    recorder = Recorder()
    SkipEchoes(recorder, own, skip_unchanged=False).on_update(_pod("7"), _pod("7"), True)
    assert recorder.seen == [("update", "7")]
