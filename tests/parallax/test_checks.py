"""The value checks every settings file uses: settings (parallax.config) and the reconciler's
policies alike."""

from __future__ import annotations

import pytest

from parallax import checks


def test_an_int_serves_where_a_float_is_wanted():
    assert checks.problem_with(3, float, checks.positive) == (3.0, None)


@pytest.mark.parametrize(
    ("value", "kind", "problem"),
    [
        (True, int, "expected int, got bool True"),
        (False, float, "expected float, got bool False"),
        ("2%", float, "expected float, got str '2%'"),
        (30.5, int, "expected int, got float 30.5"),
        (1, bool, "expected bool, got int 1"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_its_type(value, kind, problem):
    assert checks.problem_with(value, kind, None) == (value, problem)


def test_the_check_runs_on_a_value_of_the_right_type_and_the_problem_shows_the_value():
    assert checks.problem_with(0, float, checks.positive) == (
        0.0,
        "must be greater than 0 (got 0.0)",
    )
    assert checks.problem_with("x", str, checks.one_of("a", "b")) == (
        "x",
        "must be one of a, b (got 'x')",
    )


@pytest.mark.parametrize(
    ("check", "good", "bad", "problem"),
    [
        (checks.at_least(1), [1, 2.5], [0, -1], "must be at least 1"),
        (checks.rate, [0, 0.5, 1], [-0.01, 1.01], "must be between 0 and 1"),
        (checks.ratio, [0.01, 1], [0, 1.5], "must be greater than 0 and at most 1"),
    ],
)
def test_ranges(check, good, bad, problem):
    assert [check(value) for value in good] == [None] * len(good)
    assert [check(value) for value in bad] == [problem] * len(bad)
