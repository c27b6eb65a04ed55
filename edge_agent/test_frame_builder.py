"""Frames: size limit, device grouping, seq consecutive and persistent across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.frame_builder import FrameBuilder
from edge_agent.seq_store import SeqStore
from parkwatch.errors import ConfigError
from parkwatch.wire.frames import Reading, decode_frame, encode_frame

TS = 1_764_189_600_000


def readings(n: int, point: str = "p") -> list[Reading]:
    return [Reading(f"{point}{i}", TS + i, float(i), "good") for i in range(n)]


def test_full_frames_are_cut_and_a_device_may_span_two() -> None:
    builder = FrameBuilder("north", "gw-1", max_readings=10, seq=SeqStore(None))
    assert builder.add("a", readings(4)) == []
    frames = builder.add("b", readings(17))
    assert [(f.seq, f.reading_count) for f in frames] == [(1, 10), (2, 10)]
    assert [(d.device, len(d.readings)) for d in frames[0].devices] == [("a", 4), ("b", 6)]
    assert [(d.device, len(d.readings)) for d in frames[1].devices] == [("b", 10)]
    last = builder.flush()
    assert last is not None and (last.seq, last.reading_count) == (3, 1)
    assert builder.flush() is None
    # Frames obey the wire contract.
    for frame in (*frames, last):
        assert decode_frame(encode_frame(frame)) == frame


def test_seq_survives_restart_and_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "state" / "north.gw-1.seq"
    builder = FrameBuilder("north", "gw-1", 100, SeqStore(path))
    for _ in range(3):
        builder.add("a", readings(1))
        builder.flush()
    assert path.read_text() == "3\n"
    again = FrameBuilder("north", "gw-1", 100, SeqStore(path))
    again.add("a", readings(1))
    frame = again.flush()
    assert frame is not None and frame.seq == 4
    path.write_text("four")
    with pytest.raises(ConfigError, match="expected the last frame seq"):
        SeqStore(path)
