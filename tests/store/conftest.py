"""Store tests use the shared fixtures of tests/conftest.py, and an OTLP client."""

from collections.abc import Iterator

import pytest

from tests.servers import OtlpClient


@pytest.fixture
def client(server) -> Iterator[OtlpClient]:
    otlp = OtlpClient(server.address)
    yield otlp
    otlp.close()
