"""API tokens: shown once at creation, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models

TOKEN_PREFIX = "tb_"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "Read"
        TRADE = "trade", "Read and trade"

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(
        max_length=12, db_index=True, editable=False, help_text="First characters, to tell tokens apart"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.scope})"

    @staticmethod
    def generate() -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)

    def set_token(self, raw: str) -> None:
        self.prefix = raw[:10]
        self.token_hash = hash_token(raw)

    @property
    def can_trade(self) -> bool:
        return self.scope == self.Scope.TRADE
