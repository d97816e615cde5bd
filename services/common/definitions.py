"""Loading the files administrators write: connections.toml and jobs/*.toml.

Every problem reads `file: field path: expected ..., got ...`, one per line, so a person
can fix the file without reading a traceback or knowing msgspec.
"""

from __future__ import annotations

import codecs
import difflib
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, get_args

import msgspec
import msgspec.inspect as mi

from schemas.connections import (
    PATH_FIELDS,
    PROVIDERS,
    Connection,
    CsvConnection,
    LdapConnection,
    PluginConnection,
    SqliteConnection,
)
from schemas.ids import is_slug
from schemas.jobs import Endpoint, Job, ObjectMapping
from services.common.errors import BadInput
from services.common.incremental_checks import check_changes
from services.common.object_checks import check_object_types, endpoint_of
from services.common.scope_checks import check_scopes
from services.notifier.addresses import address_problem
from services.runner.engine.mapping import check_mapping
from services.runner.hooks import check_hooks
from services.runner.providers.capability_table import capabilities
from services.runner.providers.ldap_config import check_ldap_connection
from services.runner.providers.mandatory import mandatory_fields

# Derived from the union so a new provider is picked up without touching this module.
_CLASSES: dict[str, type[Connection]] = {
    str(cls.__struct_config__.tag): cls for cls in get_args(Connection)
}
_CONNECTION_INFO = {tag: mi.type_info(cls) for tag, cls in _CLASSES.items()}
_JOB_INFO = mi.type_info(Job)

_SLUG = "a slug (a-z, 0-9, - and _, starting with a letter or digit, up to 64 characters)"
_INTERVAL_EXAMPLES = 'such as "30s", "15m", "2h", "1d" or "1h30m"'
_ABSENT = object()
_Report = Callable[[str, str], None]  # (field path, "expected ..., got ...")
# Types in words (singular, plural), for people who never heard of `str` or `array`.
_NAMES: dict[type[mi.Type], tuple[str, str]] = {
    mi.StrType: ("text", "strings"),
    mi.IntType: ("a whole number", "whole numbers"),
    mi.FloatType: ("a number", "numbers"),
    mi.BoolType: ("true or false", "true/false values"),
    mi.StructType: ("a table", "tables"),
    mi.DictType: ("a table", "tables"),
}


def load_connections(path: Path) -> list[Connection]:
    """Every connection in a file; each top-level table is one, named by its id."""
    name, data = str(path), _read_toml(path)
    problems: list[str] = []
    found: list[Connection] = []
    for cid, table in data.items():
        where = f"[{cid}]"
        if not isinstance(table, dict):
            problems.append(f"{name}: {cid}: expected a table such as [{cid}], got {_show(table)}")
            continue
        if not is_slug(cid):
            problems.append(f"{name}: {where}: expected an id that is {_SLUG}, got {_show(cid)}")
        if "id" in table:
            problems.append(f'{name}: {where}.id: unknown field "id" (the table name is the id)')
            continue
        provider = table.get("provider")
        known = ", ".join(PROVIDERS)
        if provider is None:
            problems.append(f'{name}: {where}: missing required field "provider" (known: {known})')
            continue
        if not isinstance(provider, str) or provider not in _CLASSES:
            problems.append(f"{name}: {where}: unknown provider {_show(provider)} (known: {known})")
            continue
        try:
            conn = msgspec.convert({**table, "id": cid}, _CLASSES[provider])
        except msgspec.ValidationError as e:
            problems.append(f"{name}: {_translate(e, table, _CONNECTION_INFO[provider], where)}")
            continue
        conn, more = _finish(conn, provider, path.parent, f"{name}: {where}")
        problems += more
        if is_slug(cid) and not more:
            found.append(conn)
    if problems:
        raise BadInput("\n".join(problems))
    return found


