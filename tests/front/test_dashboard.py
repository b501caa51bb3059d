"""The releases page."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_someone_who_follows_nobody_is_offered_search_a_pasted_list_and_listenbrainz(client, user):
    page = client.get(reverse("front:dashboard")).content.decode()

    imports = reverse("catalog:imports")
    assert f'href="{reverse("catalog:library")}"' in page
    assert f'href="{imports}#from-a-list"' in page
    assert f'href="{imports}#from-listenbrainz"' in page
    imports_page = client.get(imports).content.decode()
    assert 'id="from-a-list"' in imports_page
    assert 'id="from-listenbrainz"' in imports_page
