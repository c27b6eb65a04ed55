"""The outbox contract: accepted means kept (even across kill -9), bounded by bytes, alarms never dropped."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from edge_agent.outbox import Outbox

T = b'{"seq":%d,"x":"' + b"y" * 80 + b'"}'


def test_seq_and_records_survive_reopen(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    assert [ob.put_frame(T, 10) for _ in range(3)] == [1, 2, 3]
    ids = [r.id for r in ob.read(0, "data", 10)]
    ob.settle(acked=ids[:2], rejected=[])
    ob.close()
    again = Outbox(tmp_path / "o.db")
    assert [r.seq for r in again.read(0, "data", 10)] == [3]
    assert again.put_frame(T, 1) == 4  # never reused, although 1 and 2 are gone
    assert again.depth()[0] == 2


def test_ids_keep_rising_when_the_outbox_empties(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    ob.put_frame(T, 1)
    (first,) = ob.read(0, "data", 10)
    ob.settle([first.id], [])
    ob.put_frame(T, 1)
    (second,) = ob.read(0, "data", 10)
    assert second.id > first.id  # a sender's cursor must never skip a new record


def test_full_outbox_drops_oldest_data_never_alarms(tmp_path: Path) -> None:
    size = len(T % 1)
    ob = Outbox(tmp_path / "o.db", max_bytes=size * 5 + 5)  # seq 10 is a byte longer than seq 1
    ob.put_alarm(T)
    for _ in range(10):
        ob.put_frame(T, 7)
    ob.put_alarm(T)
    seqs = [r.seq for r in ob.read(0, "data", 100)]
    assert seqs == [7, 8, 9, 10]  # 4 frames + 1 alarm fill the 5 slots; the alarm after is extra
    assert [r.seq for r in ob.read(0, "alarm", 10)] == [1, 2]
    counters = ob.counters()
    assert (counters["outbox_frames_dropped"], counters["outbox_readings_dropped"]) == (6, 42)
    ob.close()
    assert Outbox(tmp_path / "o.db").counters()["outbox_frames_dropped"] == 6  # kept in the file


def test_reopened_with_initial_seq_continues_an_old_sequence(tmp_path: Path) -> None:
    assert Outbox(tmp_path / "o.db", initial_seq=41).put_frame(T, 1) == 42


def test_nothing_accepted_is_lost_to_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    writer = (
        "import sys\n"
        "from edge_agent.outbox import Outbox\n"
        f"ob = Outbox(__import__('pathlib').Path({str(path)!r}), durability='process_crash')\n"
        "while True:\n"
        f"    print(ob.put_frame({T!r}, 1), flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    accepted = 0
    deadline = time.monotonic() + 10
    while accepted < 300 and time.monotonic() < deadline:
        accepted = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seqs = [r.seq for r in Outbox(path).read(0, "data", 100_000)]
    assert seqs[:accepted] == list(range(1, accepted + 1))
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, whatever was in progress


def test_alarm_state_changes_with_its_event_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    ob = Outbox(path)
    ob.put_alarm(b'{"seq":%d}', "r1", True, 1_000)
    ob.put_alarm(b'{"seq":%d}', "r2", True, 2_000)
    ob.put_alarm(b'{"seq":%d}', "r1", False, 3_000)
    ob.close()
    reopened = Outbox(path)
    assert reopened.active_alarms() == {"r2": 2_000}
    reopened.forget_alarms(["r2"])
    assert reopened.active_alarms() == {}
    assert [r.seq for r in reopened.read(0, "alarm", 10)] == [1, 2, 3]
