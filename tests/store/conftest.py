"""Store tests use the shared fixtures (tests/conftest.py) and these helpers."""

from collections.abc import Iterator

import pytest

from tests.servers import OtlpClient, lake_rows

__all__ = ["OtlpClient", "lake_rows"]


@pytest.fixture
def client(server) -> Iterator[OtlpClient]:
    otlp = OtlpClient(server.address)
    yield otlp
    otlp.close()
