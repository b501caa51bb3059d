"""An import finishes itself: in a real browser, against the real web process and regular-queue worker."""

import re

import pytest
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog.models import Follow, ImportJob
from tests.catalog.upstream import GENESIS_UK, MOTORHEAD, NIRVANA_UK, NIRVANA_US, SIGUR_ROS, same_names
from tests.integration.browser.test_refresh_now import FINISHED, PASSWORD, log_in

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_import_shows_its_progress_and_then_every_choice_in_one_form_without_a_reload(page, site, upstream_server):
    same_names(upstream_server)  # the first added of each name comes first in the search, as the best match
    fan = User.objects.create_user("fan@example.com", PASSWORD, email_verified_at=timezone.now())
    live = site(worker=False, regular=True)  # imports run on "regular"; the follows' syncs wait on "important"
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "nonce=" in request.url else None)
    log_in(page, live, fan)

    page.goto(live.at("/library/import/"))
    page.fill("textarea[name=names]", "Sigur Rós\nMotörhead\nNirvana\nGenesis\nNo Such Band")
    page.locator("section", has_text="From a list").locator("button[type=submit]").click()
    page.wait_for_selector("text=Import started")
    # Typed while the import runs: the page must not reload and lose it.
    page.evaluate("window.stillTheSamePage = true")
    page.fill("textarea[name=names]", "Half a list")
    status = page.wait_for_selector(FINISHED.format("SUCCESS"), timeout=30_000)

    page.wait_for_selector("text=Which “Genesis”?")
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.input_value("textarea[name=names]") == "Half a list"
    assert "All done: 5 names matched: 2 followed, 2 to choose below, 1 not found." in status.inner_text()
    assert any("/status/?nonce=" in url for url in polls)
    assert any(re.search(r"/library/import/\?nonce=", url) for url in polls)  # the fresh copy of the page
    assert "Not found on MusicBrainz: No Such Band" in page.inner_text("main")
    # One form: a fieldset per name, the best match chosen, what tells them apart beside each.
    form = page.locator("form.choices")
    assert form.count() == 1
    assert form.locator("button[type=submit]").count() == 1
    assert form.locator("fieldset").count() == 2
    assert form.locator(f"input[value='{NIRVANA_US}']").is_checked()
    assert form.locator(f"input[value='{GENESIS_UK}']").is_checked()
    assert "Group · United Kingdom · 1965\u2013" in form.inner_text()  # an en dash

    form.locator(f"input[value='{NIRVANA_UK}']").check()
    form.locator("fieldset", has_text="Which “Genesis”?").get_by_label("None of these").check()
    form.locator("button[type=submit]").click()

    page.wait_for_selector("text=You follow Nirvana.")
    assert "Left out: Genesis." in page.inner_text("main")
    assert page.locator("form.choices").count() == 0
    mbids = {str(mbid) for mbid in Follow.objects.filter(user=fan).values_list("artist__mbid", flat=True)}
    assert mbids == {SIGUR_ROS, MOTORHEAD, NIRVANA_UK}
    job = ImportJob.objects.get()
    assert job.outcome["ambiguous"] == []
    assert job.outcome["skipped"] == ["Genesis"]