def load_job(path: Path) -> Job:
    """The one job a file defines, decoded strictly (unknown fields are refused)."""
    name, data = str(path), _read_toml(path)
    try:
        job = msgspec.convert(data, Job)
    except msgspec.ValidationError as e:
        raise BadInput(f"{name}: {_translate(e, data, _JOB_INFO, '$')}") from None
    if not is_slug(job.id):
        raise BadInput(f"{name}: $.id: expected {_SLUG}, got {_show(job.id)}")
    return job


def check_job(
    job: Job, connections: Mapping[str, Connection], *, origin: str | Path | None = None
) -> None:
    """What decoding cannot see: references, required scopes, limits. All problems at once.

    `origin` (the job's file) starts every line; without it the job's id does.
    """
    at = str(origin) if origin is not None else f'job "{job.id}"'
    problems: list[str] = []

    def bad(field: str, text: str) -> None:
        problems.append(f"{at}: {field}: {text}")

    if not is_slug(job.id):
        bad("$.id", f"expected {_SLUG}, got {_show(job.id)}")
    providers: list[str] = []
    for side, ep in (("source", job.source), ("destination", job.destination)):
        conn = connections.get(ep.connection)
        if conn is None:
            known = ", ".join(sorted(connections)) or "none"
            text = f"unknown connection {_show(ep.connection)} (known: {known})"
            bad(f"$.{side}.connection", text)
            continue
        providers.append(str(type(conn).__struct_config__.tag))
        _check_endpoint(bad, f"$.{side}", ep, conn)
    if not job.objects:
        bad("$.objects", "expected at least one [[objects]] entry, got none")
    sides = [connections.get(ep.connection) for ep in (job.source, job.destination)]
    tags = [str(type(c).__struct_config__.tag) if c is not None else None for c in sides]
    check_object_types(bad, job, *tags)  # several types, their scopes, references
    for i, obj in enumerate(job.objects):
        _check_object(bad, f"$.objects[{i}]", obj)
        for path, text in check_mapping(obj, f"$.objects[{i}]", job.id):  # transformations
            bad(path, text)
    if (target := connections.get(job.destination.connection)) is not None:
        _check_actions(bad, job, target)
        _check_mandatory(bad, job, target)
    check_scopes(bad, job, _can(target) if target is not None else None)
    if not 1 <= job.batch_size <= 100_000:
        bad("$.batch_size", f"expected a whole number from 1 to 100000, got {job.batch_size}")
    _check_safety(bad, job)
    if job.schedule is not None and job.schedule.every is not None:
        try:
            parse_interval(job.schedule.every)
        except BadInput as e:
            bad("$.schedule.every", str(e))
    if job.hooks is not None:
        try:
            check_hooks(job.hooks)
        except BadInput as e:
            bad("$.hooks", str(e).removeprefix("$.hooks: "))
    if job.timeout is not None:
        try:
            parse_interval(job.timeout)
        except BadInput as e:
            bad("$.timeout", str(e))
    _check_notify(bad, job)
    check_changes(bad, job, connections, parse_interval)
    if problems:
        raise BadInput("\n".join(problems))


def _check_safety(bad: _Report, job: Job) -> None:
    """The safety limits are limits: a negative count, or a share below 0, above 100 or
    "nan", is a typo that would hold every plan (or none), refused rather than guessed."""
    safety = job.safety
    if safety.max_count < 0:
        bad("$.safety.max_count", f"expected a whole number from 0 up, got {safety.max_count}")
    if not 0 <= safety.max_percent <= 100:
        got = f"{safety.max_percent:g}"
        bad("$.safety.max_percent", f"expected a number from 0 to 100, got {got}")


def _check_notify(bad: _Report, job: Job) -> None:
    """Each notification names someone to mail, and every address can be mailed."""
    for i, notification in enumerate(job.notify):
        at = f"$.notify[{i}].recipients"
        if notification.recipient_field is not None and notification.trigger != "password":
            bad(f"$.notify[{i}].recipient_field", 'goes with trigger = "password" only')
        if not notification.recipients and notification.recipient_field is None:
            bad(at, 'expected at least one address such as "ada@example.org", got []')
        for j, recipient in enumerate(notification.recipients):
            if (problem := address_problem(recipient)) is not None:
                bad(f"{at}[{j}]", f"{problem}, got {_show(recipient)}")


