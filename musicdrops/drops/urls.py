from django.urls import path

from musicdrops import converters  # noqa: F401 (registers the path converters)
from musicdrops.drops import views

app_name = "drops"

urlpatterns = [
    path("unsubscribe/<unsubscribe_token:token>/", views.unsubscribe, name="unsubscribe"),
    path("today/", views.today, name="today"),
    path("today/email/", views.today_email, name="today_email"),
    path("push/", views.push_settings, name="push"),
    path("push/test/", views.push_test, name="push_test"),
]
