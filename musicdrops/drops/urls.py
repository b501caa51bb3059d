from django.urls import path

from musicdrops.drops import views

app_name = "drops"

urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("today/", views.today, name="today"),
    path("today/email/", views.today_email, name="today_email"),
]
