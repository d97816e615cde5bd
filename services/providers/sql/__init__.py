"""What the PostgreSQL and MySQL providers share: the checks of a connection and an
endpoint (checks.py), the canonical text forms of typed values (values.py) and the
grouping of a batch's changes into set-based statements (batches.py). Each provider keeps
its own SQL, driver and column types."""
