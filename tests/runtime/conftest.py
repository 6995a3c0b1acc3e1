"""Runtime tests share the test servers' background loop; stop it when the session ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.servers.tls_servers import stop_server_loop


@pytest.fixture(scope="session", autouse=True)
def _server_loop() -> Iterator[None]:
    yield
    stop_server_loop()
