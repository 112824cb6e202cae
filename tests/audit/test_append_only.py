"""The audit log refuses updates and deletes in the ORM, in bulk and in the database itself."""

import pytest
from django.db import DatabaseError, connection, transaction

from apps.audit.actors import Actor
from apps.audit.models import AppendOnlyError, AuditLog
from apps.audit.services import audit_record

pytestmark = pytest.mark.django_db


def make_row() -> AuditLog:
    return audit_record(actor=Actor.system(), action="test.action", object_type="x", object_id="1", after={"a": 1})


def test_saving_an_existing_row_is_refused():
    row = make_row()
    row.action = "changed"
    with pytest.raises(AppendOnlyError):
        row.save()


def test_deleting_a_row_is_refused():
    with pytest.raises(AppendOnlyError):
        make_row().delete()


def test_queryset_update_and_delete_are_refused():
    make_row()
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.all().update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.all().delete()


def test_database_refuses_raw_update():
    row = make_row()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditlog SET action = 'x' WHERE id = %s", [row.pk])
    assert AuditLog.objects.get(pk=row.pk).action == "test.action"


def test_secrets_are_redacted_in_audit_rows(settings):
    settings.GATEIO_API_SECRET = "supersecretvalue123"
    row = audit_record(
        actor=Actor.system(), action="x", after={"api_secret": "abc", "note": "key supersecretvalue123 used"}
    )
    assert row.after["api_secret"] == "***"
    assert "supersecretvalue123" not in row.after["note"]
