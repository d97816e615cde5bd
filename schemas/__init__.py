"""idsync's contract: connections, jobs, plans, events, commands and subjects."""
