import json

from django.core.management.base import BaseCommand

from apps.operations.schedule import ensure_schedule


class Command(BaseCommand):
    help = "Write the beat schedule (trading cycles, exits, reconciliation, health, backups) into the database."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reset", action="store_true", help="rewrite entries from settings, dropping edits")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        touched = ensure_schedule(reset=options["reset"])
        if options["json"]:
            self.stdout.write(json.dumps({"written": touched}))
        else:
            self.stdout.write(f"schedule entries written: {', '.join(touched) or 'none (all present)'}")
