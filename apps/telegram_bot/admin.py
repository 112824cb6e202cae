from django.contrib import admin

from apps.common.admin_mixins import ReadOnlyAdmin
from apps.telegram_bot.models import Confirmation, WebhookUpdate


@admin.register(Confirmation)
class ConfirmationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "argument", "chat_id", "user_id", "status", "expires_at", "decided_at")
    list_filter = ("action", "status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("argument", "chat_id", "nonce")
    date_hierarchy = "created_at"


@admin.register(WebhookUpdate)
class WebhookUpdateAdmin(ReadOnlyAdmin):
    list_display = ("update_id", "received_at")
    search_fields = ("update_id",)
    date_hierarchy = "received_at"
