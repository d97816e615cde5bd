"""Attribute policies: what an update makes of a field the destination already holds.

Per destination field (`FieldMap.policy`), as LSC has them:

- force: the source wins. The field gets the source's value, or is cleared when the
  source has none.
- keep: the field is set only while the destination has no value; it is never
  overwritten and never cleared.
- merge: for a multi-valued field (one with a delimiter, or a list on either side), the
  union of the values: the destination's values in their order, then the source's new
  ones; nothing is removed. A single-valued field has nothing to unite, so merge acts
  as keep there. Values compare exactly (case and spaces count) — but in a field
  whose values the destination compares without case (its `value_folds`: a directory's
  attribute of caseIgnoreMatch, every text attribute of Active Directory, a column
  without case), where they compare as `alike` folds them: a value the destination
  holds in another case ("Staff" for "staff") is held already, not added beside it
  (the directory would refuse an attribute holding both).

A create writes the source's values whatever the policy. The plan holds each field's
resulting value, so providers only ever set values and need not know policies.
"""

from __future__ import annotations

from schemas.jobs import Policy
from schemas.values import Binary, Value


def alike(text: str) -> str:
    """A value as a destination comparing a field's values without case compares it:
    case folded, the spaces around and inside it made one (RFC 4518's insignificant
    spaces, as an LDAP attribute of caseIgnoreMatch compares them)."""
    return " ".join(text.split()).casefold()


def resolved(
    policy: Policy,
    old: Value | None,
    new: Value | None,
    multi_valued: bool,
    folds: bool = False,
) -> Value | None:
    """The value a field should hold after an update (None: no value).

    `old` and `new` are as `mapping.present` gives them (None for no value). Returns
    `old` itself when the policy leaves the field as it is. `folds`: the destination
    compares the field's values without case, so a merge compares them as `alike`
    folds them (the first spelling of values alike is the one kept).
    """
    if policy == "force" or old is None:
        return new
    if policy == "keep" or new is None:
        return old
    # merge
    if isinstance(old, Binary) or isinstance(new, Binary):
        return old
    if not (multi_valued or isinstance(old, list) or isinstance(new, list)):
        return old
    old_items = [old] if isinstance(old, str) else old
    new_items = [new] if isinstance(new, str) else new
    if folds:
        known = set(map(alike, old_items))
        added = []
        for item in new_items:
            if (fold := alike(item)) not in known:
                known.add(fold)
                added.append(item)
    else:
        known = set(old_items)
        added = [item for item in dict.fromkeys(new_items) if item not in known]
    return [*old_items, *added] if added else old
