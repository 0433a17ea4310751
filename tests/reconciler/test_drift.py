"""A live object that carries everything we would apply needs no write; one
whose owned field was edited does."""

from __future__ import annotations

from reconciler.drift import apply_needed, covers


def test_defaults_added_by_the_server_need_no_write() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "a", "labels": {"x": "1"}},
        "spec": {"clusterIP": "None", "ports": [{"name": "p", "port": 80}]},
    }
    live = {
        "metadata": {"name": "a", "labels": {"x": "1", "extra": "2"}, "uid": "u"},
        "spec": {
            "clusterIP": "None",
            "clusterIPs": ["None"],
            "type": "ClusterIP",
            "ports": [{"name": "p", "port": 80, "protocol": "TCP", "targetPort": 80}],
        },
    }
    assert not apply_needed(live, desired)


def test_an_edited_owned_field_needs_a_write() -> None:
    desired = {"metadata": {"name": "a", "labels": {"x": "1"}}}
    assert apply_needed({"metadata": {"name": "a", "labels": {"x": "2"}}}, desired)
    assert apply_needed(None, desired)


def test_items_added_by_admission_do_not_count_as_drift() -> None:
    desired = {"volumes": [{"name": "config"}]}
    live = {"volumes": [{"name": "token", "projected": {}}, {"name": "config", "configMap": {}}]}
    assert covers(live, desired)
    assert not covers({"volumes": [{"name": "token"}]}, desired)


def test_numbers_and_their_string_forms_are_equal_but_booleans_are_strict() -> None:
    assert covers({"cpu": "1"}, {"cpu": 1})
    assert covers({"port": 80}, {"port": "80"})
    assert not covers({"flag": 1}, {"flag": True})
    assert not covers({"args": ["a", "b"]}, {"args": ["a"]})
