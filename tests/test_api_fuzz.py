"""Property-based test of the API's inputs: schemathesis generates requests from the OpenAPI
schema for every operation; none may answer 5xx other than 503 (a dependency down), and
every response must match its declared schema.

The app runs in-process on SQLite with an admin token (so requests get past
authentication into validation and handlers) and a publisher that accepts
everything, so alert and rule changes do not wait for Kafka. InfluxDB is the session
stack's.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from cloud_api.app import create_app
from cloud_api.config import ApiSettings
from cloud_api.dependencies import Services, now_ms
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.rules import Rule

with warnings.catch_warnings():  # starlette asks for httpx2, which the project does not use
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[1]


class _AcceptingPublisher:
    async def publish(self, event: AlertEvent) -> None:
        pass

    async def publish_rule(self, rule_id: str, rule: Rule | None) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def fuzz_app(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    db = tmp_path_factory.mktemp("fuzz") / "api.sqlite"
    app = create_app(
        stack.model_copy(update={"api_db_url": f"sqlite:///{db}"}),
        ApiSettings(rate_per_s=10_000, rate_burst=10_000, firmware_configs=REPO / "firmware_configs"),
        publisher=_AcceptingPublisher(),
    )
    services: Services = app.state.services
    # The account exists before schemathesis runs the app's lifespan (which opens the store again).
    services.store.open()
    services.accounts.add_user("fuzz-admin", "admin", [], now_ms())
    app.state.fuzz_token = services.accounts.create_token("fuzz-admin", now_ms(), None).text
    services.store.close()
    yield app


def test_no_server_errors(fuzz_app: Any) -> None:
    # Operation by operation with hypothesis directly (schemathesis' pytest plugin does not
    # support this pytest version); each operation gets its own examples and shrinking.
    # Requests are sent with Starlette's (httpx) test client rather than ``case.call``, whose
    # requests transport breaks when urllib3-future replaces urllib3 in the environment.
    schema = schemathesis.openapi.from_dict(fuzz_app.openapi())
    headers = {"Authorization": f"Bearer {fuzz_app.state.fuzz_token}"}
    failures: list[str] = []
    statuses: set[int] = set()
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15
    with TestClient(fuzz_app, raise_server_exceptions=False) as client:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case: Any) -> None:
                kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
                response = client.request(
                    kwargs["method"],
                    kwargs["url"],
                    headers=kwargs.get("headers"),
                    params=kwargs.get("params"),
                    json=kwargs.get("json"),
                    content=kwargs.get("data") if isinstance(kwargs.get("data"), (bytes, str)) else None,
                )
                statuses.add(response.status_code)
                assert response.status_code < 500 or response.status_code == 503, (
                    f"{case.method} {case.formatted_path} {kwargs.get('params')} {kwargs.get('json')!r:.200}"
                    f" -> {response.status_code}: {response.text[:300]}"
                )

            try:
                check()
            except AssertionError as exc:
                failures.append(str(exc)[:1500])
    assert not failures, "\n\n".join(failures)
    assert {200, 404, 422} <= statuses, f"the generated requests never got past validation: {statuses}"
