"""MusicDrops: follow artists, get one email a day with their new releases."""

__version__ = "0.1.0"

# Load the Celery app whenever Django starts, so shared_task binds to it.
from musicdrops.celery import app as celery_app

__all__ = ["__version__", "celery_app"]
