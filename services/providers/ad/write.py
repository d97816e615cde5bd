"""Applying changes to Active Directory: the LDAP pipeline plus what AD adds.

- create a user: the add (AD makes it disabled, no password required), then its
  password (unicodePwd, over TLS), then enable it — clearing only the disabled and
  password-not-required bits. A password the domain refuses removes the account just
  added, so the next run creates it again instead of leaving a disabled husk no run
  would ever give a password to.
- disable: set the disabled bit, keeping the others as last read; with a container
  (disable-and-move), then move the object there. enable (an account restored): clear
  the disabled and password-not-required bits, keeping the others.
- an add refused because the name is taken: the entry with that name is read (on the
  same connection). If it holds the change's key and is of the change's kind, it is
  the object the change describes — most often this very add, applied by a DC whose
  answer a broken connection lost, and sent again on a fresh connection: then the
  create goes on as if the lookup had found it (its values set, then its password
  and the enable) and is reported created; an account still as the add left it
  counts as just added (a refused password removes it). Any other entry belongs to
  someone else: an error naming the object, and that entry is left alone.
- values added to or removed from a DN-valued attribute (a group's members): Samba
  keeps such a value as a link to its object and does not apply permissive modify to
  it, refusing a member already there or one not there (or naming no object). On such
  a refusal each value goes on its own, the value already as wanted being no error:
  so a batch delivered again applies, and so does a member moved or renamed by the
  same run (the directory follows the object; the references phase, after the moves,
  then finds its new DN already there and its old one gone).
- AD's refusals are translated into sentences (values.explain).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..base import Outcome
from ..ldap import ber as w
from ..ldap.steps import Key, Step
from ..ldap.values import holds_key
from ..ldap.wire import Wire
from ..ldap.write import Pipeline
from .values import (
    EVERY_ENTRY,
    NEW_USER_UAC,
    disabled,
    enabled,
    explain,
    number,
    password_value,
    unfinished,
)

UAC_ATTRIBUTE = b"userAccountControl"


@dataclass
class Extra:
    """What a change carries besides the LDAP one."""

    password: str | None = None
    user: bool = False
    added: bool = False  # this step's add made the entry
    refused: str = ""  # why the password was refused (while the account is removed)
    taken: str = ""  # the add's refusal, while the entry with that name is read
    named: dict[bytes, list[bytes]] | None = None  # that entry (lower-case names)


def _value_as_wanted(r: w.Result) -> bool:
    """A link value refused because it is already there (an add) or not there, or names
    no object (a remove): the attribute is as the change wants it."""
    if r.code in (w.VALUE_EXISTS, w.ALREADY_EXISTS, w.UNWILLING):
        return "for target GUID" in r.message or "Unable to find GUID for DN" in r.message
    return r.code == w.NO_SUCH_ATTRIBUTE


class AdPipeline(Pipeline):
    adds_one_by_one = True

    def __init__(
        self,
        wire: Wire,
        dns: dict[Key, str | None],
        uacs: dict[str, int],
        extras: dict[int, Extra],
        passwordless: set[str] | None = None,
        query: tuple[str, bytes] | None = None,
    ) -> None:
        super().__init__(wire, dns, query)
        self.uacs = uacs  # lower-case DN → userAccountControl as last read or written
        self.extras = extras
        self.passwordless = passwordless if passwordless is not None else set()
        """Accounts read as never given a password: a restore leaves them disabled."""

    def first(self, step: Step) -> bytes | None:
        change = step.change
        if change.action in ("disable", "enable"):
            dn = self.dns.get(step.key)
            if dn is None:
                self.done(step, f"no entry with key {change.key!r} to {change.action}")
                return None
            return self._switch(step, dn)
        request = super().first(step)
        if request is None and change.action == "create":
            return self._after_create(step)  # nothing to write: the password may still be
        return request

    def answered(self, step: Step, r: w.Result) -> bytes | None:
        stage, ok = step.stage, r.code == w.SUCCESS
        extra = self.extras.get(step.index) or Extra()
        if stage == "disable":
            return self._after_disable(step) if ok else self._finish(step, r, "disable")
        if stage == "password":
            if ok:
                return self._enable(step)
            extra.refused = explain("set the password of", step.dn, r)
            if not extra.added:
                self.done(step, extra.refused)
                return None
            step.stage = "undo"
            return w.delete_request(step.dn.encode())
        if stage == "undo":
            if ok:
                self.remember(step.key, None)
                self.done(step, f"{extra.refused}; the account was not created")
            else:
                text = f"{extra.refused}; removing the account just added failed too"
                self.done(step, f"{text} ({explain('delete', step.dn, r)})")
            return None
        if stage == "enable":
            if ok:
                self.uacs[step.dn.lower()] = enabled(self.uacs.get(step.dn.lower(), NEW_USER_UAC))
            return self._finish(step, r, "enable")
        if stage == "add" and r.code == w.ALREADY_EXISTS:
            extra.taken, extra.named = explain("create", step.dn, r), None
            step.stage = "named"
            names = [*step.change.match, "objectClass", "userAccountControl", "pwdLastSet"]
            attributes = [name.encode() for name in names]
            return w.search_request(step.dn.encode(), w.SCOPE_BASE, EVERY_ENTRY, attributes)
        if stage == "named":
            return self._after_named(step, extra, r)
        if stage == "add" and ok:
            extra.added = True
        if stage == "modify" and (step.change.add or step.change.remove) and _value_as_wanted(r):
            return self._one_by_one(step)
        if stage == "one-by-one" and _value_as_wanted(r):
            r = w.Result(w.SUCCESS, r.matched, r.message)
        follow = super().answered(step, r)
        if follow is None and step.change.action == "create":
            return self._after_create(step)
        return follow

    def found(self, step: Step, entry: tuple[bytes, list[tuple[bytes, list[bytes]]]]) -> None:
        if step.stage == "named" and step.index in self.extras:
            self.extras[step.index].named = {name.lower(): values for name, values in entry[1]}
        super().found(step, entry)

    def _after_named(self, step: Step, extra: Extra, r: w.Result) -> bytes | None:
        """The entry that took the add's name: the change's own object goes on being
        created; anyone else's is the name clash the add reported."""
        named = extra.named or {}
        classes = {c.lower() for c in named.get(b"objectclass", [])}
        kind = {c.lower().encode() for c in step.target.object_classes}
        if r.code != w.SUCCESS or not kind <= classes or not holds_key(step.change.match, named):
            self.done(step, extra.taken)
            return None
        uac = number(named.get(b"useraccountcontrol"))
        if uac is not None:
            self.uacs[step.dn.lower()] = uac
        extra.added = unfinished(uac, number(named.get(b"pwdlastset")))
        if self.query is not None:  # is it one a read sees? (Pipeline._in_query)
            step.stage = "in query?"
            return w.search_request(step.dn.encode(), w.SCOPE_BASE, self.query[1], [b"1.1"])
        self.remember(step.key, step.dn)
        follow = self.add_over(step)
        return follow if follow is not None else self._after_create(step)

    def _finish(self, step: Step, r: w.Result, doing: str) -> bytes | None:
        if r.code != w.SUCCESS:
            self.done(step, explain(doing, step.dn, r))
            return None
        return super()._finish(step, r, doing)

    def _after_create(self, step: Step) -> bytes | None:
        """The password of a created user, once the entry is there."""
        extra = self.extras.get(step.index)
        if self.outcomes.get(step.index) != Outcome() or extra is None or not extra.password:
            return None
        del self.outcomes[step.index]
        step.dn = step.dn or self.dns.get(step.key) or ""
        step.stage = "password"
        value = password_value(extra.password)
        return w.modify_request(step.dn.encode(), [(w.MOD_REPLACE, b"unicodePwd", [value])])

    def _enable(self, step: Step) -> bytes | None:
        extra = self.extras.get(step.index)
        uac = self.uacs.get(step.dn.lower(), NEW_USER_UAC)
        if extra is None or not extra.user or enabled(uac) == uac:
            self.done(step)
            return None
        step.stage = "enable"
        return _set_uac(step.dn, enabled(uac))

    def _switch(self, step: Step, dn: str) -> bytes | None:
        """Disable or enable (a restored account): the two bits, the others as read."""
        uac = self.uacs.get(dn.lower())
        step.dn, action = dn, step.change.action
        if uac is None:
            self.done(
                step,
                f"{dn} has no userAccountControl: only user accounts can be {action}d "
                "(contacts and groups: use move or delete)",
            )
            return None
        wanted = disabled(uac) if action == "disable" else enabled(uac)
        if action == "enable" and dn.lower() in self.passwordless:
            # Restored as it was: disabled for want of a password (a job that sets none).
            # Enabled, its empty password would let anyone knowing its name sign in.
            wanted = uac
        if wanted == uac and action == "disable":
            return self._after_disable(step)  # already disabled: maybe still to move
        if wanted == uac:
            self.done(step)
            return None
        step.stage = action
        return _set_uac(dn, wanted)

    def _after_disable(self, step: Step) -> bytes | None:
        """Disabled; a disable-and-move (the change names a container) moves it next."""
        self.uacs[step.dn.lower()] = disabled(self.uacs.get(step.dn.lower(), NEW_USER_UAC))
        if step.target.container:
            return self._move(step, step.dn)
        self.done(step)
        return None


def _set_uac(dn: str, uac: int) -> bytes:
    # AD has no bitwise modify: the whole value is replaced, computed from the one read.
    return w.modify_request(dn.encode(), [(w.MOD_REPLACE, UAC_ATTRIBUTE, [str(uac).encode()])])
