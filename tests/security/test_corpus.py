"""Every case of the bad-input corpus that reaches the controller gets its one reason, with a
message naming the field, from the builders alone (fast; the end-to-end run is separate)."""

from __future__ import annotations

import pytest

from builders import BuildError, Cluster, plan, validate_app_image
from builders.models import AppImage, KusciaTask
from builders.revision_cache import RevisionCache
from tests.security.corpus import CASES, REACHING_THE_CONTROLLER, Case, Names

NAMES = Names()
CLUSTER = Cluster(namespaces=frozenset({NAMES.alice, NAMES.bob}))


def _build_error(case: Case) -> BuildError:
    raw_images, raw_task = case.build(NAMES)
    images = {raw["metadata"]["name"]: AppImage.model_validate(raw) for raw in raw_images}
    task = KusciaTask.model_validate(raw_task)
    with pytest.raises(BuildError) as caught:
        plan(task, images, CLUSTER, cache=RevisionCache())
    return caught.value


def test_the_corpus_has_at_least_forty_distinct_cases() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 40


@pytest.mark.parametrize("case", REACHING_THE_CONTROLLER, ids=lambda case: case.id)
def test_each_bad_input_gets_its_reason_and_a_message_naming_the_field(case: Case) -> None:
    error = _build_error(case)
    assert (error.reason, error.field) == (case.reason, case.field), error.message
    assert case.says in error.message
    assert error.waiting is case.waits
    if not case.waits:
        assert error.message.startswith(("task ", "AppImage ")), error.message


@pytest.mark.parametrize(
    "case", [c for c in REACHING_THE_CONTROLLER if c.image_reason], ids=lambda case: case.id
)
def test_an_app_image_at_fault_reports_the_same_reason_on_itself(case: Case) -> None:
    raw_images, _ = case.build(NAMES)
    problems = validate_app_image(AppImage.model_validate(raw_images[0]), RevisionCache())
    assert problems, case.id
    assert (problems[0].reason, problems[0].field) == (case.image_reason, case.field)
    assert problems[0].message.startswith(f"AppImage {raw_images[0]['metadata']['name']!r}: ")


@pytest.mark.parametrize("case", REACHING_THE_CONTROLLER, ids=lambda case: case.id)
def test_bad_input_is_refused_the_same_way_every_time(case: Case) -> None:
    first, second = _build_error(case), _build_error(case)
    assert (first.reason, first.message) == (second.reason, second.message)
