import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from apps.operations.backups import BackupError, backup_create, backup_restore, backups_list


class Command(BaseCommand):
    help = "Write one database backup now (or --list them, or --restore FILE)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--restore", metavar="FILE", help="replace the database with this backup (stop workers first)"
        )
        parser.add_argument("--list", action="store_true", help="list existing backups, newest first")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options) -> None:
        try:
            if options["list"]:
                paths = [str(p) for p in backups_list()]
                self._out(options, {"backups": paths}, "\n".join(paths) or "no backups")
            elif options["restore"]:
                backup_restore(path=Path(options["restore"]))
                self._out(options, {"restored": options["restore"]}, f"restored from {options['restore']}")
            else:
                result = backup_create()
                self._out(
                    options,
                    {
                        "path": str(result.path),
                        "size_bytes": result.size_bytes,
                        "pruned": [str(p) for p in result.pruned],
                    },
                    f"backup written: {result.path} ({result.size_bytes} bytes), pruned {len(result.pruned)}",
                )
        except BackupError as exc:
            self._out(options, {"error": str(exc)}, f"backup failed: {exc}", stream=self.stderr)
            sys.exit(1)

    def _out(self, options, data: dict, text: str, stream=None) -> None:
        (stream or self.stdout).write(json.dumps(data) if options["json"] else text)
