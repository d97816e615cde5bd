"""The `idsync` command: noun then verb, help that teaches, documented exit codes.

Long for a reason: the whole command tree and its help texts, in one place to read; each
command's work is in the module named after its noun."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

from core.errors import IdsyncError
from schemas.connections import PROVIDERS
from services.common.service_names import ENDPOINTS, SERVICES

Command = Callable[[argparse.Namespace], Awaitable[int]]


class Handler:
    """A command's handler named by "module:function", imported when the command runs:
    building the parser (and `--help`) loads no command's module, nor NATS, the planner
    or the providers they need."""

    def __init__(self, reference: str) -> None:
        self.reference = reference

    def resolve(self) -> Command:
        module, _, name = self.reference.partition(":")
        handler: Command = getattr(importlib.import_module(module), name)
        return handler

    def __call__(self, args: argparse.Namespace) -> Awaitable[int]:
        return self.resolve()(args)


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


CONNECTION_ADD_EXAMPLES = """\
examples:
  idsync connection add hr-files --provider csv --set directory=data --set "delimiter=;"
  idsync connection add people-db --provider sqlite --set path=data/people.sqlite
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
    **kwargs: object,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help, **kwargs)  # type: ignore[arg-type]
    parser.set_defaults(handler=Handler(handler))
    return parser


def _nouns(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        "check that a connection is reachable",
    )
    p.add_argument("id")
    _json(p)

    jobs = sub.add_parser("job", help="what moves where").add_subparsers(
        dest="verb", required=True, metavar="VERB"
    )
    p = _command(
        jobs, "apply", "services.cli.job:job_apply", "add or update a job from its TOML file"
    )
    p.add_argument("file", help="e.g. jobs/hr-to-directory.toml")
    _json(p)
    _json(
        _command(
            jobs,
            "list",
            "services.cli.job:job_list",
            "list the jobs: enabled or not, their schedule, next run and last run",
        )
    )
    p = _command(jobs, "show", "services.cli.job:job_show", "show one job as stored")
    p.add_argument("id")
    _json(p)
    p = _command(
        jobs,
        "run",
        "services.cli.job:job_run",
        "request a run now; prints the run id",
        epilog="With --wait: a progress bar, then the run's statistics. A run that waits "
        "for the approval of its job's approvers says whose, and exits 7.",
    )
    p.add_argument("id")
    p.add_argument("--wait", action="store_true", help="follow the run to its end")
    p.add_argument(
        "--key",
        action="append",
        metavar="VALUE",
        help="only the object with this key value (repeatable); never deletes",
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
    )
    p.add_argument("id")
    p.add_argument("--key", action="append", metavar="VALUE", help="only these objects")
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

    _users(sub)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="idsync",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="noun", required=True, metavar="COMMAND")
    _nouns(sub)
    _history(sub)
    p = _command(
        sub, "tail", "services.cli.tail:tail", "print events as they happen (Ctrl-C stops)"
    )
    p.add_argument("--job", help="only this job's events")
    _json(p)
    p = _command(
        sub,
        "doctor",
        "services.cli.doctor:doctor",
        "check NATS, streams, consumers, buckets and every connection; say what to fix",
    )
    _json(p)
    _command(
        sub,
        "up",
        "services.cli.up:up",
        "start NATS (embedded, unless IDSYNC_NATS_URL is set) and "
        "every service in the foreground; Ctrl-C stops cleanly",
    )
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
    _command(
        sub,
        "demo",
        "services.cli.demo:demo",
        "run the whole product on made-up data (a fresh "
        "NATS server, the services, a CSV → SQLite job run three times)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import asyncio  # here and below: loaded to run a command, not to parse one

        from services.common.logging import configure_logging
        from services.common.settings import Settings

        args.settings = Settings.from_env()
        if args.noun in {"up", "serve"}:
            configure_logging(runs=True)
        else:
            configure_logging(level=30)  # commands print their results; logs only for warnings
        code: int = asyncio.run(args.handler(args))
        sys.stdout.flush()  # here, where a reader gone away is caught, not at exit
        return code
    except IdsyncError as error:
        print(f"idsync: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


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
