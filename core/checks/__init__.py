"""Every rule that decides whether a job or a connection is valid: pure, so the CLI, the
workflow and the tests ask the same questions and get the same answers.

`job.py` (check_job) gathers them: `objects.py` (several object types, references),
`destination.py` (what the destination can do and requires), `scopes.py` (source
filters, leavers), `incremental.py` (changes, lifecycles), `addresses.py` (mail
recipients), `intervals.py`, `schedules.py` (each schedule reads, each its own name);
`collections.py` checks a collection; `connections.py` runs each provider's connection checks;
`ownership.py` and `approval.py` say who may change a job. What a provider is comes in
as data (`facts.py`: ProviderFacts), never by importing one.
"""
