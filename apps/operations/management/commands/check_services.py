import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.operations.preflight import unreachable


class Command(BaseCommand):
    help = "Check that the database (DATABASE_URL) and Redis (REDIS_URL, if set) answer; exit 2 naming the failing one."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        problems = unreachable()
        if options["json"]:
            self.stdout.write(json.dumps({"ok": not problems, "unreachable": {p.variable: p.reason for p in problems}}))
        elif not problems:
            self.stdout.write("database and Redis reachable" if self._redis() else "database reachable")
        for problem in problems:
            self.stderr.write(f"Configuration error: {problem}")
        if problems:
            sys.exit(2)

    @staticmethod
    def _redis() -> bool:
        return bool(settings.REDIS_URL)
