"""Sealed passwords: only the notifier's private key opens them, each only for the run
and record it was made for; the key file is the notifier's alone."""

from __future__ import annotations

import stat
from email.headerregistry import Address
from pathlib import Path

import msgspec
import pytest
from nacl.public import PrivateKey

from core.errors import BadInput
from schemas.events import RunPasswordsSealed, SealedPassword
from schemas.jobs import Endpoint, Job, Notification, ObjectMapping
from services.common.sealing import SealedPayload, seal
from services.notifier.keys import Unopened, load_or_create, open_sealed
from services.notifier.password_mail import Opened, compose_passwords
from services.notifier.triggers import mailings

RUN, JOB = "20261121T204800Z-3f9a1c", "hr"


def sealed_for(key: PrivateKey, record: str, password: str, run: str = RUN) -> SealedPassword:
    payload = SealedPayload(run_id=run, job_id=JOB, key=record, field="pw", password=password)
    return SealedPassword(key=record, field="pw", sealed=seal(bytes(key.public_key), payload))


def event(*items: SealedPassword) -> RunPasswordsSealed:
    return RunPasswordsSealed(run_id=RUN, job_id=JOB, passwords=list(items))


def test_the_private_key_opens_what_was_sealed_to_its_public_key() -> None:
    key = PrivateKey.generate()
    item = sealed_for(key, "E1", "s3cret!")
    assert "s3cret" not in item.sealed
    assert open_sealed(key, event(item), item) == "s3cret!"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda item: msgspec.structs.replace(item, key="E2"),  # another record's name
        lambda item: msgspec.structs.replace(item, field="other"),
        lambda item: msgspec.structs.replace(item, sealed=item.sealed[:-8] + "AAAAAAA="),
        lambda item: msgspec.structs.replace(item, sealed="not base64!"),
    ],
)
def test_a_sealed_password_moved_or_altered_is_refused(tamper: object) -> None:
    key = PrivateKey.generate()
    item = tamper(sealed_for(key, "E1", "s3cret!"))  # type: ignore[operator]
    with pytest.raises(Unopened) as refused:
        open_sealed(key, event(item), item)
    assert "s3cret" not in str(refused.value)


def test_another_runs_or_another_keys_password_is_refused() -> None:
    key, other = PrivateKey.generate(), PrivateKey.generate()
    from_elsewhere = sealed_for(key, "E1", "pw", run="20261121T000000Z-aaaaaa")
    with pytest.raises(Unopened, match="another run or record"):
        open_sealed(key, event(from_elsewhere), from_elsewhere)
    for_other = sealed_for(other, "E1", "pw")
    with pytest.raises(Unopened, match="cannot be opened"):
        open_sealed(key, event(for_other), for_other)


def test_the_key_file_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "home" / "notifier.key"
    made = load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bytes(load_or_create(path)) == bytes(made)
    path.write_text("garbage")
    with pytest.raises(BadInput, match="not a notifier key"):
        load_or_create(path)


def test_passwords_never_show_in_a_repr() -> None:
    payload = SealedPayload(run_id=RUN, job_id=JOB, key="E1", field="pw", password="s3cret!")
    assert "s3cret" not in repr(payload)
    assert "s3cret" not in repr(Opened(key="E1", field="pw", password="s3cret!"))


def test_the_password_mail_goes_to_password_recipients_without_attachments() -> None:
    job = Job(
        id=JOB,
        title="HR",
        source=Endpoint(connection="a"),
        destination=Endpoint(connection="b"),
        objects=[ObjectMapping(keys=["id"])],
        notify=[
            Notification(recipients=["help@example.org"], trigger="password", attach="xlsx"),
            Notification(recipients=["ops@example.org"], trigger="always"),
        ],
    )
    sealed = event(sealed_for(PrivateKey.generate(), "E1", "s3cret!"))
    (mailing,) = mailings(job, sealed)
    assert mailing.recipients == ("help@example.org",) and mailing.attach == ()
    opened = [Opened(key="E1", field="pw", password="s3cret!")]
    sender = Address("idsync", "idsync", "example.org")
    msg = compose_passwords(job, sealed, mailing, sender, opened, ["E9 (pw): was sealed for…"])
    assert msg["Subject"] == "[idsync] HR: generated passwords"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "E1  pw  s3cret!" in text and "E9 (pw)" in text
    assert list(msg.iter_attachments()) == []
