"""The gateway's frame sequence number in a small text file.

Since the durable outbox (:mod:`edge_agent.outbox`) the authoritative
counter is kept in the outbox database, in the same transaction as each
frame, so a crash can neither skip nor repeat a number. The agent still
writes this file after every stored frame, as a readable mirror
(``cat state/<site>.<gateway>.seq``), and a new outbox starts from it, so a
gateway upgraded from before the outbox continues its sequence. Benchmarks
and tools that build frames without an outbox use it directly.

The cloud side detects lost and duplicated frames by ``seq`` per gateway, so
a restarted agent must continue where it stopped instead of starting at 1
again. The last used number is written to a small file after every frame
(write to a temporary file, then rename: a crash leaves the old or the new
number, never a torn one). It is not fsync'ed: after a power cut the number
may be a few frames behind, which the cloud sees as duplicates, not as loss.
"""

from __future__ import annotations

import os
from pathlib import Path

from parkwatch.errors import ConfigError

__all__ = ["SeqStore"]


class SeqStore:
    """Hands out consecutive sequence numbers and remembers the last one.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "gw.seq"
    >>> store = SeqStore(path); store.next(), store.next()
    (1, 2)
    >>> SeqStore(path).next()
    3
    """

    def __init__(self, path: Path | None) -> None:
        """``path=None`` keeps the number in memory only (tests, benchmarks)."""
        self.path = path
        self.last = self._load()

    def _load(self) -> int:
        if self.path is None or not self.path.exists():
            return 0
        text = self.path.read_text(encoding="ascii").strip()
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(
                f"{self.path}: expected the last frame seq (an integer), found {text[:40]!r}"
            ) from None
        if value < 0:
            raise ConfigError(f"{self.path}: negative seq {value}")
        return value

    def next(self) -> int:
        """The next sequence number, persisted before it is returned."""
        self.record(self.last + 1)
        return self.last

    def record(self, value: int) -> None:
        """Remember ``value`` as the last number used (the outbox's mirror)."""
        self.last = value
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(f"{self.last}\n", encoding="ascii")
            os.replace(tmp, self.path)
