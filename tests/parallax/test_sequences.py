"""SequenceSet, the resolved-sequence bookkeeping, agrees with a plain Python set."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from parallax.sequences import SequenceSet

ranges = st.lists(
    st.tuples(st.integers(1, 200), st.integers(0, 20)).map(lambda r: (r[0], r[0] + r[1])),
    max_size=30,
)


@settings(max_examples=200)
@given(added=ranges, probe=st.tuples(st.integers(1, 230), st.integers(0, 30)))
def test_sequence_set_agrees_with_a_plain_set(added, probe):
    resolved, model = SequenceSet(), set()
    for low, high in added:
        resolved.add_range(low, high)
        model.update(range(low, high + 1))
    low, high = probe[0], probe[0] + probe[1]

    assert all((seq in resolved) == (seq in model) for seq in range(1, 240))
    assert resolved.first_unresolved_after(low) == min(
        s for s in range(low + 1, 500) if s not in model
    )
    assert resolved.covers(low, high) == all(s in model for s in range(low, high + 1))
    missing = [s for r in resolved.unresolved_ranges(low, high) for s in range(r[0], r[1] + 1)]
    assert missing == [s for s in range(low, high + 1) if s not in model]
    assert SequenceSet.from_json(resolved.to_json()).ranges() == resolved.ranges()


def test_contiguous_acknowledgements_collapse_into_the_floor():
    resolved = SequenceSet()
    for seq in (2, 3, 1, 5):
        resolved.add(seq)

    assert (resolved.floor, resolved.ranges()) == (3, [(5, 5)])
