"""Which site a job's runs belong to, as the stored job and connections say now."""

from __future__ import annotations

from core.sites import site_of
from services.common.store import Store


async def job_site(store: Store, job_id: str) -> str:
    """The job's site (empty: central); a job that is gone is central — its planning
    says it is gone."""
    job = await store.find_job(job_id)
    if job is None:
        return ""
    names = {job.source.connection, job.destination.connection}
    connections = {c.id: c for c in await store.connections() if c.id in names}
    return site_of(job, connections)
