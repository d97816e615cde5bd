"""What the logged-in user may do to a table or a database, as information_schema lists
the user's own grants: global (USER_PRIVILEGES), on a database (SCHEMA_PRIVILEGES, whose
names may be LIKE patterns) and on the table (TABLE_PRIVILEGES).

Grants through a role are not in those views: with a role active nothing is refused here
(the server still refuses what it must, when writing). A role granted but not active at
login (not the user's default role) gives a run's sessions nothing: what is refused then
says to make it the default (`inactive_roles`)."""

from __future__ import annotations

from typing import Any

from asyncmy.errors import MySQLError

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


async def inactive_roles(conn: Any) -> str:
    """ "; or, if its role R is to give them: it is not active when it logs in, SET
    DEFAULT ROLE R FOR 'u'@'h'" where roles granted to the user are not active (none is
    its default role, so no session of a run has their rights); "" where none is, or the
    server does not say."""
    try:
        rows = await fetch(
            conn,
            "SELECT ROLE_NAME, CURRENT_USER() FROM information_schema.APPLICABLE_ROLES "
            # MariaDB names the grantee user@host there, unquoted
            f"WHERE GRANTEE IN (CURRENT_USER(), {_GRANTEE}) ORDER BY 1",
        )
        role = await fetch(conn, "SELECT CURRENT_ROLE()")
    except MySQLError:  # a server without these views
        return ""
    if not rows or (role and role[0][0] not in (None, "NONE", "")):
        return ""
    names = [str(row[0]) for row in rows]
    user, _, host = str(rows[0][1]).rpartition("@")
    which = f"role {names[0]} is" if len(names) == 1 else f"roles {', '.join(names)} are"
    return (
        f"; or, if its {which} to give them: it is not active when it logs in, SET DEFAULT "
        f"ROLE {names[0]} FOR '{user}'@'{host}'"
    )
