from __future__ import annotations

from collections.abc import Iterator

import pytest

from store.lake import open_writer
from tests.reconciler.fleet import Fleet


@pytest.fixture
def fleet(store_settings) -> Iterator[Fleet]:
    """An empty lake, open as its writer."""
    with open_writer(store_settings) as lake:
        yield Fleet(lake)
