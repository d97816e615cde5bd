"""What the PostgreSQL and MySQL providers share: the checks of a connection and an
endpoint (checks.py) and the grouping of a batch's changes into set-based statements
(batches.py). Each provider keeps its own SQL, driver and value types."""
