"""Every case gives the same events fed whole, a character at a time, split in two at
every point, and split at random points."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .cases import CASES
from .helpers import Case, run, split_at

IDS = [case.id for case in CASES]


def test_case_ids_are_unique() -> None:
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_whole(case: Case) -> None:
    assert run(case.parser(), [case.text]) == list(case.expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_one_character_at_a_time(case: Case) -> None:
    assert run(case.parser(), list(case.text)) == list(case.expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_split_in_two(case: Case) -> None:
    for cut in range(1, len(case.text)):
        pieces = [case.text[:cut], case.text[cut:]]
        assert run(case.parser(), pieces) == list(case.expected), f"split at {cut}: {pieces}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_random_splits(case: Case, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(case.text)), max_size=12))
    pieces = split_at(case.text, cuts)
    assert run(case.parser(), pieces) == list(case.expected), pieces
