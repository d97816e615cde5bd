"""What the logged-in user may do to a table or a database, as information_schema lists
the user's own grants: global (USER_PRIVILEGES), on a database (SCHEMA_PRIVILEGES, whose
names may be LIKE patterns) and on the table (TABLE_PRIVILEGES).

Grants through a role are not in those views: with a role active nothing is refused here
(the server still refuses what it must, when writing)."""

from __future__ import annotations

from typing import Any

from .connection import fetch

_GRANTEE = (
    "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
    "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')"
)
_GRANTED = f"""
SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = {_GRANTEE}
UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES
  WHERE GRANTEE = {_GRANTEE} AND %s LIKE TABLE_SCHEMA
UNION SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES
  WHERE GRANTEE = {_GRANTEE} AND TABLE_SCHEMA = %s AND TABLE_NAME = %s
"""
WRITING = ("SELECT", "INSERT", "UPDATE", "DELETE")


async def granted(conn: Any, schema: str, table: str) -> set[str] | None:
    """The privileges the user holds on the table (database-wide ones with table ""); None
    when a role is active, whose grants these views do not show."""
    role = await fetch(conn, "SELECT CURRENT_ROLE()")
    if role and role[0][0] not in (None, "NONE", ""):
        return None
    rows = await fetch(conn, _GRANTED, (schema, schema, table))
    found = {str(row[0]).upper() for row in rows}
    return set(WRITING) | {"CREATE", "ALTER"} if "ALL PRIVILEGES" in found else found


async def missing_privileges(conn: Any, schema: str, table: str) -> list[str]:
    """Which of SELECT, INSERT, UPDATE, DELETE the user lacks on the table."""
    found = await granted(conn, schema, table)
    return [] if found is None else [p for p in WRITING if p not in found]
