"""Reading an LDAP directory: paged searches of the endpoint's scope, streamed page by
page; a search the server cuts short (a size or time limit) is an error, never a short
read that would make a run delete what it did not see. Reading also builds the key→DN
map that writes find their entries in (provider.py)."""

from __future__ import annotations

import asyncio
import difflib
import re
import unicodedata
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from itertools import compress

from ldap3.core.results import RESULT_CODES

from core.engine.containers import CONTAINER_FIELD
from core.engine.planned_state import ID_FIELD
from core.errors import BadInput, Transient
from schemas.connections import LdapConnection
from schemas.jobs import Endpoint
from schemas.values import Record, Value

from ..base import Layout
from ..changes import FieldChanges, filtered
from . import ber as w
from .connection import Compared, Session, binary_attributes, connect, dn_valued, keys_fold
from .dn import class_filter, compile_filter, escape_filter_value, split_rdn
from .steps import Key
from .values import DN_FIELD, RawEntry, Values
from .wire import Disconnected

KEYS_PER_SEARCH = 100
"""Key values looked up per search."""
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
"""An attribute description without options (RFC 4512): what a filter may name."""
_DESCRIPTION = re.compile(r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*")
"""An attribute description (RFC 4512, section 2.5): a name or an OID, with options.
A field the job reads that is none (a CSV-style name) cannot be an attribute of an entry."""
NO_ATTRIBUTES = "1.1"
"""Asked for alone: the entries' DNs and no attribute (RFC 4511, section 4.5.1.8)."""

CHANGE_MARKER = "modifyTimestamp"
"""What incremental runs compare when the job names no change field (entryCSN also works)."""


def key_of(record: Mapping[str, Value], keys: Iterable[str]) -> Key | None:
    """Key values as the engine compares them (NFC, trimmed); None when one is unusable."""
    out: list[str] = []
    for name in keys:
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            return None
        out.append(unicodedata.normalize("NFC", value).strip())
    return tuple(out)


def unknown_attributes(schema: object, names: Iterable[str]) -> str:
    """The names, among those of attributes (`cn`, `userCertificate;binary`), that the
    server's schema does not define, each with a near one it does ("'telephonNumber'
    (did you mean 'telephoneNumber'?)"); empty when all are defined or the server
    publishes no schema."""
    types = getattr(schema, "attribute_types", None)
    if not types:
        return ""
    missing: list[str] = []
    known = {str(k).lower(): str(k) for k in types}
    for name in dict.fromkeys(names):
        base = name.split(";", 1)[0]
        if not _ATTRIBUTE.fullmatch(base) or base.lower() == DN_FIELD or base in types:
            continue
        close = difflib.get_close_matches(base.lower(), list(known), n=1)
        missing.append(f"{name!r}" + (f" (did you mean {known[close[0]]!r}?)" if close else ""))
    return ", ".join(missing)


class LdapReading:
    """One side of a job on a directory: its connections, its scope, and reading it."""

    skips_references = False
    """Whether a search's continuation references (parts of the tree another server
    holds) are passed over; otherwise they fail the read, since the entries there would
    be taken for absent."""

    checks_attributes = True
    """Whether `open` refuses a field the server's schema has no attribute for (a typo
    would read as an attribute no entry has, or fail every write)."""
    spells_dns = True
    """Whether a value of a DN-valued attribute is compared and written as the directory
    keeps it (`Values.canonical`): OpenLDAP's spelling, which AD does not keep."""

    def __init__(self, connection: LdapConnection, endpoint: Endpoint, layout: Layout) -> None:
        if not endpoint.container:
            raise BadInput("ldap: the endpoint needs `container`, the base DN of its scope")
        self._connection = connection
        self._layout = layout
        self._base = endpoint.container
        self._scope = w.SCOPE_SUBTREE if endpoint.include_subcontainers else w.SCOPE_LEVEL
        self._classes = tuple(layout.object_classes or endpoint.object_classes or ())
        self._query = endpoint.query or class_filter(self._classes)
        self._queried = bool(endpoint.query)
        """The endpoint names its own query (else the classes' filter, which every create
        of them matches)."""
        self._filter = compile_filter(self._query, "ldap: the endpoint's query")
        self._rdn = endpoint.rdn_attribute or (layout.keys[0] if layout.keys else None)
        self._container = layout.container or endpoint.container
        self._keys = layout.keys
        self._dns: dict[Key, str | None] = {}  # key → DN; None: several entries share it
        # DNs of entries a read finds but leaves out of its records (a subclass says which:
        # AD's accounts whose create never finished, so that the plan creates them again).
        self._hidden: set[bytes] = set()
        self._seen: set[bytes] | None = None
        """The DNs a lookup's searches have given so far (None: no lookup under way)."""
        self._ahead: dict[tuple[bytes, bytes], int] = {}  # (search, cookie) → message id
        self._sessions: list[Session] = []
        self._values: Values | None = None
        self._changes: FieldChanges | None = None
        self._write = False
        self._keys_fold: bool | None = None
        self._compared: Compared | None = None
        """What the schema says of attributes and classes (a create's values against the
        query: provider.py `refused_create`), once opened."""
        self._folding: dict[str, bool] = {}
        self._aliases: list[tuple[str, str]] = []
        """(the field a record holds an attribute under, another spelling the job reads
        it by): the value is given under both."""

    @property
    def keys_fold(self) -> bool | None:
        """Whether the key attributes compare values without case (base.py), as the
        server's schema says once opened: uid, cn, mail and most naming attributes do."""
        return self._keys_fold

    def value_folds(self, field: str) -> bool:
        """Whether the server compares `field`'s values without case, as its schema says
        once opened (mail's caseIgnoreIA5Match): a reference `by` it is looked up so."""
        return self._folding.get(field.lower(), False)

    async def open(self, *, write: bool) -> None:
        self._write = write
        session = await asyncio.to_thread(connect, self._connection, schema=True)
        self._sessions.append(session)
        layout = self._layout
        self._folding = {
            name.lower(): keys_fold(session.conn, [name]) is True
            for name in [*layout.keys, *layout.fields, *layout.multi_valued]
        }
        references = {name.lower() for name in layout.references}
        self._values = Values(
            binary=binary_attributes(session.conn),
            multi_valued=layout.multi_valued,
            spellings=[*layout.keys, *layout.fields, *layout.multi_valued, *layout.reads],
            with_dn=not write,
            dns=dn_valued(session.conn, but=layout.references) if self.spells_dns else None,
            folds=[n for n, folds in self._folding.items() if folds and n not in references],
        )
        # Attribute names compare without case: a source's record holds each attribute
        # under the name the job reads it by (the server sends its schema's spelling), and
        # under each other spelling the job gives it (a `where` on "employeetype" beside
        # a field mapped from "employeeType").
        spelled = self._values.spelling
        self._aliases = [
            (spelled[name.lower()], name)
            for name in dict.fromkeys(layout.reads)
            if spelled[name.lower()] != name
        ]
        self._keys_fold = keys_fold(session.conn, layout.keys)
        self._compared = Compared(session.conn)
        if self.checks_attributes:
            names = [*layout.keys, *layout.fields, *layout.reads]
            unknown = unknown_attributes(session.conn.server.schema, names)
            if unknown:
                raise BadInput(
                    f"ldap connection {self._connection.id!r}: the directory's schema has no "
                    f"attribute {unknown}, which the job "
                    f"{'writes' if write or layout.keys else 'reads'} below {self._base}: "
                    "check the field's name (an attribute the schema lacks is never in "
                    "an entry)"
                )

    # Reading.

    def _wanted(self) -> list[str]:
        """The attributes a search asks for: a destination's keys and fields; a source's
        fields the job reads (the DN comes with every entry), so that the server sends,
        and this side decodes, nothing the job does not map; every one ("*") when the job
        copies every field — or may read any (a script), those it names besides."""
        layout = self._layout
        if layout.fields:
            return list(dict.fromkeys([*layout.keys, *layout.fields]))
        if layout.reads:
            names = [n for n in layout.reads if _DESCRIPTION.fullmatch(n) and n.lower() != DN_FIELD]
            if layout.every_field:
                names.insert(0, "*")
            return list(dict.fromkeys(names))  # none at all: see `_read`
        return ["*"]

    def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        return self._read(batch_size, self._filter, self._wanted())

    def reads_keys(self, field: str) -> bool:
        """An attribute by its name (not the DN, not an attribute of binary values)."""
        binary = self._values.binary if self._values is not None else set()
        name = field.lower()
        return _ATTRIBUTE.fullmatch(field) is not None and name != DN_FIELD and name not in binary

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The entries of the scope with one of `values` in `field`, matched by the
        attribute's own equality rule (most ignore case), a hundred values per search."""
        self._dns, self._hidden = {}, set()  # learnt over all the searches of this lookup
        self._seen = set()
        try:
            for at in range(0, len(values), KEYS_PER_SEARCH):
                some = "".join(
                    f"({field}={escape_filter_value(v)})" for v in values[at : at + KEYS_PER_SEARCH]
                )
                query = f"(&{self._query}(|{some}))"
                asked = "ldap: the endpoint's query with the keys asked for"
                filter_ber = compile_filter(query, asked)
                async for batch in self._read(batch_size, filter_ber, self._wanted(), fresh=False):
                    yield batch
        finally:
            self._seen = None

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """The server filters: entries whose modifyTimestamp (or the job's field, such as
        entryCSN) is at or after `since`. Both compare correctly as text (UTC, fixed width)."""
        name = field or CHANGE_MARKER
        assert self._values is not None, "open() first"
        self._values.spelling[name.lower()] = name
        self._changes = FieldChanges(name, since, checked=False)  # the server compared
        query = self._query
        if since is not None:
            query = f"(&{query}({name}>={escape_filter_value(since)}))"
        filter_ber = compile_filter(query, "ldap: the endpoint's query with the change filter")
        wanted = self._wanted()
        hidden = name not in wanted  # asked for the watermark only: not a record field
        return self._without(
            filtered(self._read(batch_size, filter_ber, [*wanted, name]), self._changes),
            name if hidden else None,
        )

    @staticmethod
    async def _without(
        batches: AsyncIterator[list[Record]], name: str | None
    ) -> AsyncIterator[list[Record]]:
        async for batch in batches:
            if name is not None:
                for record in batch:
                    record.pop(name, None)
            yield batch

    def watermark(self) -> str | None:
        return self._changes.watermark() if self._changes else None

    async def _read(
        self, batch_size: int, filter_ber: bytes, wanted: list[str], fresh: bool = True
    ) -> AsyncIterator[list[Record]]:
        """The entries `filter_ber` finds, their DNs learnt afresh (`fresh`: a re-read must
        not take its entries for duplicates) or along with those of the searches before."""
        attributes = [name.encode() for name in wanted or [NO_ATTRIBUTES]]
        cookie: bytes | None = b""
        pending: list[Record] = []
        if fresh:
            self._dns = {}
            self._hidden = set()
        while cookie is not None:
            records, cookie = await asyncio.to_thread(self._page, filter_ber, attributes, cookie)
            pending.extend(records)
            while len(pending) >= batch_size:
                yield pending[:batch_size]
                del pending[:batch_size]
        if pending:
            yield pending

    def _page(
        self, filter_ber: bytes, attributes: list[bytes], cookie: bytes
    ) -> tuple[list[Record], bytes | None]:
        """One page of records (the key→DN map learns their DNs) and the next cookie."""
        bodies, after = self._search(filter_ber, attributes, cookie)
        found, names = self._records(bodies)
        if self._seen is not None:  # a lookup's searches: an entry two of them find, once
            new = [name not in self._seen for name in names]
            self._seen.update(names)
            found, names = list(compress(found, new)), list(compress(names, new))
        dns, keys, hidden = self._dns, self._keys, self._hidden
        ids, where = self._layout.identifiers, self._layout.containers
        if aliases := self._aliases:
            for record in found:
                for field, alias in aliases:
                    if (value := record.get(field)) is not None:
                        record[alias] = value.copy() if isinstance(value, list) else value
        if not (ids or where or keys or hidden):
            return found, after or None  # a source's read: the records as they are
        records: list[Record] = []
        for record, name in zip(found, names, strict=True):
            dn = name.decode("utf-8", "replace")
            if ids:
                record[ID_FIELD] = dn
            if where:
                record[CONTAINER_FIELD] = split_rdn(dn)[1]
            if keys and (key := key_of(record, keys)) is not None:
                dns[key] = None if key in dns else dn
            if not hidden or name not in hidden:
                records.append(record)
        return records, after or None

    def _records(self, bodies: list[bytes]) -> tuple[list[Record], list[bytes]]:
        """A page's entries as records, and their DNs (a subclass that adds to `_entry`
        decodes them with `_entries` instead)."""
        assert self._values is not None
        return self._values.records(bodies)

    def _entries(self, bodies: list[bytes]) -> tuple[list[Record], list[bytes]]:
        """A page's entries as `_entry` makes them records, and their DNs."""
        raws = [w.entry(body) for body in bodies]
        return [self._entry(raw) for raw in raws], [raw[0] for raw in raws]

    def _entry(self, raw: RawEntry) -> Record:
        """An entry as a record (a subclass adds what its directory needs)."""
        assert self._values is not None
        return self._values.record(raw)

    def _search(
        self, filter_ber: bytes, attributes: list[bytes], cookie: bytes
    ) -> tuple[list[bytes], bytes]:
        """One page of a paged search in the scope: the entries' SearchResultEntry bodies
        and the next cookie (b"": done).

        The next page is asked for as soon as this one's cookie arrives, before its
        entries are decoded: the server works on it while this thread decodes."""
        wire = self._sessions[0].wire
        request = w.search_request(self._base.encode(), self._scope, filter_ber, attributes)
        size = self._connection.page_size
        try:
            mid = self._ahead.pop((request, cookie), None)
            if mid is None:
                mid = wire.send(request, w.paged_control(size, cookie))
            bodies: list[bytes] = []
            elsewhere: list[bytes] = []  # continuation references: not followed
            for message in wire.receive():
                if message.id != mid:
                    continue
                if message.op == w.ENTRY:
                    bodies.append(message.body)
                    continue
                if message.op == w.REFERENCE:
                    if not self.skips_references:
                        elsewhere += w.references(message.body)
                    continue
                done = w.result(message.body)
                if done.code == w.SUCCESS and elsewhere:
                    raise self._referred(elsewhere)
                if done.code == w.SUCCESS:
                    after = w.paged_cookie(message.controls)
                    if after:
                        ahead = wire.send(request, w.paged_control(size, after))
                        self._ahead = {(request, after): ahead}
                    return bodies, after
                if done.code == w.NO_SUCH_OBJECT and self._write:
                    return [], b""  # a destination whose container does not exist yet: empty
                raise self._search_error(done, len(bodies))
        except Disconnected as e:
            raise Transient(
                f"ldap: {self._sessions[0].url}: {e} while searching {self._base}"
            ) from e
        raise AssertionError("unreachable: receive() never ends by itself")

    def _referred(self, urls: list[bytes]) -> BadInput:
        shown = ", ".join(url.decode("utf-8", "replace") for url in urls[:3])
        more = f" (and {len(urls) - 3} more)" if len(urls) > 3 else ""
        return BadInput(
            f"ldap: the search of {self._base} met a referral to {shown}{more}: that part "
            "of the tree is held by another server, which idsync does not follow, and its "
            "entries would be taken for absent; set the endpoint's container (a query "
            "cannot leave a referral out) to a part of the tree without it, or read that "
            "part with a job on its own server"
        )

    def _search_error(self, done: w.Result, count: int) -> Exception:
        base, name = self._base, RESULT_CODES.get(done.code, str(done.code))
        said = f"{name}: {done.message}" if done.message else str(name)
        if done.code == w.NO_SUCH_OBJECT:
            return BadInput(
                f"ldap: the base DN {base} does not exist; fix the endpoint's container"
            )
        if done.code in (w.SIZE_LIMIT, w.TIME_LIMIT):
            return BadInput(
                f"ldap: the server cut the search of {base} short after {count} entries of a "
                f"page ({said}); raise the limits of {self._connection.bind_dn or 'anonymous'} "
                "(OpenLDAP: limits … size.prtotal=unlimited): a partial read would make the "
                "run act on objects it did not see"
            )
        if done.code == 12:  # unavailableCriticalExtension: paging refused
            return BadInput(f"ldap: the server does not page searches of {base} ({said})")
        if done.code in (w.BUSY, w.UNAVAILABLE, w.OTHER):
            return Transient(f"ldap: the server could not search {base} now ({said})")
        return BadInput(f"ldap: searching {base} with {self._query} failed ({said})")

    def canonical(self, record: Record) -> Record:
        assert self._values is not None, "open() first"
        return self._values.canonical(record)

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, []
        for session in sessions:
            await asyncio.to_thread(session.close)
