from django.urls import path

from musicdrops.front import views

app_name = "front"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("artists/<uuid:mbid>/", views.artist, name="artist"),
    path("releases/<uuid:mbid>/", views.release, name="release"),
]
