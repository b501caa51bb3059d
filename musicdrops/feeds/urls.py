from django.urls import path

from musicdrops import converters  # noqa: F401 (registers the path converters)
from musicdrops.feeds import views

app_name = "feeds"

urlpatterns = [
    path("", views.manage, name="manage"),
    path("reset/", views.reset, name="reset"),
    path("<feed_token:token>/releases.atom", views.atom, name="atom"),
    path("<feed_token:token>/releases.ics", views.icalendar, name="ical"),
]
