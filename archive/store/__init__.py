"""The archive's database: tables, engine, migrations."""