# Units largest first, each at most once; `m(?!s)` keeps "500ms" from reading as minutes.
_INTERVAL = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?")
_UNIT_SECONDS = (86_400.0, 3_600.0, 60.0, 1.0, 0.001)


def parse_interval(text: str) -> float:
    """Seconds in "30s", "15m", "2h", "1d", "1h30m" or "500ms"."""
    match = _INTERVAL.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise BadInput(f"expected an interval {_INTERVAL_EXAMPLES}, got {_show(text)}")
    groups = match.groups()
    seconds = sum(int(n) * unit for n, unit in zip(groups, _UNIT_SECONDS, strict=True) if n)
    if seconds <= 0:
        raise BadInput(f"expected an interval over zero {_INTERVAL_EXAMPLES}, got {_show(text)}")
    return seconds


def _read_toml(path: Path) -> dict[str, Any]:
    name = str(path)
    try:
        # utf-8-sig: some Windows editors start the file with a byte-order mark.
        return tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise BadInput(f"{name}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{name}: expected a TOML file, got a folder") from None
    except OSError as e:
        raise BadInput(f"{name}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise BadInput(f"{name}: expected UTF-8 text, got an invalid byte at {e.start}") from None
    except tomllib.TOMLDecodeError as e:
        # Python 3.11's error has no line attributes: the position is in the message.
        message = str(e)
        if m := re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.S):
            message = f"line {m[2]}, column {m[3]}: {m[1]}"
        elif m := re.fullmatch(r"(.*) \(at end of document\)", message, re.S):
            message = f"end of file: {m[1]}"
        raise BadInput(f"{name}: {message}") from None


def _finish(conn: Connection, provider: str, base: Path, at: str) -> tuple[Connection, list[str]]:
    """Paths made absolute against the file's folder (not the cwd), CSV options checked."""
    problems: list[str] = []
    paths: dict[str, str] = {}
    for field in PATH_FIELDS.get(provider, ()):
        value = getattr(conn, field)
        if value is None:
            continue  # an optional path left out (an LDAP ca_file)
        if not value.strip():
            problems.append(f"{at}.{field}: expected a path, got {_show(value)}")
            continue
        given = Path(value).expanduser()
        # normpath, not resolve(): tidy "../" without following symlinks the admin chose.
        paths[field] = os.path.normpath(base.absolute() / given)  # `/` keeps absolute paths
    if isinstance(conn, CsvConnection):
        problems += _csv_options(at, conn.delimiter, conn.quote_char, conn.encoding)
    if isinstance(conn, LdapConnection):
        problems += [f"{at}.{field}: {text}" for field, text in check_ldap_connection(conn)]
    return msgspec.structs.replace(conn, **paths), problems


def _csv_options(at: str, delim: str | None, quote: str | None, enc: str | None) -> list[str]:
    problems = [
        f'{at}.{field}: expected exactly one character such as ";", got {_show(value)}'
        for field, value in (("delimiter", delim), ("quote_char", quote))
        if value is not None and len(value) != 1
    ]
    if enc is not None:
        try:
            codecs.lookup(enc)
        except LookupError:
            problems.append(
                f'{at}.encoding: expected an encoding such as "latin-1", got {_show(enc)}'
            )
    return problems


def _check_endpoint(bad: _Report, at: str, ep: Endpoint, conn: Connection) -> None:
    match conn:
        case CsvConnection():
            if not ep.file:
                bad(f"{at}.file", f'expected a file name such as "people.csv", got {_got(ep.file)}')
            for line in _csv_options(at, ep.delimiter, ep.quote_char, ep.encoding):
                field, _, text = line.partition(": ")
                bad(field, text)
            if ep.query:
                bad(f"{at}.query", "a CSV file has no query: every row is in scope")
        case SqliteConnection():
            if not ep.table:
                bad(f"{at}.table", f'expected a table name such as "people", got {_got(ep.table)}')
            if ep.query and ";" in ep.query:
                bad(
                    f"{at}.query",
                    f"expected one condition (a WHERE clause without `;`), got {_show(ep.query)}",
                )
        case LdapConnection():
            if not ep.container:
                example = '"ou=People,dc=example,dc=org"'
                got = _got(ep.container)
                bad(f"{at}.container", f"expected a base DN such as {example}, got {got}")


