from django.contrib import admin, messages

from apps.api.models import ApiToken
from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.security.reauth import reauth_admin_action


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scope", "created_at", "last_used_at", "revoked")
    list_filter = ("scope", "revoked")
    search_fields = ("name", "prefix")
    fields = ("name", "scope", "prefix", "created_at", "last_used_at", "revoked")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked")
    actions = ["revoke"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead, so the audit trail keeps pointing at a row

    def save_model(self, request, obj: ApiToken, form, change) -> None:
        actor = Actor.user(request.user)
        if change:
            super().save_model(request, obj, form, change)
            audit_record(actor=actor, action="api_token.edit", obj=obj, after={"scope": obj.scope})
            return
        raw = ApiToken.generate()
        obj.set_token(raw)
        super().save_model(request, obj, form, change)
        audit_record(actor=actor, action="api_token.create", obj=obj, after={"name": obj.name, "scope": obj.scope})
        messages.warning(request, f"Token for {obj.name} (shown once, copy it now): {raw}")

    @admin.action(description="Revoke selected tokens")
    @reauth_admin_action("tokens.revoke")
    def revoke(self, request, queryset) -> None:
        actor = Actor.user(request.user)
        for token in queryset.filter(revoked=False):
            token.revoked = True
            token.save(update_fields=["revoked"])
            audit_record(actor=actor, action="api_token.revoke", obj=token)
        self.message_user(request, "revoked")
