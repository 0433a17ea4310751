"""The store and its indexes (IX-*): keys, upserts, atomic replace, index upkeep."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from informers.store import (
    NAMESPACE_INDEX,
    IndexConflictError,
    IndexFunctionError,
    IndexNotFoundError,
    Store,
    namespace_index,
    object_key,
    split_key,
)


def obj(name: str, namespace: str = "", rv: str = "1", **labels: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "resourceVersion": rv, "labels": labels}
    if namespace:
        metadata["namespace"] = namespace
    return {"metadata": metadata}


def by_app(o: dict[str, Any]) -> list[str]:
    app = o["metadata"]["labels"].get("app")
    return [app] if app else []


def by_tags(o: dict[str, Any]) -> list[str]:
    return sorted(set(o["metadata"]["labels"].get("tags", "").split(",")) - {""})


def new_store() -> Store:
    return Store({NAMESPACE_INDEX: namespace_index, "app": by_app, "tags": by_tags})


def test_ix1_keys_are_namespace_slash_name_or_bare_name() -> None:
    assert object_key(obj("a", "ns")) == "ns/a"
    assert object_key(obj("node-1")) == "node-1"
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("node-1") == ("", "node-1")
    for bad in ("a/b/c", "", "/a", "a/"):
        with pytest.raises(ValueError, match="unexpected key format"):
            split_key(bad)


def test_ix1_object_without_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"metadata\.name"):
        object_key({"kind": "Pod", "metadata": {"namespace": "x"}})
    with pytest.raises(ValueError, match="no metadata"):
        object_key({"kind": "Pod"})


def test_ix2_add_and_update_upsert_and_delete_of_missing_key_is_a_noop() -> None:
    store = new_store()
    store.add(obj("a", "ns", rv="1"))
    store.add(obj("a", "ns", rv="2"))
    assert len(store) == 1
    assert store.get_by_key("ns/a") == obj("a", "ns", rv="2")
    assert store.delete(obj("missing", "ns")) is None
    assert store.list_keys() == ["ns/a"]


def test_ix4_update_moves_index_entries_and_drops_empty_values() -> None:
    store = new_store()
    store.add(obj("a", "ns", app="web"))
    store.add(obj("b", "ns", app="web"))
    assert store.index_keys("app", "web") == ["ns/a", "ns/b"]
    store.update(obj("a", "ns", app="db"))
    assert store.index_keys("app", "web") == ["ns/b"]
    assert store.index_keys("app", "db") == ["ns/a"]
    store.delete(obj("b", "ns"))
    assert sorted(store.list_index_func_values("app")) == ["db"]
    store.update(obj("a", "ns"))  # IX-7: no value, absent from the index
    assert store.list_index_func_values("app") == []


def test_ix4_cluster_scoped_objects_have_the_empty_namespace_value() -> None:
    store = new_store()
    store.add(obj("node-1"))
    assert store.index_keys(NAMESPACE_INDEX, "") == ["node-1"]


def test_ix5_queries_by_index_value_and_by_shared_values() -> None:
    store = new_store()
    store.add(obj("a", "ns", tags="x,y"))
    store.add(obj("b", "ns", tags="y,z"))
    store.add(obj("c", "other", tags="z"))
    assert [object_key(o) for o in store.by_index("tags", "y")] == ["ns/a", "ns/b"]
    assert [object_key(o) for o in store.index("tags", obj("q", "ns", tags="x,z"))] == [
        "ns/a",
        "ns/b",
        "other/c",
    ]
    assert store.index_keys(NAMESPACE_INDEX, "ns") == ["ns/a", "ns/b"]


def test_ix5_unknown_index_name_is_an_error() -> None:
    with pytest.raises(IndexNotFoundError, match="Index with name nope does not exist"):
        new_store().by_index("nope", "x")


def test_ix3_replace_swaps_everything_rebuilds_indexes_and_records_rv() -> None:
    store = new_store()
    store.add(obj("a", "ns", app="web"))
    store.add(obj("b", "ns", app="web"))
    store.replace([obj("b", "ns", app="db"), obj("c", "ns2", app="web")], "42")
    assert store.list_keys() == ["ns/b", "ns2/c"]
    assert store.index_keys("app", "web") == ["ns2/c"]
    assert store.index_keys("app", "db") == ["ns/b"]
    assert store.index_keys(NAMESPACE_INDEX, "ns") == ["ns/b"]
    assert store.resource_version == "42"


def test_ix6_add_indexers_indexes_existing_items_and_rejects_conflicts() -> None:
    store = Store()
    store.add(obj("a", "ns", app="web"))
    store.add_indexers({"app": by_app})
    assert store.index_keys("app", "web") == ["ns/a"]
    with pytest.raises(IndexConflictError, match="indexer conflict"):
        store.add_indexers({"app": by_app})


def test_ix4_failing_index_function_leaves_the_store_unchanged() -> None:
    def picky(o: dict[str, Any]) -> list[str]:
        if o["metadata"]["name"] == "bad":
            raise KeyError("spec")
        return ["ok"]

    store = Store({"picky": picky, "app": by_app})
    store.add(obj("a", "ns", app="web"))
    with pytest.raises(IndexFunctionError, match="'picky' failed for object 'ns/bad'"):
        store.add(obj("bad", "ns", app="web"))
    with pytest.raises(IndexFunctionError):
        store.replace([obj("bad", "ns")], "9")
    assert store.list_keys() == ["ns/a"]
    assert store.index_keys("app", "web") == ["ns/a"]


def test_ix4_index_function_must_return_a_list_of_strings() -> None:
    store = Store({"bad": lambda o: "not-a-list"})  # type: ignore[dict-item,return-value]
    with pytest.raises(IndexFunctionError, match="not list"):
        store.add(obj("a", "ns"))


def test_ix8_store_resource_version_follows_writes_deletes_and_bookmarks() -> None:
    store = new_store()
    store.add(obj("a", "ns", rv="5"))
    assert store.resource_version == "5"
    store.delete(obj("a", "ns", rv="7"))
    assert store.resource_version == "7"
    store.bookmark("9")
    assert store.resource_version == "9"


operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "delete", "replace"]),
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b", "c", "d"]),
                st.sampled_from(["ns1", "ns2", ""]),
                st.sampled_from(["web", "db", ""]),
            ),
            min_size=1,
            max_size=4,
        ),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_ix4_indexes_always_equal_a_rebuild_from_the_items(ops: list[Any]) -> None:
    store = new_store()
    for op, specs in ops:
        objects = [obj(n, ns, app=a) if a else obj(n, ns) for n, ns, a in specs]
        if op == "add":
            for o in objects:
                store.add(o)
        elif op == "delete":
            for o in objects:
                store.delete(o)
        else:
            store.replace(objects, "1")
    fresh = new_store()
    fresh.replace(store.list(), "1")
    for index in ("app", NAMESPACE_INDEX, "tags"):
        values = set(store.list_index_func_values(index))
        assert values == set(fresh.list_index_func_values(index))
        for value in values:
            assert store.index_keys(index, value) == fresh.index_keys(index, value)
