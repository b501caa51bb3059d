from django.urls import path

from musicdrops.jobs import views

app_name = "jobs"

urlpatterns = [
    path("refresh/", views.refresh, name="refresh"),
    path("<uuid:job_id>/", views.detail, name="detail"),
    path("<uuid:job_id>/status/", views.status, name="status"),
    path("<uuid:job_id>/cancel/", views.cancel, name="cancel"),
]
