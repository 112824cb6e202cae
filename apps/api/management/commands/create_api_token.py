"""`manage.py create_api_token NAME [--scope read|trade] [--json]`: prints a new token once, stores its hash."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction

from apps.api.models import ApiToken
from apps.audit.actors import Actor
from apps.audit.services import audit_record


class Command(BaseCommand):
    help = "Create an API token; the token is printed once and only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="a unique name for the token, e.g. the integration using it")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters", returncode=2)
        raw = ApiToken.generate()
        token = ApiToken(name=name, scope=options["scope"])
        token.set_token(raw)
        try:
            with transaction.atomic():
                token.save()
                audit_record(
                    actor=Actor.system("create_api_token"),
                    action="api_token.create",
                    obj=token,
                    after={"name": name, "scope": token.scope, "prefix": token.prefix},
                )
        except IntegrityError:
            raise CommandError(f"a token named {name!r} already exists", returncode=2) from None
        if options["json"]:
            self.stdout.write(json.dumps({"id": token.pk, "name": name, "scope": token.scope, "token": raw}))
        else:
            self.stdout.write(f"Created token {name!r} (scope {token.scope}). It is shown only now:")
            self.stdout.write(raw)
        sys.stdout.flush()
