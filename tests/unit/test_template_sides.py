"""`idsync template use --source-set/--destination-set`: a wrong setting is refused as in
a job file — the setting, what was expected, a near name — not in the decoder's words."""

from __future__ import annotations

import pytest

from core.errors import BadInput
from services.cli.template import _endpoint


def refused(settings: list[str], option: str) -> str:
    with pytest.raises(BadInput) as caught:
        _endpoint("hr", settings, option)
    return str(caught.value)


def test_a_misspelt_setting_is_named_with_the_near_one() -> None:
    said = refused(["fil=hr.csv"], "--source-set")
    assert said == '--source-set fil: unknown field "fil" (did you mean "file"?)'


def test_a_value_of_the_wrong_kind_says_what_was_expected() -> None:
    said = refused(["object_classes=inetOrgPerson"], "--destination-set")
    assert said == (
        '--destination-set object_classes: expected a list of strings, got "inetOrgPerson"'
    )


def test_good_settings_make_the_side() -> None:
    side = _endpoint("hr", ["file=hr.csv"], "--source-set")
    assert (side.connection, side.file) == ("hr", "hr.csv")


def test_saving_a_collection_says_what_a_collection_template_keeps() -> None:
    from services.cli.template import saved_line

    said = saved_line("nightly-shape", "nightly", collection=True, existed=False)
    assert said == (
        "saved template nightly-shape from collection nightly (its jobs in order, each "
        "one's on_failure, its schedules and mail)"
    )
    assert "source and destination" not in said
    assert saved_line("hr-shape", "hr", collection=False, existed=True) == (
        "updated template hr-shape from job hr (everything but its source and destination)"
    )
