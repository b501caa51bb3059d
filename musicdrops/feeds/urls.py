from django.urls import path

from musicdrops.feeds import views

app_name = "feeds"

urlpatterns = [
    path("", views.manage, name="manage"),
    path("reset/", views.reset, name="reset"),
    path("<str:token>/releases.atom", views.atom, name="atom"),
    path("<str:token>/releases.ics", views.icalendar, name="ical"),
]
