"""schemathesis against the served OpenAPI spec: no 5xx, no schema or status violations.

The server runs for real on a free loopback port, with limits small enough
that whatever run the generated requests submit is tiny (or refused).

The module is marked ``serial``: schemathesis gives all 17 operations the test
function's node id, and xdist, which schedules by node id, would run one of them
(``tests/conftest.py`` refuses that); the Makefile runs serial tests in their own
pytest process without xdist.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from .web_live import LiveServer, live_server

pytestmark = pytest.mark.serial

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    state: Path = tmp_path_factory.mktemp("fuzz")
    extra = ["--max-agent-days", "3e6", "--max-active", "3", "--max-replicates", "2"]
    with live_server(state, workers=1, extra=extra) as srv:
        yield srv


def _spec() -> dict:
    """The OpenAPI document the app serves (built in-process, so tests are parametrized
    at collection time; ``test_served_spec_is_the_tested_spec`` checks it is the same)."""
    from lipsteeth.adapters.web.app import Settings, create_app

    with tempfile.TemporaryDirectory() as state:
        return create_app(Settings(state_dir=Path(state))).openapi()


SPEC = _spec()
schema = schemathesis.openapi.from_dict(SPEC)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_openapi(case: schemathesis.Case, fuzz_server: LiveServer) -> None:
    case.call_and_validate(base_url=fuzz_server.url, checks=CHECKS, timeout=30)


def test_served_spec_is_the_tested_spec(fuzz_server: LiveServer) -> None:
    served = httpx.get(f"{fuzz_server.url}/api/openapi.json", timeout=10).json()
    assert served == SPEC


def test_server_survived_the_fuzzing(fuzz_server: LiveServer) -> None:
    assert fuzz_server.process is not None and fuzz_server.process.poll() is None
    health = httpx.get(f"{fuzz_server.url}/api/health", timeout=10)
    assert health.status_code == 200
    log = fuzz_server.log()
    assert "Traceback" not in log, log
