"""The four Active Directory templates idsync ships (docs/templates.md says what each
does and needs): pure data, read from the TOML below as any template file would be.

Each uses only attributes of the base Active Directory schema, which every domain (and
Samba) has; what an Exchange organization adds is in each one's `notes`."""

from __future__ import annotations

import tomllib

import msgspec

from schemas.templates import Template

_PEOPLE = "(&(objectCategory=person)(objectClass=user)(mail=*))"
_MAIL_GROUPS = "(&(objectCategory=group)(mail=*))"
GROUP_NOTE = "Mail-enabled group"
"""The notes (`info`) of a contact made for a group: what tells it from a user's."""
_USER_CONTACTS = f"(&(objectClass=contact)(!(info={GROUP_NOTE})))"
_GROUP_CONTACTS = f"(&(objectClass=contact)(info={GROUP_NOTE}))"
_USERS = '{ object_classes = ["user"], query = "(&(objectCategory=person)(objectClass=user))" }'
_PROXY = (
    '{ to = "proxyAddresses", from = "mail", transform = { format = "SMTP:{mail}" }, '
    'delimiter = "|" }'
)
_STATUS = 'status_field = "status", leaver_status = "left"'
_LEAVER = '{ field = "${status_field}", equals = "${leaver_status}", ignore_case = true }'
_MOVE_TO = (
    "\"move_to: an OU inside the destination's container, so that a returning account is "
    'found there"'
)

_TEMPLATES = f'''
[[templates]]
id = "ad-move-objects"
title = "Move objects in AD"
description = """Accounts the source lists are moved to the OU their ${{ou_field}} names
(when it names one); accounts of the destination's scope that the source no longer lists
are moved to ${{move_to}}, and one listed again is moved back (to its OU, else to
${{container}}). Nothing is created, changed or disabled."""
parameters = {{ move_to = "", container = "", source_key = "sAMAccountName", ou_field = "ou" }}
notes = {_MOVE_TO}

[templates.job]
id = "ad-move-objects"
source = {{ connection = "" }}
destination = {{ connection = "" }}

[[templates.job.objects]]
type = "user"
keys = ["sAMAccountName"]
case_insensitive = true
on_source_only = "skip"
on_both = "update"
on_destination_only = "move"
container_from = "${{ou_field}}"
move_to = "${{move_to}}"
container = "${{container}}"
restore = true
destination = {_USERS}
fields = [{{ to = "sAMAccountName", from = "${{source_key}}", create_only = true }}]

[[templates]]
id = "ad-move-and-disable-objects"
title = "Move and disable objects in AD"
description = """Accounts of the destination's scope that the source no longer lists, or
whose ${{status_field}} says ${{leaver_status}} (any case), are disabled and moved to
${{move_to}} (userAccountControl's other bits kept); one listed again, or no longer marked
as a leaver, is enabled and moved back to ${{container}}."""
parameters = {{ move_to = "", container = "", source_key = "sAMAccountName", {_STATUS} }}
notes = {_MOVE_TO}

[templates.job]
id = "ad-move-and-disable-objects"
source = {{ connection = "" }}
destination = {{ connection = "" }}

[[templates.job.objects]]
type = "user"
keys = ["sAMAccountName"]
case_insensitive = true
on_source_only = "skip"
on_both = "skip"
on_destination_only = "disable"
move_to = "${{move_to}}"
container = "${{container}}"
restore = true
destination = {_USERS}
fields = [{{ to = "sAMAccountName", from = "${{source_key}}" }}]
leavers = {{ action = "disable", when = {_LEAVER} }}

[[templates]]
id = "ad-sync-gal"
title = "Sync GAL in AD"
description = """The mail-enabled users and groups of a source domain (another forest)
become mail contacts in the destination, so its address list shows them: created, kept up
to date, and deleted when the user or group goes."""
notes = """with the Exchange schema in the destination, add targetAddress (format "SMTP:{{mail}}"),
mailNickname (from sAMAccountName) and, to hide some, msExchHideFromAddressLists"""

[templates.job]
id = "ad-sync-gal"
source = {{ connection = "" }}
destination = {{ connection = "" }}

[[templates.job.objects]]
type = "contact"
keys = ["mail"]
case_insensitive = true
on_destination_only = "delete"
source = {{ query = "{_PEOPLE}" }}
destination = {{ object_classes = ["contact"], query = "{_USER_CONTACTS}" }}
fields = [
  {{ to = "mail" }},
  {{ to = "cn", from = "displayName" }},
  {{ to = "displayName" }},
  {{ to = "givenName" }},
  {{ to = "sn" }},
  {{ to = "company" }},
  {{ to = "department" }},
  {{ to = "title" }},
  {{ to = "telephoneNumber" }},
  {_PROXY},
]

[[templates.job.objects]]
type = "group-contact"
keys = ["mail"]
case_insensitive = true
on_destination_only = "delete"
source = {{ query = "{_MAIL_GROUPS}" }}
destination = {{ object_classes = ["contact"], query = "{_GROUP_CONTACTS}" }}
fields = [
  {{ to = "mail" }},
  {{ to = "cn", from = "displayName", transform = {{ default = ["cn"] }} }},
  {{ to = "displayName", transform = {{ default = ["cn"] }} }},
  {_PROXY},
  {{ to = "info", transform = {{ static = "{GROUP_NOTE}" }} }},
]

[[templates]]
id = "ad-linked-mailbox"
title = "Linked mailbox creation in AD"
description = """For each mail-enabled user of the account forest (the source), a disabled
user in the resource forest (the destination) that its linked mailbox belongs to: no
password, never enabled, holding its master account's SID in ${{master_sid_attribute}}
(as text) and, where the destination's schema has Exchange's msExchMasterAccountSid, in
it (binary), its names and addresses kept up to date. Its login is ${{login}} (the master's own by
default; a format of the source's fields, such as "r-{{sAMAccountName}}")."""
parameters = {{ master_sid_attribute = "info", login = "{{sAMAccountName}}" }}
notes = """Exchange links the mailbox through msExchMasterAccountSid (binary, Exchange
schema), written where the destination's schema has it; without that schema, run
Set-Mailbox -LinkedMasterAccount with the SID kept in master_sid_attribute"""

[templates.job]
id = "ad-linked-mailbox"
source = {{ connection = "" }}
destination = {{ connection = "" }}

[[templates.job.objects]]
type = "user"
keys = ["sAMAccountName"]
case_insensitive = true
on_source_only = "create"
on_both = "update"
on_destination_only = "skip"
source = {{ query = "{_PEOPLE}" }}
destination = {_USERS}
fields = [
  {{ to = "sAMAccountName", transform = {{ format = "${{login}}" }} }},
  {{ to = "cn", from = "displayName" }},
  {{ to = "displayName" }},
  {{ to = "givenName" }},
  {{ to = "sn" }},
  {{ to = "mail" }},
  {_PROXY},
  {{ to = "${{master_sid_attribute}}", from = "objectSid", create_only = true }},
  {{ to = "msExchMasterAccountSid", from = "objectSid", create_only = true }},
]
'''

BUILTIN: tuple[Template, ...] = tuple(
    msgspec.structs.replace(template, builtin=True)
    for template in msgspec.convert(tomllib.loads(_TEMPLATES)["templates"], list[Template])
)
"""Ad move objects, move and disable, sync GAL, linked mailbox creation."""


def builtin(template_id: str) -> Template | None:
    return next((t for t in BUILTIN if t.id == template_id), None)
