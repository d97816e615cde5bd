"""Loading the files administrators write: connections.toml and jobs/*.toml.

TOML becomes the schemas' structs, relative paths become absolute, and every decoding
problem reads `file: field path: expected ..., got ...`, one per line, so a person can
fix the file without reading a traceback or knowing msgspec. What decoding cannot see
is for the checks (core/checks/: check_job, check_connections).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar, get_args

import msgspec
import msgspec.inspect as mi

from core.errors import BadInput
from core.words import SLUG, show
from schemas.collections import Collection
from schemas.connections import PATH_FIELDS, PROVIDERS, Connection, SecretRef
from schemas.ids import is_slug
from schemas.jobs import Endpoint, Job
from schemas.roles import Role
from schemas.templates import Template

# Derived from the union so a new provider is picked up without touching this module.
_CLASSES: dict[str, type[Connection]] = {
    str(cls.__struct_config__.tag): cls for cls in get_args(Connection)
}
_CONNECTION_INFO = {tag: mi.type_info(cls) for tag, cls in _CLASSES.items()}
_JOB_INFO = mi.type_info(Job)
_ENDPOINT_INFO = mi.type_info(Endpoint)
_JOB_SETTINGS = frozenset(f.encode_name for f in msgspec.structs.fields(Job))
_COLLECTION_INFO = mi.type_info(Collection)
_TEMPLATE_INFO = mi.type_info(Template)
_ROLE_INFO = mi.type_info(Role)
T = TypeVar("T")

_ABSENT = object()
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
    """Every connection in a file; each top-level table is one, named by its id. A .json
    file holds the same tables, or the list `idsync connection list --json` prints."""
    data = _read_document(path)
    if isinstance(data, list):
        data = _by_id(data, str(path))
    return connections_from(data, str(path), path.parent)


def _by_id(items: list[Any], name: str) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise BadInput(f"{name}: [{i}]: expected a connection with its id, got {show(item)}")
        tables[item["id"]] = {k: v for k, v in item.items() if k != "id"}
    return tables


def connections_from(
    data: dict[str, Any], name: str, base: Path, *, strict: bool = True
) -> list[Connection]:
    """The connections of `data` (table name → settings), decoded as in a file called
    `name`, relative paths made absolute against `base`. Not `strict`: settings given as
    text (`idsync connection add --set`) are read as the numbers or true/false they need."""
    problems: list[str] = []
    found: list[Connection] = []
    for cid, table in data.items():
        where = f"[{cid}]"
        if not isinstance(table, dict):
            problems.append(f"{name}: {cid}: expected a table such as [{cid}], got {show(table)}")
            continue
        if not is_slug(cid):
            problems.append(f"{name}: {where}: expected an id that is {SLUG}, got {show(cid)}")
        if "id" in table:
            problems.append(f'{name}: {where}.id: unknown field "id" (the table name is the id)')
            continue
        provider = table.get("provider")
        known = ", ".join(PROVIDERS)
        if provider is None:
            problems.append(f'{name}: {where}: missing required field "provider" (known: {known})')
            continue
        if not isinstance(provider, str) or provider not in _CLASSES:
            problems.append(f"{name}: {where}: unknown provider {show(provider)} (known: {known})")
            continue
        try:
            conn = msgspec.convert({**table, "id": cid}, _CLASSES[provider], strict=strict)
        except msgspec.ValidationError as e:
            problems.append(f"{name}: {_translate(e, table, _CONNECTION_INFO[provider], where)}")
            continue
        conn, more = _finish(conn, provider, base, f"{name}: {where}")
        problems += more
        if is_slug(cid) and not more:
            found.append(conn)
    if problems:
        raise BadInput("\n".join(problems))
    return found


def load_job(path: Path) -> Job:
    """The one job a file defines, decoded strictly (unknown fields are refused): TOML, or
    JSON (a .json file, as `idsync job show --json` prints it)."""
    job = _load_one(path, Job, "job", _JOB_INFO)
    if not is_slug(job.id):
        raise BadInput(f"{path}: $.id: expected {SLUG}, got {show(job.id)}")
    return job


def load_collection(path: Path) -> Collection:
    """The one collection a file defines (TOML, or JSON as `collection show --json`
    prints it), decoded strictly."""
    return _load_one(path, Collection, "collection", _COLLECTION_INFO)


def load_template(path: Path) -> Template:
    """The one template a file defines (TOML as `idsync template show` prints it, or JSON
    as `--json` does), decoded strictly."""
    template = _load_one(path, Template, "template", _TEMPLATE_INFO)
    if template.builtin:
        raise BadInput(f"{path}: a shipped template cannot be imported; save your own instead")
    return template


def load_role(path: Path) -> Role:
    """The one role a file defines (TOML, or JSON as `idsync role show --json` prints
    its definition), decoded strictly."""
    role = _load_one(path, Role, "role", _ROLE_INFO)
    if not is_slug(role.id):
        raise BadInput(f"{path}: $.id: expected {SLUG}, got {show(role.id)}")
    return role


def endpoint_from(table: dict[str, Any], where: str) -> Endpoint:
    """A job's side from settings given on the command line (`--source-set file=…`),
    refused as a job file's would be: the setting, what was expected, a near name."""
    try:
        return msgspec.convert(table, Endpoint)
    except msgspec.ValidationError as e:
        said = _translate(e, table, _ENDPOINT_INFO, where)
        raise BadInput(said.replace(f"{where}.", f"{where} ", 1)) from None


