"""`idsync doctor` judges each stream against how the services make it: the runs' log
lines drop their oldest when full by design, which is no problem to report."""

from __future__ import annotations

import dataclasses

from nats.js.api import DiscardPolicy

from services.cli.doctor import stream_findings
from services.common.jetstream import JOURNAL, LOGS, WORK, stream_configs
from services.common.settings import Settings

CONFIGS = {str(config.name): config for config in stream_configs(Settings())}


def test_the_log_stream_as_the_services_make_it_is_healthy_even_nearly_full() -> None:
    logs = CONFIGS[LOGS]
    assert logs.discard == DiscardPolicy.OLD
    [finding] = stream_findings(logs, logs, 10, int((logs.max_bytes or 0) * 0.9))
    assert finding.ok, finding.detail
    assert finding.detail.endswith("its oldest messages go as new ones come")


def test_a_stream_that_drops_what_it_should_refuse_is_a_problem() -> None:
    work = CONFIGS[WORK]
    found_as = dataclasses.replace(work, discard=DiscardPolicy.OLD)
    first, _ = stream_findings(work, found_as, 0, 0)
    assert not first.ok
    assert first.detail == "discard=old when full, the services set discard=new: start a service"


def test_a_nearly_full_stream_names_the_setting_that_sizes_it() -> None:
    work, journal = CONFIGS[WORK], CONFIGS[JOURNAL]
    [full_work] = stream_findings(work, work, 5, int((work.max_bytes or 0) * 0.9))
    [full_journal] = stream_findings(journal, journal, 5, int((journal.max_bytes or 0) * 0.9))
    assert not full_work.ok and full_work.detail.endswith(
        "nearly full: raise IDSYNC_WORK_MAX_BYTES"
    )
    assert not full_journal.ok and "IDSYNC_JOURNAL_MAX_BYTES" in full_journal.detail
