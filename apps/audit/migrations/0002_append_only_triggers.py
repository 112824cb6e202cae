"""Database-level guard: the audit table refuses UPDATE and DELETE, whatever code path tries."""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION audit_auditlog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_auditlog_no_update BEFORE UPDATE OR DELETE ON audit_auditlog
    FOR EACH ROW EXECUTE FUNCTION audit_auditlog_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS audit_auditlog_no_update ON audit_auditlog;
DROP FUNCTION IF EXISTS audit_auditlog_append_only();
"""
SQLITE_UP = [
    "CREATE TRIGGER audit_auditlog_no_update BEFORE UPDATE ON audit_auditlog "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
]
# No DELETE trigger on SQLite: Django's test flush empties tables with DELETE there (PostgreSQL uses
# TRUNCATE, which row triggers do not see). The ORM and the admin still refuse deletes.
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS audit_auditlog_no_update;"]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_UP)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DOWN)
    elif vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