def _check_mandatory(bad: _Report, job: Job, target: Connection) -> None:
    """A job that creates objects maps every field the destination requires of them."""
    for i, obj in enumerate(job.objects):
        if obj.on_source_only != "create" or not obj.fields:
            continue  # nothing created, or every source field copied (known at run time)
        mapped = {f.to for f in obj.fields}
        endpoint = endpoint_of(job.destination, obj.destination)
        missing = sorted(mandatory_fields(target, endpoint, obj) - mapped)
        if missing:
            fields = ", ".join(f'"{name}"' for name in missing)
            bad(
                f"$.objects[{i}].fields",
                f"a new {obj.type} needs {fields} in {target.id}: map them, or set "
                'on_source_only = "skip"',
            )


def _check_actions(bad: _Report, job: Job, target: Connection) -> None:
    """Each action asked of the destination is one its provider can apply, and a move
    has somewhere to go: refused now rather than failing every record of a run."""
    provider = str(type(target).__struct_config__.tag)
    can = _can(target)
    for i, obj in enumerate(job.objects):
        asked = (
            ("on_source_only", obj.on_source_only, ("create",)),
            ("on_both", obj.on_both, ("update",)),
            ("on_destination_only", obj.on_destination_only, ("delete", "disable", "move")),
        )
        for setting, action, options in asked:
            if action != "skip" and action not in can:
                choose = " or ".join([*(a for a in options if a in can), "skip"])
                text = f"destination {job.destination.connection} ({provider}) cannot {action}"
                bad(f"$.objects[{i}].{setting}", f"{text}; choose {choose}")
        moving = obj.on_destination_only == "move" and "move" in can
        if moving and not (obj.move_to or "").strip():
            where = 'the container on_destination_only = "move" moves objects to'
            example = '"ou=Former,dc=example,dc=org"'
            bad(
                f"$.objects[{i}].move_to",
                f"expected {where}, such as {example}, got {_got(obj.move_to)}",
            )


def _can(target: Connection) -> frozenset[str]:
    """What the destination's provider can apply."""
    if isinstance(target, PluginConnection):
        return frozenset(target.actions)
    return frozenset(capabilities(str(type(target).__struct_config__.tag)))


def _check_object(bad: _Report, at: str, obj: ObjectMapping) -> None:
    if not obj.keys:
        bad(f"{at}.keys", "expected at least one key field, got []")
    for j, key in enumerate(obj.keys):
        if not key.strip():
            bad(f"{at}.keys[{j}]", f"expected a field name, got {_show(key)}")
    first: dict[str, int] = {}  # `to` field -> where it is first mapped
    for j, fmap in enumerate(obj.fields):
        here = f"{at}.fields[{j}]"
        if not fmap.to.strip():
            bad(f"{here}.to", f"expected a field name, got {_show(fmap.to)}")
        elif fmap.to in first:
            again = f"got {_show(fmap.to)} again (first at {at}.fields[{first[fmap.to]}])"
            bad(f"{here}.to", f'expected each "to" field once, {again}')
        else:
            first[fmap.to] = j
        if fmap.from_ is not None and not fmap.from_.strip():
            bad(f"{here}.from", f"expected a source field name, got {_show(fmap.from_)}")
        if fmap.delimiter is not None and not fmap.delimiter:
            bad(f"{here}.delimiter", 'expected a separator such as "|", got ""')
        if fmap.delimiter is not None and fmap.if_several != "fail":
            text = "a field with a delimiter keeps every value: remove if_several or the delimiter"
            bad(f"{here}.if_several", text)
    if first:  # keys are destination fields, so with a map they must be mapped
        for j, key in enumerate(obj.keys):
            if key.strip() and key not in first:
                mapped = ", ".join(first)
                bad(
                    f"{at}.keys[{j}]",
                    f'expected one of the "to" fields ({mapped}), got {_show(key)}',
                )


