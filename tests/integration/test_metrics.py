"""/metrics of a running stack: one web process reports what the worker and the beat do, as a send runs."""

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from scripts.localredis import free_port
from tests.integration.drills import DRILL_ENV, seed, start_send
from tests.integration.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "a-scrape-token-0123456789"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code in {200, 503}
    except requests.ConnectionError:
        return False


def test_figures_change_as_a_send_runs_and_no_token_is_403(start_process, smtp_server):
    expected = seed(20)
    env = {**DRILL_ENV, "EMAIL_URL": smtp_server.url, "METRICS_TOKEN": TOKEN}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web = start_process("web", PORT=str(port), WEB_CONCURRENCY="1", **env)
    web.wait_for("Booting worker", timeout=30)
    wait_until(lambda: answers(url), 30, "web to answer", web)
    assert requests.get(f"{url}/metrics", timeout=5).status_code == 403

    start_send(start_process, **env)  # queued, and no worker yet
    queued = scrape(url)
    assert queued[("musicdrops_queue_depth", (("queue", "drops"),))] >= 1
    assert queued[("musicdrops_queue_stuck", (("queue", "drops"),))] == 0  # the beat's pings are not late yet

    def users(name: str) -> float:
        # Summed over the slots: the listeners' delivery times fall in several.
        return sum(v for (found, _), v in scrape(url).items() if found == name)

    assert users("musicdrops_drop_users_due") == users("musicdrops_drop_users_queued") == expected, "nobody sent"

    worker = start_process("worker-drops", **env)
    wait_until(lambda: len(smtp_server.messages) >= expected, 60, "every email", worker)
    wait_until(lambda: users("musicdrops_drop_users_due") == 0, 15, "the ledger to say so", worker, web)
    sent = scrape(url)
    assert users("musicdrops_drop_users_queued") == expected
    assert sent[("musicdrops_queue_depth", (("queue", "drops"),))] == 0
    assert ("musicdrops_queue_ping_age_seconds", (("queue", "drops"),)) not in sent, "no beat sent a ping"
    print(f"\n/metrics: the send queued before the worker; {expected} sent after")
