"""Database: tables, engine setup, migrations, and the queries the domain needs."""
