"""Graph's refusals as sentences: what was being done to which object, what to do about
it, and Graph's own code and message (learn.microsoft.com/graph/errors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    """One answer from Graph: of a request, or of one request of a $batch."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def code(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return str(error.get("code") or "") if isinstance(error, dict) else ""

    @property
    def message(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        text = error.get("message") if isinstance(error, dict) else None
        return str(text or "").strip() or f"HTTP {self.status}"

    @property
    def said(self) -> str:
        """Graph's own words: "(403 Authorization_RequestDenied: Insufficient …)"."""
        code = f" {self.code}" if self.code else ""
        return f"({self.status}{code}: {self.message})"


WRITE_PERMISSION = {"user": "User.ReadWrite.All", "group": "Group.ReadWrite.All"}
READ_PERMISSION = {"user": "User.Read.All", "group": "GroupMember.Read.All (or Group.Read.All)"}


def why(answer: Answer, kind: str, *, writing: bool = True) -> str:
    """What to do about a refusal, and Graph's words."""
    message = answer.message.lower()
    if answer.status == 403 or answer.code == "Authorization_RequestDenied":
        wanted = (WRITE_PERMISSION if writing else READ_PERMISSION)[kind]
        return (
            f"the app may not do this: grant it the application permission {wanted} "
            f"(with an administrator's consent) {answer.said}"
        )
    if "domain portion of the userprincipalname" in message:
        return (
            "userPrincipalName is not in one of the tenant's verified domains: use a verified "
            f"domain, or verify this one in the tenant {answer.said}"
        )
    if "same value for property" in message or "objectconflict" in message:
        return f"another object already has this value {answer.said}"
    if "password complexity" in message:
        return f"the password does not meet the tenant's password policy {answer.said}"
    if answer.status == 429:
        return f"Graph kept throttling this request; it was tried again and given up {answer.said}"
    if answer.status in (401,):
        return f"Graph refused the app's token {answer.said}"
    if answer.status == 404:
        return f"not found in the tenant {answer.said}"
    if answer.status >= 500:
        return f"Graph failed on its side {answer.said}"
    if answer.status == 400:
        return f"Graph refused a value {answer.said}"
    return f"Graph refused it {answer.said}"
