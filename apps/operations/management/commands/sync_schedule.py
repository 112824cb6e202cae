import json

from django.core.management.base import BaseCommand

from apps.operations.schedule import ensure_schedule, schedule_entries


class Command(BaseCommand):
    help = "Write the beat schedule (trading cycles, exits, reconciliation, health, backups) into the database."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reset", action="store_true", help="rewrite entries from settings, dropping edits")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        touched = ensure_schedule(reset=options["reset"])
        total = len(schedule_entries())
        if options["json"]:
            self.stdout.write(json.dumps({"written": touched, "entries": total}))
        elif touched:
            self.stdout.write(f"beat schedule: {total} entries; written now: {', '.join(touched)}")
        else:
            # migrate writes the schedule too (post_migrate), so on a first run there is nothing left to write here
            self.stdout.write(f"beat schedule: {total} entries, up to date")
