"""Made-up people for the demo, the benchmarks and tests: deterministic for a seed."""

from __future__ import annotations

import csv
import random
from pathlib import Path

FIRST = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Katherine",
    "Tim",
    "Radia",
    "Vint",
    "Hedy",
    "Donald",
    "Sophie",
    "Élodie",
    "Zoë",
    "Jürgen",
    "Łukasz",
    "Siobhán",
    "Chloé",
    "José",
    "Mónica",
    "Ngozi",
    "Hiroshi",
    "Priya",
    "Ola",
    "Søren",
)
LAST = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Johnson",
    "Berners-Lee",
    "Perlman",
    "Cerf",
    "Lamarr",
    "Knuth",
    "Wilson",
    "Dupont",
    "O'Brien",
    "Müller",
    "Kowalski",
    "García",
    "Okafor",
    "Tanaka",
    "Sharma",
    "Nordmann",
    "Kierkegaard",
    "Smith, Jr.",
)
DEPARTMENTS = ("Engineering", "Finance", "Sales", "Support", "Legal", "Research", "People")
TITLES = ("Engineer", "Analyst", "Manager", "Director", "Specialist", "Associate")
GROUPS = ("staff", "vpn", "wiki", "payroll", "builders", "on-call", "travel")
FIELDS = ("employee_id", "first_name", "last_name", "email", "department", "title", "groups")


def person(number: int, rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    login = f"{first[0]}{last}".lower().replace(" ", "").replace("'", "").replace(",", "")
    return {
        "employee_id": f"E{number:06d}",
        "first_name": first,
        "last_name": last,
        "email": f"{login}.{number}@example.org",
        "department": rng.choice(DEPARTMENTS),
        "title": rng.choice(TITLES),
        "groups": "|".join(sorted(rng.sample(GROUPS, rng.randint(1, 3)))),
    }


def people(count: int, seed: int = 7, start: int = 1) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [person(number, rng) for number in range(start, start + count)]


def write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ";") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
