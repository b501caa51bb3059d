from django.urls import path

from musicdrops.front import views

app_name = "front"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
