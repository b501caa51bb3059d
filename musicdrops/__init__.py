"""MusicDrops: follow artists, get one email a day with their new releases."""

# Load the Celery app whenever Django starts, so shared_task binds to it.
from musicdrops.celery import app as celery_app

__all__ = ["celery_app"]
__version__ = "0.1.0"
