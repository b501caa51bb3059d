"""Branded error pages: 400, 403 (and a refused CSRF token), 404 and 500, each with a way back."""

import pytest
from django.test import Client
from django.urls import path

from musicdrops import urls as project_urls


def broken(request):
    raise RuntimeError("a bug")


urlpatterns = [path("broken/", broken), *project_urls.urlpatterns]


@pytest.mark.django_db
@pytest.mark.urls("tests.test_error_pages")
def test_a_server_error_shows_our_page_not_a_traceback(settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)

    response = client.get("/broken/")

    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page
    assert "RuntimeError" not in page


@pytest.mark.django_db
def test_not_found_and_a_refused_form_are_ours(settings):
    settings.DEBUG = False
    client = Client(enforce_csrf_checks=True)

    assert "There is no such page" in client.get("/no-such-page/").content.decode()
    refused = client.post("/accounts/login/", {"username": "a", "password": "b"})
    assert refused.status_code == 403
    assert "That form could not be sent" in refused.content.decode()