def _load_one(path: Path, kind: type[T], what: str, info: mi.Type) -> T:
    """The one `what` a definition file holds, decoded strictly into `kind`."""
    data = _read_document(path)
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected one {what} (a table), got {show(data)}")
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as e:
        raise BadInput(f"{path}: {_translate(e, data, info, '$')}") from None


def _read_document(path: Path) -> Any:
    """A definition file's tables: TOML, or JSON for a file named .json."""
    if path.suffix.lower() != ".json":
        return _read_toml(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: expected UTF-8 text, got an invalid byte at {e.start}") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: line {e.lineno}, column {e.colno}: {e.msg}") from None


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
    """Paths made absolute against the file's folder (not the cwd)."""
    problems: list[str] = []
    paths: dict[str, str] = {}
    for field in PATH_FIELDS.get(provider, ()):
        value = getattr(conn, field)
        if value is None:
            continue  # an optional path left out (an LDAP ca_file)
        if not value.strip():
            problems.append(f"{at}.{field}: expected a path, got {show(value)}")
            continue
        given = Path(value).expanduser()
        # normpath, not resolve(): tidy "../" without following symlinks the admin chose.
        paths[field] = os.path.normpath(base.absolute() / given)  # `/` keeps absolute paths
    # A secret read from a file is read by the runner, in its own folder: relative to this
    # file as the other paths are, or every run would look for it somewhere else.
    secrets: dict[str, SecretRef] = {}
    for info in msgspec.structs.fields(conn):
        ref = getattr(conn, info.name)
        if isinstance(ref, SecretRef) and ref.file and ref.file.strip():
            file = os.path.normpath(base.absolute() / Path(ref.file).expanduser())
            secrets[info.name] = msgspec.structs.replace(ref, file=file)
    return msgspec.structs.replace(conn, **paths, **secrets), problems


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
        job_setting = root is _JOB_INFO and m[1] in _JOB_SETTINGS
        if job_setting and len(parts) == 2 and isinstance(parts[1], int):
            # TOML gives every key after a [[table]] header to that table's entry.
            entry = f"an [[{parts[0]}]]" if parts[0] == "objects" else f"a [[{parts[0]}]]"
            hint = (
                f"a setting of the job, not of {entry} entry: write it above the "
                f"first [[{parts[0]}]]"
            )
        return f'{shown}.{m[1]}: unknown field "{m[1]}" ({hint})'
    expected = _type_at(root, parts)
    value = _value_at(data, parts)
    m = re.fullmatch(r"Expected `(.+)`, got `(.+)`", text)
    if m is None and not text.startswith("Invalid"):
        return f"{shown}: {text}"
    # The schema and the data almost always answer; msgspec's own words are the fallback.
    got = show(value) if value is not _ABSENT else f"`{m[2]}`" if m else "this value"
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
        return "one of " + ", ".join(show(v) for v in t.values)
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
