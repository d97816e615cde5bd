"""The recorder: every run's story, errors and changes, projected from the journal into
SQL (SQLite under IDSYNC_HOME), and the answers to `idsync run review` and `idsync
history` (request/reply on `idsync.cmd.<principal>.history`)."""
