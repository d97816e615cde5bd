"""Applying changes on one connection, pipelined: up to WINDOW requests in flight.

The server may run the requests of one connection in any order, so a change waits
while an earlier change to the same key is in flight. Every write is idempotent:
create = add, or set the values when the entry exists; update = replace the changed
attributes (a replace without values removes one, and is no error when it is absent);
delete = delete, absent is fine; move = modify DN under the new container. That makes
it safe to send again whatever a broken connection left unconfirmed.
"""

from __future__ import annotations

from collections import deque

from ldap3.core.results import RESULT_CODES

from core.engine.containers import same_container
from schemas.values import Value

from ..base import Outcome
from . import ber as w
from .dn import compile_filter, rdn, split_rdn
from .steps import Key, Step, naming_value, new_rdn
from .values import DN_FIELD, attribute_values, holds_key, octets
from .wire import Wire

WINDOW = 48  # measured: more in flight no longer speeds up a local slapd
_EVERY_ENTRY = compile_filter("(objectClass=*)", "ldap")
_CREATE_PARENT = "create it first or fix the container"


def _describe(r: w.Result) -> str:
    name = str(RESULT_CODES.get(r.code, f"result {r.code}"))
    return f"{name}: {r.message}" if r.message else name


class Pipeline:
    """One connection's share of a batch. `dns` is the key→DN map the read (or a lookup)
    built: a change finds its entry there when it is sent, so an earlier change of the
    batch (a create, a move, a delete) is seen by the later ones."""

    def __init__(
        self, wire: Wire, dns: dict[Key, str | None], query: tuple[str, bytes] | None = None
    ) -> None:
        self.wire = wire
        self.dns = dns
        self.query = query
        """The endpoint's query (its text, compiled): an entry a create finds there already,
        its own, must match it — else no read sees it, and each run creates it again."""
        self.outcomes: dict[int, Outcome] = {}
        self.named: dict[int, dict[bytes, list[bytes]]] = {}
        """Step index → the entry that has the DN its create gave (lower-case names)."""

    def run(self, steps: list[Step]) -> None:
        """Apply the steps; on `Disconnected` the unconfirmed ones are those without an
        outcome in `self.outcomes`."""
        queue = deque(steps)
        inflight: dict[int, Step] = {}
        busy: set[Key] = set()
        messages = self.wire.receive()
        while queue or inflight:
            ops: list[bytes] = []
            started: list[Step] = []
            while queue and len(inflight) + len(ops) < WINDOW and queue[0].key not in busy:
                step = queue.popleft()
                op = self.first(step)
                if op is None:
                    continue
                ops.append(op)
                started.append(step)
                busy.add(step.key)
            if ops:
                controls = [step.controls for step in started]
                for mid, step in zip(self.wire.send_many(ops, controls), started, strict=True):
                    inflight[mid] = step
            if not inflight:
                continue
            answer = next(messages)
            if answer.op in (w.ENTRY, w.REFERENCE):  # of a step's search: its result follows
                searching = inflight.get(answer.id)
                if searching is not None and answer.op == w.ENTRY:
                    self.found(searching, w.entry(answer.body))
                continue
            answering = inflight.pop(answer.id, None)
            if answering is None:
                continue  # not ours (a late answer to an abandoned request)
            follow = self.answered(answering, w.result(answer.body))
            if follow is None:
                busy.discard(answering.key)
            else:
                inflight[self.wire.send(follow, answering.controls)] = answering

    def done(self, step: Step, error: str | None = None) -> None:
        self.outcomes[step.index] = Outcome(error=error)

    def found(self, step: Step, entry: tuple[bytes, list[tuple[bytes, list[bytes]]]]) -> None:
        """An entry a step's search found (a subclass that searches keeps it too); the
        search's result comes to `answered` after its entries."""
        if step.stage in ("taken", "in query?"):
            self.named[step.index] = {name.lower(): values for name, values in entry[1]}

    def first(self, step: Step) -> bytes | None:
        """The first request of a change, or None when its outcome is already known."""
        change, dn = step.change, self.dns.get(step.key)
        if change.action == "create":
            if dn is not None:
                return self._set(step, dn, dict(change.set), [])
            return self._add(step)
        if change.action == "disable":
            self.done(
                step,
                "ldap does not support disable (a generic directory has no "
                "standard disabled state); use delete, move or skip",
            )
            return None
        if dn is None:
            missing = change.action != "delete"
            self.done(
                step, f"no entry with key {change.key!r} to {change.action}" if missing else None
            )
            return None
        if change.action == "delete":
            step.stage, step.dn = "delete", dn
            return w.delete_request(dn.encode())
        if change.action == "move":
            return self._move(step, dn)
        return self._update(step, dn)

    def _add(self, step: Step) -> bytes | None:
        change, target = step.change, step.target
        name = target.rdn_attribute
        value = naming_value(change, name)
        if not name or value is None:
            self.done(step, f"no value for the naming attribute {name!r} to build the DN from")
            return None
        if not target.container:
            self.done(step, "no container to create the entry in; set the job's container")
            return None
        values = {name: value, **change.match, **change.set}
        classes = values.pop("objectClass", None) or list(target.object_classes)
        if not classes:
            self.done(step, "no object classes to create the entry with; set object_classes")
            return None
        step.stage, step.dn = "add", f"{rdn(name, value)},{target.container}"
        step.rest = values
        attrs = [(b"objectClass", octets(classes)), *attribute_values(values)]
        return w.add_request(step.dn.encode(), attrs)

    def add_over(self, step: Step) -> bytes | None:
        """A create whose entry is already there: its values set instead, but for its
        create-only fields (a first generated password stays)."""
        keep = {name.lower() for name in step.change.create_only}
        rest = {k: v for k, v in step.rest.items() if k.lower() not in keep}
        return self._set(step, step.dn, rest, [])

    def _set(self, step: Step, dn: str, values: dict[str, Value], clear: list[str]) -> bytes | None:
        """Replace the attributes (create on an existing entry, or update)."""
        step.stage, step.dn = "modify", dn
        mods = self._mods(step, values, clear)
        if not mods:
            self.done(step)
            return None
        return w.modify_request(dn.encode(), mods)

    def _mods(
        self,
        step: Step,
        values: dict[str, Value],
        clear: list[str],
        removing: bool = True,
        adding: bool = True,
    ) -> list[tuple[int, bytes, list[bytes]]]:
        naming = split_rdn(step.dn)[0].partition("=")[0].lower()
        if step.change.action == "create":  # the entry is named by these: leave them be
            values = {k: v for k, v in values.items() if k.lower() != naming}
        mods = [(w.MOD_REPLACE, name, vals) for name, vals in attribute_values(values)]
        emptied = [n for n, v in values.items() if not octets(v)] + clear
        mods += [
            (w.MOD_REPLACE, name.encode(), [])
            for name in emptied
            if name.lower() != DN_FIELD and not name.startswith("@")
        ]
        # Values added and removed (group members): a large group is never sent whole.
        change = step.change
        edits = [
            (w.MOD_ADD, change.add if adding else {}),
            (w.MOD_DELETE, change.remove if removing else {}),
        ]
        mods += [(op, n.encode(), octets(v)) for op, named in edits for n, v in named.items() if v]
        if change.add or change.remove:
            step.controls = w.permissive_control()
        return mods

    adds_one_by_one = False
    """Whether values to add go one by one too (a server whose permissive modify does
    not cover them); else they stay with the rest of the change."""

    def _one_by_one(self, step: Step) -> bytes:
        """slapd's permissive modify covers added values, not removed ones: a value to
        remove that is already gone (the batch delivered again) fails the whole modify.
        Then the rest of the change goes without the removals, and each value is removed
        on its own, one already gone being no error."""
        change, dn = step.change, step.dn.encode()
        adding = not self.adds_one_by_one
        rest = self._mods(step, dict(change.set), list(change.clear), False, adding)
        ops = [w.modify_request(dn, rest)] if rest else []
        for name, values in change.add.items() if not adding else ():
            ops += [w.modify_request(dn, [(w.MOD_ADD, name.encode(), [v])]) for v in octets(values)]
        for name, values in change.remove.items():
            ops += [
                w.modify_request(dn, [(w.MOD_DELETE, name.encode(), [v])]) for v in octets(values)
            ]
        step.stage, step.pending = "one-by-one", ops[1:]
        return ops[0]

    def _update(self, step: Step, dn: str) -> bytes | None:
        change = step.change
        named = new_rdn(dn, change)
        if named is not None:
            # The naming attribute changes: rename first (the server refuses to replace it).
            attribute = named.partition("=")[0]
            step.stage, step.dn = "rename", dn
            step.rest = {k: v for k, v in change.set.items() if k.lower() != attribute.lower()}
            return w.modify_dn_request(dn.encode(), named.encode(), None)
        return self._set(step, dn, dict(change.set), list(change.clear))

    def _move(self, step: Step, dn: str) -> bytes | None:
        container = step.target.container
        if not container:
            self.done(step, "no container to move the entry to; set the job's move_to")
            return None
        naming, parent = split_rdn(dn)
        if same_container(parent, container):
            self.done(step)  # already there
            return None
        step.stage, step.dn = "move", f"{naming},{container}"
        return w.modify_dn_request(dn.encode(), naming.encode(), container.encode())

    def answered(self, step: Step, r: w.Result) -> bytes | None:
        """Record the result of a step's request; the next request of the change, if any."""
        change, code = step.change, r.code
        if step.stage == "add":
            if code == w.SUCCESS:
                self.remember(step.key, step.dn)
            elif code == w.ALREADY_EXISTS:  # whose? its key and classes are asked for
                step.stage = "taken"
                names = [*step.change.match, "objectClass"]
                attributes = [name.encode() for name in names]
                return w.search_request(step.dn.encode(), w.SCOPE_BASE, _EVERY_ENTRY, attributes)
            elif code == w.NO_SUCH_OBJECT:
                self.done(step, f"parent {split_rdn(step.dn)[1]} does not exist; {_CREATE_PARENT}")
                return None
            return self._finish(step, r, "create")
        if step.stage == "taken":
            return self._after_taken(step, r)
        if step.stage == "in query?":
            return self._in_query(step, r)
        if step.stage == "rename":
            if code != w.SUCCESS:
                return self._finish(step, r, "rename")
            naming = rdn(*_naming_value(step))
            step.dn = f"{naming},{split_rdn(step.dn)[1]}"
            self.remember(step.key, step.dn)
            return self._set(step, step.dn, step.rest, list(change.clear))
        if step.stage == "delete" and code in (w.SUCCESS, w.NO_SUCH_OBJECT):
            self.remember(step.key, None)  # deleted, or already gone: delete-if-present
            self.done(step)
            return None
        if step.stage == "move" and code == w.SUCCESS:
            self.remember(step.key, step.dn)
            self.done(step)
            return None
        if step.stage == "move" and code == w.NO_SUCH_OBJECT:
            # No entry where it was (a move sent again was applied the first time), or no
            # new parent: the entry is looked for where it goes.
            step.stage = "moved?"
            return w.search_request(step.dn.encode(), w.SCOPE_BASE, _EVERY_ENTRY, [b"1.1"])
        if step.stage == "moved?":
            if code == w.SUCCESS:
                self.remember(step.key, step.dn)
                self.done(step)
                return None
            step.stage = "parent?"
            parent = split_rdn(step.dn)[1]
            return w.search_request(parent.encode(), w.SCOPE_BASE, _EVERY_ENTRY, [b"1.1"])
        if step.stage == "parent?":
            parent = split_rdn(step.dn)[1]
            if code == w.NO_SUCH_OBJECT:
                self.done(step, f"parent {parent} does not exist; {_CREATE_PARENT}")
                return None
            if code != w.SUCCESS:
                return self._finish(step, r, "move")
            self.remember(step.key, None)
            self.done(step, f"no entry with key {change.key!r} to move (removed meanwhile)")
            return None
        if code == w.NO_SUCH_ATTRIBUTE and step.stage == "modify" and change.remove:
            return self._one_by_one(step)
        if step.stage == "one-by-one" and code in (w.SUCCESS, w.NO_SUCH_ATTRIBUTE):
            if step.pending:
                return step.pending.pop(0)
            self.done(step)
            return None
        if code == w.NO_SUCH_OBJECT and step.stage == "modify":
            self.remember(step.key, None)
            self.done(step, f"no entry {step.dn} to {change.action} (removed meanwhile)")
            return None
        return self._finish(step, r, change.action)

    def _after_taken(self, step: Step, r: w.Result) -> bytes | None:
        """The entry that has the DN a create gave: the change's own object (a create sent
        again) has its values set — create-if-absent —; another object's (the naming
        attribute is not the key: two people named alike) is the create's error, and that
        entry is left as it is."""
        named = self.named.pop(step.index, {})
        classes = {c.lower() for c in named.get(b"objectclass", [])}
        sent = {**step.change.match, **step.change.set}.get("objectClass")
        kind = {c.lower() for c in octets(sent or list(step.target.object_classes))}
        if r.code != w.SUCCESS or not kind <= classes or not holds_key(step.change.match, named):
            naming = split_rdn(step.dn)[0].partition("=")[0]
            self.done(
                step,
                f"create {step.dn}: another entry already has this DN (not the key "
                f"{step.change.key!r}); give this one another {naming}",
            )
            return None
        if self.query is not None:  # is it one a read sees?
            step.stage = "in query?"
            return w.search_request(step.dn.encode(), w.SCOPE_BASE, self.query[1], [b"1.1"])
        self.remember(step.key, step.dn)
        return self.add_over(step)

    def _in_query(self, step: Step, r: w.Result) -> bytes | None:
        """The create's own entry, there already: its values set if the endpoint's query
        finds it; else it is the create's error (made out of the query by an earlier run,
        it would be created again on every run, never read, updated nor deleted)."""
        found = self.named.pop(step.index, None) is not None  # (no attribute asked for)
        if r.code != w.SUCCESS or not found:
            assert self.query is not None
            self.done(
                step,
                f"create {step.dn}: the entry is there, but out of the destination's query "
                f"{self.query[0]}, which reads no entry the job's values make: each run would "
                "create it again; make the job write what the query asks for, or widen the "
                "query",
            )
            return None
        self.remember(step.key, step.dn)
        return self.add_over(step)

    def remember(self, key: Key, dn: str | None) -> None:
        if dn is None:
            self.dns.pop(key, None)
        else:
            self.dns[key] = dn

    def _finish(self, step: Step, r: w.Result, doing: str) -> bytes | None:
        """The change's outcome from its last request: no request follows."""
        self.done(step, None if r.code == w.SUCCESS else f"{doing} {step.dn}: {_describe(r)}")
        return None


def _naming_value(step: Step) -> tuple[str, str]:
    attribute = split_rdn(step.dn)[0].partition("=")[0]
    for name, value in step.change.set.items():
        if name.lower() == attribute.lower() and isinstance(value, str):
            return attribute, value
    return attribute, ""
