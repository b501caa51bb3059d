from django.urls import path

from musicdrops import converters  # noqa: F401 (registers the path converters)
from musicdrops.catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.library, name="library"),
    path("follow/", views.follow, name="follow"),
    path("unfollow/<id:artist_id>/", views.unfollow, name="unfollow"),
    path("import/", views.imports, name="imports"),
    path("import/<id:job_id>/status/", views.import_status, name="import_status"),
    path("import/<id:job_id>/resolve/", views.import_resolve, name="import_resolve"),
    path("import/<id:job_id>/choose/", views.import_choose, name="import_choose"),
    path("import/<id:job_id>/cancel/", views.import_cancel, name="import_cancel"),
    path("import/<id:job_id>/retry/", views.import_retry, name="import_retry"),
    path("preferences/", views.preferences, name="preferences"),
]
