"""The `idsync` command: noun then verb, help that teaches, documented exit codes.

Long for a reason: the whole command tree and its help texts, in one place to read; each
command's work is in the module named after its noun."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from core.errors import IdsyncError
from schemas.connections import PROVIDERS
from services.common.service_names import ENDPOINTS, SERVICES

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
QuickCommand = Callable[[argparse.Namespace], int | None]


class Handler:
    """A command's handler named by "module:function", imported when the command runs:
    building the parser (and `--help`) loads no command's module, nor NATS, the planner
    or the providers they need. A `quick` one, named the same way, is tried first: a
    synchronous function that does the command without asyncio, or returns None where
    it cannot (`idsync job run`, services/cli/job_quick.py)."""

    def __init__(self, reference: str, quick: str | None = None) -> None:
        self.reference = reference
        self.quick = quick

    def resolve(self) -> Command:
        handler: Command = _imported(self.reference)
        return handler

    def resolve_quick(self) -> QuickCommand | None:
        if self.quick is None:
            return None
        quick: QuickCommand = _imported(self.quick)
        return quick

    def __call__(self, args: argparse.Namespace) -> Coroutine[Any, Any, int]:
        return self.resolve()(args)


def _imported(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


DESCRIPTION = """\
idsync synchronizes identity data (users, groups, contacts) between directories,
databases and files. A job says what moves where; runs do the work in the
background; the services talk over NATS.

First steps:
  idsync demo                              the whole product on made-up data
  idsync up                                NATS and every service, in the foreground
  idsync connection apply connections.toml where the data lives
  idsync job apply jobs/hr.toml            what moves where
  idsync job preview hr                    what a run would change (writes nothing)
  idsync job run hr --wait                 run it now and follow it to its end
  idsync run list                          what ran, and how it ended
