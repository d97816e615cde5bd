"""idsync's services: scheduler, workflow, runner, notifier, and the `idsync` command."""
