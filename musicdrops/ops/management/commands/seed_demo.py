from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from musicdrops.ops.demo import demo_seed


class Command(BaseCommand):
    help = "Create demo users (idempotent: running it twice creates nothing new)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--users", type=int, default=20, help="how many listeners (default 20)")
        parser.add_argument("--demo-email", default="demo@musicdrops.local")
        parser.add_argument("--demo-password", default="listen-to-more-music")

    def handle(self, *args: Any, users: int, demo_email: str, demo_password: str, **options: Any) -> None:
        if users < 0:
            raise CommandError("--users must be 0 or more")
        created = demo_seed(users=users, demo_email_address=demo_email, demo_password=demo_password)
        self.stdout.write(f"{created} new users; demo login {demo_email}")
