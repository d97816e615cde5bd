"""`idsync job run` takes its quick path — a synchronous NATS client, no asyncio, no
nats-py, no logging library — and says what the usual path says: the command was
bound by importing those (0.13 s of 0.37 s for one changed record whose run took the
services 0.05 s; docs/performance.md).

The server here is a stand-in speaking the core protocol from a thread: it answers the
run command as the workflow does and publishes the run's end as a runner does. The
real server and services: tests/integration/test_quick_nats.py and test_cli.py."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from schemas.commands import CommandReply, encode
from schemas.events import RunFinished, RunPlanned, encode_event
from schemas.plan import PlanCounts, RunStats
from services.common.quick_nats import address

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("asyncio", "nats", "structlog", "faststream", "services.common.client")


class StandIn:
    """One connection at a time; `answer` is what a run command gets (None: the 503 a
    request nobody listens to gets), then the events of `events` follow."""

    def __init__(self, answer: CommandReply | None, events: list[bytes], nobody: int = 0) -> None:
        self.answer = answer
        self.events = events
        self.nobody = nobody
        """Run commands answered with the 503 first, as by a server no workflow listens to
        yet."""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"nats://127.0.0.1:{self.listener.getsockname()[1]}"
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b'INFO {"server_id":"x","headers":true,"max_payload":1048576}\r\n')
            subs: dict[str, str] = {}
            while line := lines.readline():
                words = line.decode().split()
                self.seen.append(words[0])
                if words[0] == "PING":
                    conn.sendall(b"PONG\r\n")
                elif words[0] == "SUB":
                    subs["replies" if words[1].startswith("_INBOX") else "events"] = words[2]
                elif words[0] == "PUB":
                    payload = lines.read(int(words[-1]) + 2)[:-2]
                    self.seen.append(payload.decode())
                    self.reply(conn, words[2], subs)

    def reply(self, conn: socket.socket, inbox: str, subs: dict[str, str]) -> None:
        if self.answer is None or self.nobody:
            self.nobody -= 1
            status = b"NATS/1.0 503\r\n\r\n"
            size = len(status)
            conn.sendall(f"HMSG {inbox} {subs['replies']} {size} {size}\r\n".encode())
            conn.sendall(status + b"\r\n")
            return
        data = encode(self.answer)
        conn.sendall(f"MSG {inbox} {subs['replies']} {len(data)}\r\n".encode() + data + b"\r\n")
        for event in self.events:
            subject = "idsync.run.x.quick"
            conn.sendall(f"MSG {subject} {subs['events']} {len(event)}\r\n".encode())
            conn.sendall(event + b"\r\n")


def run_command(url: str, *argv: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`idsync ARGV` in a process of its own; what it printed, and which of HEAVY it
    loaded."""
    code = (
        "import sys\n"
        "from services.cli.main import main\n"
        f"code = main({list(argv)!r})\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
        "sys.exit(code)"
    )
    env = {"IDSYNC_NATS_URL": url, "IDSYNC_PRINCIPAL": "tester", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "PYTHONPATH": str(ROOT), "IDSYNC_HOME": str(ROOT / "no-such-home")},
    )
    *said, loaded = done.stderr.splitlines() or [""]
    return (
        subprocess.CompletedProcess(done.args, done.returncode, done.stdout, "\n".join(said)),
        [loaded],
    )


RUN = "20261206T120000Z-abcdef"
STATS = RunStats(read=1, updated=1)


def planned(run_id: str) -> RunPlanned:
    counts = PlanCounts(update=1)
    return RunPlanned(
        run_id=run_id,
        job_id="quick",
        plan_hash="h",
        counts=counts,
        source_records=1,
        destination_records=1,
        batches=1,
    )


def finished_event() -> RunFinished:
    return RunFinished(run_id=RUN, job_id="quick", plan_hash="h", stats=STATS, seconds=0.05)


@pytest.fixture
def finished() -> Iterator[StandIn]:
    events = [
        encode_event(planned("another")),  # another run of the job: not this command's
        encode_event(planned(RUN)),
        encode_event(finished_event()),
    ]
    yield StandIn(CommandReply(ok=True, run_id=RUN), events)