def _translate(error: msgspec.ValidationError, data: object, root: mi.Type, where: str) -> str:
    """msgspec's message reworded: the path as typed, types in words, the value found."""
    text, _, at = str(error).partition(" - at `")
    at = at.removesuffix("`")
    parts: list[str | int] = [
        int(index) if index else key for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", at)
    ]
    shown = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    if m := re.fullmatch(r"Object missing required field `(.+)`", text):
        return f'{shown}: missing required field "{m[1]}"'
    if m := re.fullmatch(r"Object contains unknown field `(.+)`", text):
        container = _table_in(_type_at(root, parts))
        fields = container.fields if isinstance(container, mi.StructType) else ()
        # A connection's id is its table name, so never suggest writing it as a field.
        known = [f.encode_name for f in fields if where == "$" or f.name != "id"]
        close = difflib.get_close_matches(m[1], known, n=1)
        hint = f'did you mean "{close[0]}"?' if close else f"known: {', '.join(known)}"
        return f'{shown}.{m[1]}: unknown field "{m[1]}" ({hint})'
    expected = _type_at(root, parts)
    value = _value_at(data, parts)
    m = re.fullmatch(r"Expected `(.+)`, got `(.+)`", text)
    if m is None and not text.startswith("Invalid"):
        return f"{shown}: {text}"
    # The schema and the data almost always answer; msgspec's own words are the fallback.
    got = _show(value) if value is not _ABSENT else f"`{m[2]}`" if m else "this value"
    want = _describe(expected) if expected else f"`{m[1]}`" if m else "another value"
    hint = ""
    if isinstance(expected, mi.ListType) and isinstance(value, dict) and len(parts) == 1:
        hint = f" (write [[{parts[0]}]] with two brackets, once per entry)"
    return f"{shown}: expected {want}, got {got}{hint}"


def _type_at(t: mi.Type | None, parts: list[str | int]) -> mi.Type | None:
    for part in parts:
        t = _required(t)
        if isinstance(part, str):
            t = _table_in(t)
        if isinstance(t, mi.StructType) and isinstance(part, str):
            t = next((f.type for f in t.fields if f.encode_name == part), None)
        elif isinstance(t, mi.ListType) and isinstance(part, int):
            t = t.item_type
        else:
            return None
    return _required(t)


def _table_in(t: mi.Type | None) -> mi.Type | None:
    """The table a field such as `unique` (true, or a table) holds; any other type as is."""
    if isinstance(t, mi.UnionType):
        tables = [k for k in t.types if isinstance(k, mi.StructType)]
        return tables[0] if len(tables) == 1 else t
    return t


def _required(t: mi.Type | None) -> mi.Type | None:
    """`X | None` -> X: a TOML file cannot write null, so "or nothing" would not help."""
    if isinstance(t, mi.UnionType):
        kinds = [k for k in t.types if not isinstance(k, mi.NoneType)]
        return kinds[0] if len(kinds) == 1 else t
    return t


def _describe(t: mi.Type, plural: bool = False) -> str:
    if isinstance(t, mi.ListType):
        return "lists" if plural else f"a list of {_describe(t.item_type, plural=True)}"
    if isinstance(t, mi.LiteralType):
        return "one of " + ", ".join(_show(v) for v in t.values)
    if isinstance(t, mi.UnionType):
        return " or ".join(_describe(k, plural) for k in t.types if not isinstance(k, mi.NoneType))
    return _NAMES.get(type(t), ("a value", "values"))[plural]


def _value_at(data: object, parts: list[str | int]) -> object:
    for part in parts:
        if isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        elif isinstance(data, dict):
            data = data.get(part, _ABSENT)
        else:
            return _ABSENT
    return data


def _got(value: str | None) -> str:
    return "nothing" if value is None else _show(value)


def _show(value: object) -> str:
    """A value as it would look in the TOML file, cut short when long."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, datetime | date | time):
        text = value.isoformat()
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{ " + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + " }"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
