"""The endpoint's query evaluated on the values a create writes (matching.py): decided
only where the values written decide it."""

from __future__ import annotations

import pytest

from services.providers.ldap.matching import EXACT, FOLDS, Written, attributes, decides, parsed

RULES = {"employeetype": FOLDS, "uid": FOLDS, "carlicense": EXACT}
USERS = {"employeetype", "uid", "carlicense", "description"}
WRITTEN = Written(
    {"uid": ["p1"], "employeeType": ["Staff  Member", "x*y"], "carLicense": ["AB"], "mail": []},
    ["inetOrgPerson", "person", "top"],
    rule=RULES.get,
    absent=USERS.__contains__,
)


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("(employeeType=staff member)", True),  # case and spaces, as the attribute compares
        ("(employeeType=other)", False),
        ("(employeeType=x\\2ay)", True),  # an escaped asterisk
        ("(employeeType=staff*)", True),
        ("(employeeType=*mem*er)", True),
        ("(employeeType=*boss*)", False),
        ("(carLicense=ab)", False),  # caseExactMatch
        ("(carLicense=AB)", True),
        ("(description=*)", False),  # a user attribute not written
        ("(entryUUID=*)", None),  # one the server sets
        ("(mail=a@b)", None),  # written empty, and not known to be absent
        ("(objectClass=person)", True),
        ("(objectClass=posixAccount)", None),  # the server may add a class
        ("(!(employeeType=other))", True),
        ("(!(entryUUID=*))", None),
        ("(&(objectClass=person)(employeeType=other))", False),
        ("(&(objectClass=posixAccount)(employeeType=other))", False),
        ("(&(objectClass=posixAccount)(uid=p1))", None),
        ("(|(employeeType=other)(uid=P1))", True),
        ("(|(employeeType=other)(entryUUID=*))", None),
        ("(|(employeeType=other)(description=x))", False),
        ("(employeeType>=a)", None),  # orderings, approximations: the server's
        ("(employeeType~=staf)", None),
        ("(employeeType:caseExactMatch:=x)", None),
        ("(employeeType;lang-en=staff member)", None),
    ],
)
def test_a_query_is_decided_by_the_values_written_alone(query: str, found: bool | None) -> None:
    assert decides(parsed(query), WRITTEN) is found


def test_the_attributes_a_query_names() -> None:
    tree = parsed("(&(objectClass=person)(|(employeeType=a)(!(UID=b))))")
    assert attributes(tree) == {"objectclass", "employeetype", "uid"}
