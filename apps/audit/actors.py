"""Who acts on the system: an operator, the system itself, a Telegram chat or an API token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    type: str  # one of AuditLog.ActorType
    id: str = ""
    label: str = ""

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(type="system", id="", label=label)

    @classmethod
    def user(cls, user: Any) -> Actor:
        return cls(type="user", id=str(user.pk), label=user.get_username())

    @classmethod
    def telegram(cls, chat_id: int, label: str = "") -> Actor:
        return cls(type="telegram", id=str(chat_id), label=label or f"telegram:{chat_id}")

    @classmethod
    def api_token(cls, token_id: int, name: str) -> Actor:
        return cls(type="api", id=str(token_id), label=f"api:{name}")


SYSTEM = Actor.system()
