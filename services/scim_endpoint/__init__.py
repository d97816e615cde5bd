"""idsync as a SCIM endpoint: other systems push users, which become runs (app.py)."""
