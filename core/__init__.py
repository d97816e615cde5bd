"""idsync's core: what a run decides, as functions of data.

The rule: the core is pure. It imports `schemas` and `core` only — no asyncio, no NATS,
no files, no environment. The services read and write the world, hand the core data and
carry out what it decides. tests/unit/test_house.py holds every package to its imports.
"""