"""

EPILOG = """\
environment:
  IDSYNC_HOME       the embedded server's store and URL file; when unset, the first
                    .idsync folder in the current folder or above it, else the
                    per-user ~/.local/state/idsync ($XDG_STATE_HOME/idsync)
  IDSYNC_NATS_URL   a NATS server to use instead (nats://host:4222)
  IDSYNC_PRINCIPAL  who commands act as (default: your user name)
  IDSYNC_NATS_CREDENTIALS  a file with your NATS user and password (default: the one
                    `idsync up` wrote for you under IDSYNC_HOME/credentials)

exit codes:
  0 ok   1 unexpected error   2 bad input (a file, an argument, an unknown name)
  3 a server could not be reached   4 the run failed   5 the run finished with errors
  6 `idsync doctor` found problems   7 the run waits: for approval (it wrote nothing),
    or on a dead letter (`idsync deadletter list`)
  141 the output's reader stopped reading (`| head`)
"""


SCHEDULE_EXAMPLES = """\
in a job file (several schedules: [[schedules]] tables, each with a name):
  schedule = { every = "15m" }
  schedule = { daily = ["06:00", "18:30"], zone = "Europe/Paris" }
  schedule = { weekly = ["mon", "thu"], at = "07:00", zone = "America/New_York" }
  schedule = { monthly = "last", at = "23:00" }
  schedule = { cron = "30 2 * * 1-5", zone = "Europe/Berlin" }
  schedule = { once = "2026-12-24T18:00", zone = "Europe/Paris" }
"""


TEMPLATE_EXAMPLES = """\
examples:
  idsync template list
  idsync template use ad-move-and-disable-objects leavers \\
      --source hr-files --source-set file=staff.csv \\
      --destination corp --destination-set "container=OU=Staff,DC=corp,DC=example,DC=org" \\
      --set "move_to=OU=Leavers,OU=Staff,DC=corp,DC=example,DC=org" \\
      --set "container=OU=Staff,DC=corp,DC=example,DC=org"
  idsync template save hr-to-ldap hr-template
  idsync template use hr-template hr-to-test-ldap --source hr-files --source-set file=hr.csv \\
      --destination test-ldap --destination-set "container=ou=people,dc=test,dc=org"
"""


PREVIEW_EXAMPLES = """\
examples:
  idsync job preview hr-to-sqlite                    the counts, then the first 20 changes
  idsync job preview hr-to-sqlite --sample 5         five source records, each mapped field
  idsync job preview hr-to-sqlite --key 1042         the plan for one object (repeatable)
  idsync job preview hr-to-sqlite --export plan.xlsx every change, one row per field

The plan is the one a run would apply now (same hash); a plan over the job's safety
limits says so, since its run writes nothing until it is approved. Records a
transformation cannot handle are listed as failed; warnings say what was left alone.
"""

CONNECTION_ADD_EXAMPLES = """\
examples:
  idsync connection add hr-files --provider csv --set directory=data --set "delimiter=;"
  idsync connection add people-db --provider sqlite --set path=data/people.sqlite
  idsync connection add hr-books --provider excel --set directory=data
  idsync connection add corp --provider ldap --set 'urls=["ldap://ldap.example.org"]' \\
      --set tls=starttls --set bind_dn=cn=idsync,dc=example,dc=org \\
      --set 'password={ env = "LDAP_PASSWORD" }'
  idsync connection add okta --provider scim --set url=https://example.okta.com/scim/v2 \\
      --set 'token={ env = "OKTA_SCIM_TOKEN" }'
  idsync connection add crm --provider plugin --set factory=acme_idsync.crm:CrmProvider

Relative paths are taken from the current folder. README.md and docs/providers/ list
each provider's settings.
"""


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: str,
    help: str,
    quick: str | None = None,
    **kwargs: object,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help, **kwargs)  # type: ignore[arg-type]
    parser.set_defaults(handler=Handler(handler, quick))
    return parser


def _connection(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    connections = sub.add_parser("connection", help="where the data lives").add_subparsers(
        dest="verb", required=True, metavar="VERB"
    )
    p = _command(
        connections,
        "apply",
        "services.cli.connection:connection_apply",
        "add or update the connections of a TOML file (each table is one connection)",
    )
    p.add_argument("file", help="e.g. connections.toml")
    _json(p)
    p = _command(
        connections,
        "add",
        "services.cli.connection:connection_add",
        "add or replace one connection; its settings are those of a connections file",
        epilog=CONNECTION_ADD_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("id", metavar="ID", help="the connection's id, e.g. hr-files")
    p.add_argument(
        "--provider",
        required=True,
        choices=PROVIDERS,
        metavar="PROVIDER",
        help=f"where the data is: {', '.join(PROVIDERS[:-1])} or {PROVIDERS[-1]}",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="a setting (repeatable); a value starting with [ or { is a TOML list or table",
    )
    _json(
        _command(
            connections, "list", "services.cli.connection:connection_list", "list the connections"
        )
    )
    p = _command(
        connections,
        "test",
        "services.cli.connection:connection_test",
        "check that a connection is reachable, and writable where a job writes to it",
        epilog="Logs in and reads nothing. For each job that writes to the connection, "
        "it checks what a run checks before planning: a PostgreSQL or MySQL login's "
        "rights on each table the job writes (or to create it), naming the GRANT a "
        "login lacks; a directory's or a file's writability. Saying what is wrong, it "
        "exits 3 when the connection cannot be reached, 4 when a job could not write "
        "there.",
    )
    p.add_argument("id", help="the connection's id, as `idsync connection list` shows it")
    _json(p)


def _job(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jobs = sub.add_parser("job", help="what moves where").add_subparsers(
        dest="verb", required=True, metavar="VERB"
    )
    p = _command(
        jobs,
        "apply",
        "services.cli.job:job_apply",
        "add or update a job from its TOML file (or JSON, as `job show --json` prints)",
    )
    p.add_argument("file", help="e.g. jobs/hr-to-directory.toml")
    _json(p)
    p = _command(
        jobs,
        "list",
        "services.cli.job:job_list",
        "list the jobs: enabled or not, their schedules, next run, last run, times run",
    )
    p.add_argument("--name", help="part of the id or title (case ignored), or a pattern: 'hr-*'")
    p.add_argument("--source", metavar="CONNECTION", help="only jobs reading this connection")
    p.add_argument("--destination", metavar="CONNECTION", help="only jobs writing to it")
    p.add_argument("--owner", metavar="PRINCIPAL", help="only jobs this principal owns")
    p.add_argument(
        "--refused",
        action="store_true",
        help="only the jobs their owners' roles' policies refuse now, with the rules they break",
    )
    p.add_argument("--state", choices=["enabled", "disabled"], help="only enabled or disabled jobs")
    p.add_argument(
        "--outcome",
        metavar="STATE",
        help="only jobs whose last run ended so: finished, 'finished with errors', failed, "
        "cancelled, denied, expired, running, … or never",
    )
    p.add_argument(
        "--sort",
        choices=["id", "last-run", "times-run"],
        default="id",
        help="by id (default), latest run first, or most runs first",
    )
    _json(p)
    p = _command(jobs, "show", "services.cli.job:job_show", "show one job as stored")
    p.add_argument("id")
    _json(p)
    p = _command(
        jobs,
        "run",
        "services.cli.job:job_run",
        "request a run now; prints the run id",
        quick="services.cli.job_quick:job_run_quick",
        epilog="With --wait: a progress bar, then the run's statistics and its first failed "
        "records (exit 5 when some failed). A run that waits for the approval of its job's "
        "approvers, or whose plan is over the job's safety limits, says so and exits 7.",
    )
    p.add_argument("id", help="the job's id (`idsync job list`)")
    p.add_argument(
        "--wait",
        action="store_true",
        help="follow the run to its end: its statistics, and the first failed records and why",
    )
    p.add_argument(
        "--key",
        action="append",
        metavar="VALUE",
        help=(
            "only the object with this key value (repeatable; keyed on several fields: "
            'the whole key as shown, "E1 / Sales", or its first part for every object '
            "it begins); never deletes"
        ),
    )
    p.add_argument(
        "--changed-only",
        action="store_true",
        help="only the source records changed since the last run (the job's `changes`); "
        "never deletes",
    )
    _json(p)
    p = _command(
        jobs,
        "diff",
        "services.cli.job_diff:job_diff",
        "what applying a changed job file would change: its field map's differences and "
        "the plan's, on today's data; writes nothing",
    )
    p.add_argument("id")
    p.add_argument("file", help="the job's changed TOML file")
    p.add_argument("--limit", type=int, default=50, help="changes to print (default 50)")
    _json(p)
    p = _command(
        jobs,
        "preview",
        "services.cli.job:job_preview",
        "compute the whole plan and show it; writes nothing",
        epilog=PREVIEW_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("id", help="the job's id (`idsync job list`)")
    p.add_argument(
        "--key",
        action="append",
        metavar="VALUE",
        help="only the object with this key value (repeatable), as `job run --key` plans it",
    )
    p.add_argument(
        "--changed-only",
        action="store_true",
        help="plan as `job run --changed-only` would: only what changed since the last run",
    )
    p.add_argument("--limit", type=int, default=20, help="changes to show (default 20)")
    p.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="instead of the plan, show N source records and what each mapped field becomes",
    )
    p.add_argument(
        "--export",
        metavar="FILE",
        help="also write every change, one row per field, to FILE (.csv, .xlsx or .json)",
    )
    p.add_argument(
        "--format", choices=["csv", "xlsx", "json"], help="the export's format (default: FILE's)"
    )
    _json(p)
    p = _command(jobs, "delete", "services.cli.job:job_delete", "delete a job (its runs stay)")
    p.add_argument("id")
    p.add_argument(
        "--forget-history",
        action="store_true",
        help="also remove its runs from the journal, their states, its watermark and absences",
    )
    p = _command(
        jobs,
        "duplicate",
        "services.cli.job_manage:job_duplicate",
        "copy a job under a new id; the copy starts disabled",
    )
    p.add_argument("id")
    p.add_argument("new_id", metavar="NEW_ID")
    p.add_argument("--title", help="the copy's title (default: the job's, with \"(copy)\")")
    p = _command(
        jobs,
        "rename",
        "services.cli.job_manage:job_rename",
        "give a job a new title; its id never changes",
    )
    p.add_argument("id")
    p.add_argument("title")
    p = _command(
        jobs,
        "export",
        "services.cli.job_manage:job_export",
        "write jobs and the connections they use to a folder: connections.toml, jobs/ID.toml",
        epilog="Secrets are never written: connections hold references to them "
        '({ env = "VAR" } or { file = "path" }), and those are what is exported.',
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="the jobs (default: every job)")
    p.add_argument("--to", required=True, metavar="FOLDER", help="where the files go")
    p.add_argument("--format", choices=["toml", "json"], default="toml")
    p = _command(
        jobs,
        "import",
        "services.cli.job_manage:job_import",
        "apply a folder `job export` wrote (connections, then jobs), or one job file",
    )
    p.add_argument("path", metavar="FOLDER|FILE")
    for verb, text in (
        ("enable", "let a job run again: on request and on its schedules"),
        ("disable", "stop a job: no run on request nor on its schedules"),
    ):
        p = _command(jobs, verb, f"services.cli.schedule:job_{verb}", text)
        p.add_argument("id")
    for verb, text in (
        ("pin", "list a job first (`job list`)"),
        ("unpin", "list a pinned job among the others again"),
    ):
        p = _command(jobs, verb, f"services.cli.job_manage:job_{verb}", text)
        p.add_argument("id")


def _schedule(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schedules = sub.add_parser(
        "schedule",
        help="when jobs run on their own",
        epilog=SCHEDULE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_subparsers(dest="verb", required=True, metavar="VERB")
    p = _command(
        schedules,
        "list",
        "services.cli.schedule:schedule_list",
        "every schedule of every job: its next fire time (in its zone) and its last",
    )
    p.add_argument("--job", help="only this job's schedules")
    _json(p)
    for verb, text in (
        ("enable", "let one schedule of a job fire again"),
        ("disable", "stop one schedule of a job; its other schedules still fire"),
    ):
        p = _command(schedules, verb, f"services.cli.schedule:schedule_{verb}", text)
        p.add_argument("job")
        p.add_argument("name", help="the schedule's name (`idsync schedule list` shows them)")


def _collection(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    collections = sub.add_parser(
        "collection", help="jobs run one after the other, as one"
    ).add_subparsers(dest="verb", required=True, metavar="VERB")
    p = _command(
        collections,
        "apply",
        "services.cli.collection:collection_apply",
        "add or update a collection from its TOML (or JSON) file",
    )
    p.add_argument("file", help="e.g. collections/nightly.toml")
    _json(
        _command(
            collections,
            "list",
            "services.cli.collection:collection_list",
            "the collections: their jobs, schedules, next and last run",
        )
    )
    p = _command(
        collections,
        "show",
        "services.cli.collection:collection_show",
        "one collection and its recent runs, each with every job's run",
    )
    p.add_argument("id")
    p.add_argument("--runs", type=int, default=10, help="recent runs to show (default 10)")
    _json(p)
    p = _command(
        collections,
        "run",
        "services.cli.collection:collection_run",
        "run the collection's jobs one after the other; prints the collection run's id",
        epilog="With --wait: each job's outcome as it comes, then the run; exit 4 unless "
        "every job finished.",
    )
    p.add_argument("id")
    p.add_argument("--wait", action="store_true", help="follow the collection run to its end")
    _json(p)
    p = _command(
        collections,
        "preview",
        "services.cli.collection:collection_preview",
        "each job's plan, in order; writes nothing",
    )
    p.add_argument("id")
    _json(p)
    p = _command(
        collections,
        "cancel",
        "services.cli.collection:collection_cancel",
        "stop a collection run: its running job is cancelled, the others do not start",
    )
    p.add_argument("run", metavar="RUN")
    p = _command(
        collections,
        "delete",
        "services.cli.collection:collection_delete",
        "delete a collection (its jobs stay)",
    )
    p.add_argument("id")
    for verb, text in (
        ("pin", "list a collection first (`collection list`)"),
        ("unpin", "list a pinned collection among the others again"),
    ):
        p = _command(collections, verb, f"services.cli.collection:collection_{verb}", text)
        p.add_argument("id")


def _template(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    templates = sub.add_parser(
        "template",
        help="jobs and collections kept to make others from",
        epilog=TEMPLATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_subparsers(dest="verb", required=True, metavar="VERB")
    p = _command(
        templates,
        "save",
        "services.cli.template:template_save",
        "keep a job (everything but its source and destination) or a collection as a template",
    )
    p.add_argument("id", help="the job (or, with --collection, the collection)")
    p.add_argument("template", metavar="TEMPLATE", help="the template's id")
    p.add_argument("--collection", action="store_true", help="ID is a collection")
    p.add_argument("--title", default="", help="the template's title (default: the job's)")
    _json(
        _command(
            templates,
            "list",
            "services.cli.template:template_list",
            "the templates: those idsync ships (Active Directory) and those saved",
        )
    )
    p = _command(templates, "show", "services.cli.template:template_show", "one template")
    p.add_argument("id")
    _json(p)
    p = _command(
        templates, "delete", "services.cli.template:template_delete", "delete a saved template"
    )
    p.add_argument("id")
    p = _command(
        templates,
        "use",
        "services.cli.template:template_use",
        "make a job from a template and a source and destination (or a collection)",
    )
    p.add_argument("template", metavar="TEMPLATE")
    p.add_argument("id", help="the new job's (or collection's) id")
    p.add_argument("--source", metavar="CONNECTION")
    p.add_argument("--destination", metavar="CONNECTION")
    p.add_argument("--source-set", action="append", metavar="NAME=VALUE", help="the source's scope")
    p.add_argument(
        "--destination-set", action="append", metavar="NAME=VALUE", help="the destination's scope"
    )
    p.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="a template parameter's value"
    )
    p.add_argument("--title", help="the new job's title (default: the template's)")


def _run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = sub.add_parser("run", help="runs and their outcomes").add_subparsers(
        dest="verb", required=True, metavar="VERB"
    )
    p = _command(
        runs, "list", "services.cli.run:run_list", "list the latest runs, from the journal"
    )
    p.add_argument("--job", help="only this job's runs")
    p.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    _json(p)
    p = _command(
        runs, "show", "services.cli.run:run_show", "one run: who, plan, statistics, errors"
    )
    p.add_argument("run_id", metavar="RUN", help="a run id, as `idsync run list` shows it")
    p.add_argument(
        "--errors",
        type=int,
        default=50,
        metavar="N",
        help="record errors to print (default 50; --json lists them all)",
    )
    _json(p)
    p = _command(
        runs,
        "approvals",
        "services.cli.run:run_approvals",
        "the runs waiting for your approval: who asked, why, the plan's summary",
    )
    p.add_argument("--all", action="store_true", help="every waiting run, not only yours")
    _json(p)
    for verb, text in (
        (
            "approve",
            "let a run that waits for approval go ahead: a request its job's approvers "
            "must approve (never its requester), or a plan over the safety limits (it "
            "re-plans first: if the data changed, it asks again)",
        ),
        ("deny", "end a run that waits for approval, writing nothing (its requester may too)"),
    ):
        p = _command(runs, verb, "services.cli.run:run_decide", text)
        p.add_argument("run_id", metavar="RUN")
        p.add_argument("--reason", help="why (kept in the journal)")
        if verb == "approve":
            p.add_argument(
                "--plan",
                metavar="HASH",
                help="approve only this plan (its hash as `run approvals` shows it): refused "
                "if the run now waits with another, the data having changed",
            )
    p = _command(
        runs,
        "cancel",
        "services.cli.run:run_cancel",
        "cancel a run: no new batch starts once this returns; one being applied "
        "completes, and the run ends cancelled with what it applied",
    )
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--reason", help="why (kept in the journal)")
    _review(runs)


def _whoami(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _json(
        _command(
            sub,
            "whoami",
            "services.cli.role:whoami",
            "who the server takes you for, your roles and what they let you do",
        )
    )


def _runner(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runner_noun = sub.add_parser("runner", help="the runners and what they work on")
    verbs = runner_noun.add_subparsers(dest="verb", required=True, metavar="VERB")
    _json(
        _command(
            verbs,
            "list",
            "services.cli.runner:runner_list",
            "list the runners: heartbeat, current work, and which went silent",
        )
    )


def _deadletter(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dead = sub.add_parser("deadletter", help="messages given up on after their last delivery")
    letters = dead.add_subparsers(dest="verb", required=True, metavar="VERB")
    _json(
        _command(
            letters, "list", "services.cli.deadletter:deadletter_list", "list the dead letters"
        )
    )
    p = _command(
        letters,
        "retry",
        "services.cli.deadletter:deadletter_act",
        "deliver a dead letter again (after fixing what made it fail)",
    )
    p.add_argument("seq", metavar="SEQ|all", help="its number in `idsync deadletter list`")
    p = _command(
        letters,
        "drop",
        "services.cli.deadletter:deadletter_act",
        "abandon a dead letter: a batch's changes count as failed, the run goes on",
    )
    p.add_argument("seq", metavar="SEQ")


def _review(runs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        runs,
        "review",
        "services.cli.review:run_review",
        "one run as the recorder keeps it: who asked and decided, statistics, every "
        "record error, every field written (old and new values), its events in order",
    )
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--limit", type=int, default=50, help="changes to print (default 50)")
    p.add_argument(
        "--logs",
        type=int,
        default=200,
        metavar="N",
        help="log lines to print (default 200; 0: none; --json has them all)",
    )
    p.add_argument(
        "--export",
        metavar="csv|json|xlsx|FILE",
        help="every change, one row per field: csv or json printed instead of the review; "
        "xlsx written to RUN.xlsx here (the layout of `job preview --export`); FILE "
        "(.csv, .xlsx, .json) written there",
    )
    _json(p)


def _history(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "history",
        "services.cli.history:history",
        "every change every job made to an object, newest first; `history why JOB KEY "
        "FIELD`: the run that wrote a field's value, the job's version it was planned "
        "with and where that version takes it from; `history versions JOB`: every "
        "definition of the job applied",
    )
    p.add_argument("words", nargs="+", metavar="KEY | why JOB KEY FIELD | versions JOB")
    p.add_argument("--job", help="only this job's changes")
    p.add_argument("--since", help="only since then: a duration back (7d, 12h) or a date")
    _json(p)


def _users(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    noun = sub.add_parser("user", help="the people (and other systems) of the embedded server")
    verbs = noun.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = _command(
        verbs,
        "add",
        "services.cli.user:user_add",
        "add a person (or give them a new password); prints it, and the running server "
        "reloads its users",
        epilog="example: idsync user add ada --group directory-team",
    )
    p.add_argument("principal", metavar="NAME", help="a slug: a-z, 0-9, _ and -")
    p.add_argument("--group", action="append", help="a group approvers can name (repeatable)")
    p.add_argument(
        "--system",
        action="store_true",
        help="another system: its run requests are external and merged in bursts",
    )
    p = _command(
        verbs, "remove", "services.cli.user:user_remove", "remove a person; the server forgets them"
    )
    p.add_argument("principal", metavar="NAME")
    _json(
        _command(
            verbs, "list", "services.cli.user:user_list", "list the users and what they may send"
        )
    )
    for verb, words in (("grant", "give a role to"), ("revoke", "take a role from")):
        p = _command(
            verbs,
            verb,
            f"services.cli.role:user_{verb}",
            f"{words} a person, a group (group:NAME) or a directory group "
            "(directory:CONNECTION:GROUP); the workflow checks you may manage roles",
            epilog=f"example: idsync user {verb} ada job-author",
        )
        p.add_argument("grantee", metavar="WHO")
        p.add_argument("role", metavar="ROLE")


def _roles(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    noun = sub.add_parser("role", help="roles: what people may do, and their jobs' policies")
    verbs = noun.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = _command(
        verbs,
        "add",
        "services.cli.role:role_add",
        "define a role (or change one) from a TOML file: id, permissions, [policy]",
        epilog="example: idsync role add roles/hr-author.toml (docs/roles.md)",
    )
    p.add_argument("file", metavar="FILE")
    _json(
        _command(verbs, "list", "services.cli.role:role_list", "list the roles and who holds them")
    )
    p = _command(verbs, "show", "services.cli.role:role_show", "show a role and its policy")
    p.add_argument("role", metavar="ROLE")
    _json(p)
    p = _command(
        verbs,
        "remove",
        "services.cli.role:role_remove",
        "remove a custom role (a built-in one is restored as it ships)",
    )
    p.add_argument("role", metavar="ROLE")
    p = _command(
        verbs,
        "history",
        "services.cli.role:role_history",
        "who defined, removed, granted and revoked roles, and when (from the journal)",
    )
    p.add_argument("role", metavar="ROLE", nargs="?")
    _json(p)


def _tail(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub, "tail", "services.cli.tail:tail", "print events as they happen (Ctrl-C stops)"
    )
    p.add_argument("--job", help="only this job's events")
    _json(p)


def _doctor(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "doctor",
        "services.cli.doctor:doctor",
        "check NATS, streams, consumers, buckets and every connection; say what to fix",
    )
    _json(p)


def _up(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _command(
        sub,
        "up",
        "services.cli.up:up",
        "start NATS (embedded, unless IDSYNC_NATS_URL is set) and "
        "every service in the foreground; Ctrl-C stops cleanly",
    )


def _serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "serve",
        "services.cli.serve:serve",
        "run some services against IDSYNC_NATS_URL (e.g. more runners on other machines)",
    )
    p.add_argument(
        "services",
        nargs="+",
        choices=(*SERVICES, *ENDPOINTS),
        metavar="SERVICE",
        help=f"one or more of: {', '.join((*SERVICES, *ENDPOINTS))}",
    )


def _demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _command(
        sub,
        "demo",
        "services.cli.demo:demo",
        "run the whole product on made-up data (a fresh "
        "NATS server, the services, a CSV → SQLite job run three times)",
    )


NOUNS: dict[str, Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = {
    "connection": _connection,
    "job": _job,
    "schedule": _schedule,
    "collection": _collection,
    "template": _template,
    "run": _run,
    "user": _users,
    "role": _roles,
    "whoami": _whoami,
    "runner": _runner,
    "deadletter": _deadletter,
    "history": _history,
    "tail": _tail,
    "doctor": _doctor,
    "up": _up,
    "serve": _serve,
    "demo": _demo,
}
"""Every command's noun, in the order `idsync --help` lists them, and what adds it."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command tree; given `only`, a noun, that noun's commands alone (their
    parsers take time to build, ~0.4 ms each: parsing one command needs no other)."""
    parser = argparse.ArgumentParser(
        prog="idsync",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="noun", required=True, metavar="COMMAND")
    for noun, add in NOUNS.items():
        if only is None or noun == only:
            add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv and argv[0] in NOUNS else None).parse_args(argv)
    try:
        # Here and below: loaded to run a command, not to parse one.
        from services.common.settings import Settings

        args.settings = Settings.from_env()
        code = _quickly(args)
        if code is None:
            from services.cli.loop import run_in_loop

            code = run_in_loop(args.noun, lambda: args.handler(args))
        sys.stdout.flush()  # here, where a reader gone away is caught, not at exit
        return code
    except IdsyncError as error:
        print(f"idsync: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


def _quickly(args: argparse.Namespace) -> int | None:
    """The command done by its quick handler, if it has one that can do it."""
    quick = args.handler.resolve_quick()
    return None if quick is None else quick(args)


EXIT_READER_GONE = 141
"""As a program stopped by SIGPIPE (128 + 13): `idsync job show X | head` read enough."""


def _reader_gone() -> int:
    """The output's reader stopped reading: no traceback, and nothing more written to
    stdout (the interpreter's own flush at exit would fail again)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_READER_GONE


if __name__ == "__main__":
    sys.exit(main())
