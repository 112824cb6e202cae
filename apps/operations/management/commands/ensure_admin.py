import os
import secrets
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first operator (superuser) if there is none; prints a generated password once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))
        parser.add_argument("--email", default=os.environ.get("ADMIN_EMAIL", "admin@localhost"))

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("an operator account exists already; password unchanged")
            return
        username = options["username"].strip()
        if not username:
            self.stderr.write("ADMIN_USERNAME must not be empty")
            sys.exit(2)
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username, options["email"], password)
        if os.environ.get("ADMIN_PASSWORD"):
            self.stdout.write(f"operator '{username}' created with the password from ADMIN_PASSWORD")
        else:
            self.stdout.write(f"operator '{username}' created; password (shown once, write it down): {password}")
