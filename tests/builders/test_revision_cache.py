"""Config templates are compiled once per AppImage revision (uid + resourceVersion),
never once per task."""

from __future__ import annotations

from builders import RevisionCache, plan, validate_app_image
from builders.validation import check
from tests.builders import examples
from tests.builders.examples import ALICE_AND_BOB, make_app_image, make_task, party


def test_many_tasks_on_one_revision_compile_its_templates_once() -> None:
    cache = RevisionCache()
    image = examples.app_image("app-template", uid="u1", resource_version="10")
    for name in ("a", "b", "c"):
        task = examples.task("app-task").model_copy(
            update={
                "metadata": examples.task("app-task").metadata.model_copy(update={"name": name})
            }
        )
        plan(task, {"app-template": image}, ALICE_AND_BOB, cache=cache)
    assert cache.builds[check.__qualname__] == 1
    assert cache.hits[check.__qualname__] == 2


def test_a_new_resource_version_is_compiled_again() -> None:
    cache = RevisionCache()
    for version in ("1", "2", "2"):
        image = make_app_image(
            config_templates={"c": "{{.TASK_ID}}"}, uid="u", resource_version=version
        )
        plan(make_task([party("alice")]), {"img": image}, ALICE_AND_BOB, cache=cache)
    assert cache.builds[check.__qualname__] == 2


def test_validation_and_planning_share_the_compiled_revision() -> None:
    cache = RevisionCache()
    image = make_app_image(config_templates={"c": "x"}, uid="u", resource_version="1")
    validate_app_image(image, cache)
    plan(make_task([party("alice")]), {"img": image}, ALICE_AND_BOB, cache=cache)
    assert cache.builds[check.__qualname__] == 1


def test_an_app_image_without_uid_or_resource_version_is_never_cached() -> None:
    cache = RevisionCache()
    image = make_app_image(config_templates={"c": "x"})
    for _ in range(2):
        plan(make_task([party("alice")]), {"img": image}, ALICE_AND_BOB, cache=cache)
    assert cache.builds[check.__qualname__] == 2
    assert len(cache) == 0


def test_the_cache_keeps_at_most_its_bound_dropping_the_least_recently_used() -> None:
    cache = RevisionCache(max_entries=2)
    images = [make_app_image(uid=f"u{i}", resource_version="1") for i in range(3)]
    for image in (images[0], images[1], images[0], images[2]):
        validate_app_image(image, cache)
    assert len(cache) == 2
    validate_app_image(images[0], cache)  # still cached: it was used more recently than u1
    assert cache.builds[check.__qualname__] == 3
    validate_app_image(images[1], cache)
    assert cache.builds[check.__qualname__] == 4
