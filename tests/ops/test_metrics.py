"""/metrics: Prometheus's text format, for the bearer of METRICS_TOKEN only."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from musicdrops.ops.tasks import ping_queue_task
from tests.ops.test_healthz import beat

pytestmark = pytest.mark.django_db

TOKEN = "a-scrape-token-0123456789"


@pytest.fixture(autouse=True)
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", TOKEN])
def test_without_the_token_it_is_403(client, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 403
    assert b"musicdrops_" not in response.content


def test_unset_the_token_lets_nobody_in(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403


def test_with_the_token_the_shared_state_in_prometheus_text(client, redis_client, settings):
    beat("active", lock_token="t")
    redis_client.set("redbeat::lock", "t", px=5000)
    ping_queue_task("regular")

    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-store" in response["Cache-Control"]
    found = samples(response.content.decode())
    assert found[("musicdrops_queue_depth", (("queue", "regular"),))] == 0
    assert found[("musicdrops_queue_stuck", (("queue", "regular"),))] == 0
    assert 0 <= found[("musicdrops_queue_ping_age_seconds", (("queue", "regular"),))] < 5
    assert found[("musicdrops_beats", (("role", "active"),))] == 1
    assert found[("musicdrops_health", (("status", "ok"),))] == 1
    assert found[("musicdrops_drop_overdue_users", ())] == 0
    assert ("musicdrops_musicbrainz_backlog_seconds", ()) in found
