"""The `idsync` command: noun then verb (`idsync job run JOB`)."""
