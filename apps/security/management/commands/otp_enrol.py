"""`otp_enrol USERNAME`: give an admin user an authenticator (TOTP) and recovery codes from the server's
shell — the way in for a staff user who must use two factors (MODE=live) and has none yet."""

from __future__ import annotations

import io
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.security import otp


class Command(BaseCommand):
    help = "Enrol USERNAME for two-factor login: prints the TOTP secret, a QR code and recovery codes once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--no-qr", action="store_true", help="do not draw the QR code in the terminal")

    def handle(self, *args, **options) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}", returncode=2)
        actor = Actor.system("manage.py otp_enrol")
        device = otp.totp_start(user)
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        audit_record(actor=actor, action="admin.otp_enrol", obj=device, message=f"enrolled {user.get_username()}")
        codes = otp.recovery_codes_new(user=user, actor=actor)
        if options["json"]:
            payload: dict[str, str | list[str]] = {
                "username": user.get_username(),
                "secret": otp.secret_text(device).replace(" ", ""),
            }
            payload |= {"otpauth_url": device.config_url, "recovery_codes": codes}
            self.stdout.write(json.dumps(payload))
            return
        self.stdout.write(f"Authenticator for {user.get_username()} (shown once):")
        self.stdout.write(f"  secret: {otp.secret_text(device)}   (TOTP, SHA1, 6 digits, 30 s)")
        self.stdout.write(f"  URL:    {device.config_url}")
        if not options["no_qr"]:
            import segno  # terminal QR code only here

            drawing = io.StringIO()
            segno.make(device.config_url, error="m").terminal(out=drawing, compact=True)
            self.stdout.write(drawing.getvalue(), ending="")
        self.stdout.write("Recovery codes (each works once):")
        for code in codes:
            self.stdout.write(f"  {code}")
