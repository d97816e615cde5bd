"""Generated passwords, made when a create is applied — never before.

A plan holds no password: the job's mapping says which destination fields are
generated, and the runner that applies a create makes their values right then, with
`secrets`, for the provider alone. No event, log, plan or report carries them in
clear: when the job mails passwords, each is sealed to the notifier's public key and
only the notifier can open it (`run.passwords-sealed`).
"""

from __future__ import annotations

import msgspec

from core.engine.passwords import Passwords, PasswordSpec
from core.engine.transforms_base import RecordFailed
from schemas.events import SealedPassword
from schemas.plan import Change
from services.common.sealing import SealedPayload, seal

# One generator per run (a "one for all" password is shared within this runner process).
_runs: dict[str, Passwords] = {}
KEPT_RUNS = 16


def passwords_of(run_id: str) -> Passwords:
    if run_id not in _runs:
        while len(_runs) >= KEPT_RUNS:
            _runs.pop(next(iter(_runs)))
        _runs[run_id] = Passwords()
    return _runs[run_id]


def with_passwords(
    changes: list[Change], by_type: dict[str, dict[str, PasswordSpec]], passwords: Passwords
) -> tuple[list[Change], dict[int, str]]:
    """The changes with each create's generated fields (those of its object type, in
    `by_type`) filled in, and the positions of the creates that could not get one (why,
    without the password)."""
    ready: list[Change] = []
    failed: dict[int, str] = {}
    for position, change in enumerate(changes):
        generated = by_type.get(change.object_type)
        if change.action != "create" or not generated:
            ready.append(change)
            continue
        try:
            made = {
                name: passwords.make(name, spec, change.set) for name, spec in generated.items()
            }
        except RecordFailed as error:
            failed[position] = str(error)
            continue
        # create_only: applied again (a redelivered batch), the first password stays.
        ready.append(
            msgspec.structs.replace(
                change, set={**change.set, **made}, create_only=(*change.create_only, *made)
            )
        )
    return ready, failed


def sealed_passwords(
    run_id: str,
    job_id: str,
    changes: list[Change],
    ready: list[Change],
    errors: list[str | None],
    by_type: dict[str, dict[str, PasswordSpec]],
    public_key: bytes,
    recipient_field: str | None = None,
) -> list[SealedPassword]:
    """Each password a create was applied with, sealed to the notifier's key: the only
    copy that leaves this runner (`changes` and `errors` align; `ready` holds the creates
    as applied, with their passwords, in the same order minus refused ones)."""
    applied = {(change.object_type, change.key): change for change in ready}
    sealed = []
    for change, error in zip(changes, errors, strict=True):
        generated = by_type.get(change.object_type)
        if change.action != "create" or not generated or error is not None:
            continue
        made = applied[(change.object_type, change.key)]
        for field in generated:
            payload = SealedPayload(
                run_id=run_id,
                job_id=job_id,
                key=change.key,
                field=field,
                password=str(made.set[field]),
            )
            to = made.set.get(recipient_field) if recipient_field else None
            sealed.append(
                SealedPassword(
                    key=change.key,
                    field=field,
                    sealed=seal(public_key, payload),
                    to=to if isinstance(to, str) and to else None,
                )
            )
    return sealed