def test_a_run_waited_for_loads_neither_asyncio_nor_nats_py(finished: StandIn) -> None:
    done, loaded = run_command(finished.url, "job", "run", "quick", "--wait", "--key", "E1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"run {RUN} finished in ")
    assert "1 read, 0 created, 1 updated" in done.stdout
    assert loaded == ["[]"]
    command = msgspec.json.decode(finished.seen[finished.seen.index("PUB") + 1])
    assert command == {"job_id": "quick", "keys": ["E1"], "changed_only": False}
    # Subscribed to the job's events (and the inbox) before the run was asked for.
    assert finished.seen.index("SUB") < finished.seen.index("PUB")


def test_json_says_the_run_and_its_end(finished: StandIn) -> None:
    done, _ = run_command(finished.url, "job", "run", "quick", "--wait", "--json")
    said = msgspec.json.decode(done.stdout)
    assert done.returncode == 0
    assert said["run_id"] == RUN and said["end"]["type"] == "run.finished"


def test_a_run_that_waits_for_approval_exits_7_and_says_whom_it_waits_for() -> None:
    stand_in = StandIn(CommandReply(ok=True, run_id=RUN, waits_for=["ada"]), [])
    done, loaded = run_command(stand_in.url, "job", "run", "quick")
    assert done.returncode == 7
    assert done.stdout == f"{RUN}\n"
    assert f"run {RUN} waits for approval: job quick needs the approval of ada" in done.stderr
    assert loaded == ["[]"]


def test_an_unknown_job_is_said_as_the_workflow_says_it() -> None:
    stand_in = StandIn(CommandReply(ok=False, error="no job 'quick'"), [])
    done, _ = run_command(stand_in.url, "job", "run", "quick", "--wait")
    assert (done.returncode, done.stderr) == (2, "idsync: no job 'quick'")


def test_a_workflow_that_listens_a_moment_later_is_asked_again() -> None:
    """A workflow starting, or reconnecting to the server, is asked again while the server
    says nobody listens (nobody got the command: it ran nothing), and its answer taken."""
    events = [encode_event(planned(RUN)), encode_event(finished_event())]
    stand_in = StandIn(CommandReply(ok=True, run_id=RUN), events, nobody=3)
    done, _ = run_command(stand_in.url, "job", "run", "quick", "--wait")
    assert done.returncode == 0, done.stderr
    assert stand_in.seen.count("PUB") == 4  # three 503s, then the answer


def test_no_workflow_is_said_as_the_usual_path_says_it() -> None:
    stand_in = StandIn(None, [])
    done, _ = run_command(stand_in.url, "job", "run", "quick", "--wait")
    assert done.returncode == 3
    assert done.stderr.startswith("idsync: no workflow service answers run commands")


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("nats://127.0.0.1:4333", ("127.0.0.1", 4333)),
        ("localhost", ("localhost", 4222)),
        ("10.0.0.1:5222", ("10.0.0.1", 5222)),
        ("nats://[::1]:4222", ("::1", 4222)),
        ("tls://host:4222", None),
        ("ws://host:80", None),
        ("nats://user:secret@host:4222", None),
        ("nats://token@host:4222", None),
    ],
)
def test_the_quick_client_takes_plain_nats_urls_only(
    url: str, where: tuple[str, int] | None
) -> None:
    assert address(url) == where


def test_ctrl_c_while_following_exits_130_without_a_traceback() -> None:
    stand_in = StandIn(CommandReply(ok=True, run_id=RUN), [])  # the run never ends
    env = {"IDSYNC_NATS_URL": stand_in.url, "IDSYNC_PRINCIPAL": "tester", "PATH": "/usr/bin:/bin"}
    following = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "job", "run", "quick", "--wait"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT), "IDSYNC_HOME": str(ROOT / "no-such-home")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while "PUB" not in stand_in.seen and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the reply read: following
    following.send_signal(signal.SIGINT)
    out, err = following.communicate(timeout=30)
    assert (following.returncode, out, err) == (130, "", "")
