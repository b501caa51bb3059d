"""Every id and token in our URLs has a shape; anything else is a 404 before a view or the database sees it."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from musicdrops.accounts.models import User

pytestmark = pytest.mark.django_db

ODD = ["%00", "a%00b", "%0b", "%1b", "%7f", "%ff", "%c0%80", "%e2%80%8b%e2%80%8b", "..%2f..", "%20", "x" * 5000]


def routes_with_parameters() -> list[str]:
    """Every route of our apps (the admin is Django's) that takes a parameter, as "/feeds/<feed_token:token>/..."."""
    found = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if pattern.app_name != "admin":
                    walk(pattern.url_patterns, route)
            elif "<" in route:
                found.append("/" + route)

    walk(get_resolver().url_patterns, "")
    return found


def test_every_route_with_a_parameter_is_checked():
    assert len(routes_with_parameters()) >= 8, routes_with_parameters()


@pytest.mark.parametrize("route", routes_with_parameters())
def test_odd_bytes_in_any_url_parameter_are_a_404_not_a_500(route):
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_user("fan@example.com", "correct-horse-battery-staple"))
    for value in ODD:
        url = re.sub(r"<[^>]+>", value, route)
        for method in (client.get, client.post):
            assert method(url).status_code == 404, (method.__name__, url)
