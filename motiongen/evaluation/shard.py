"""``motiongen eval`` split across processes: the resumable pieces are the unit of work.

    torchrun --nproc_per_node=4 -m motiongen.cli eval -o metrics.json
    torchrun --nnodes=2 --nproc_per_node=8 ... -m motiongen.cli eval -o /shared/metrics.json

Every expensive piece of an evaluation (a t2m replication, a chunk of in-betweening windows, a
constraint case, a baseline row, ...) is a :class:`Piece`: a file in ``OUT.parts/`` and the function
that writes it. The pieces are listed in a fixed order and piece ``i`` of the *leading* pieces
belongs to rank ``i % world``; a piece that reads another one's output (the quality row reads
replication 0's motions, the baselines the position statistics) ``follows`` it and goes to the same
rank, after it. Phase 1: each rank writes the missing pieces it owns (each piece has exactly one
writer, so ranks on several machines can share the folder). Then a gloo barrier, and rank 0 alone
assembles the JSON from the finished pieces. A piece's content depends only on the settings and its
own name (its seed comes from them), never on the rank or on what the process computed before, so
the JSON equals a single-process run's.

Every rank lists the pieces itself, after rank 0 has opened the folder; the list may depend only on
what no rank changes during phase 1 (the settings, the data, and the pieces only rank 0 writes in
phase 2: a finished task record makes its per-case or per-chunk pieces unnecessary), so that every
rank derives the same owners.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motiongen.errors import InputError


@dataclass(frozen=True)
class Shard:
    """This process's place in the run: ``rank`` of ``world`` (``Shard(0, 1)``: a plain run)."""

    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise InputError(f"rank {self.rank} of {self.world} is not 0 <= rank < world", field="shard")

    @property
    def main(self) -> bool:
        """Rank 0: the one that assembles the JSON and the view folder and shows progress."""
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Shard:
        """torchrun's ``RANK`` / ``WORLD_SIZE`` (a plain run outside torchrun)."""
        from motiongen.pipelines.batch import shard_from_env

        rank, world = shard_from_env()
        return cls(rank, world)


def is_main_rank() -> bool:
    """Whether this process is rank 0 of torchrun's run (True outside torchrun): the one that reports."""
    return Shard.from_env().main


@dataclass
class Piece:
    """One finished-or-not file of the parts folder and how to make it.

    ``make()`` computes the piece and stores it (a no-op when it is already stored); ``done()`` says
    whether nothing is left to do for it; ``follows`` names the piece whose rank it takes (it reads
    that piece's output, so it must run after it in the same process).
    """

    name: str
    task: str
    make: Callable[[], Any]
    done: Callable[[], bool]
    follows: str | None = None


def piece_owners(pieces: Sequence[Piece], world: int) -> dict[str, int]:
    """``{name: rank}``: leading piece ``i`` (in list order) to rank ``i % world``, a follower to its
    leader's rank. A follower must come after its leader in ``pieces``."""
    owners: dict[str, int] = {}
    leading = 0
    for piece in pieces:
        if piece.name in owners:
            raise ValueError(f"piece {piece.name} is listed twice")
        if piece.follows is None:
            owners[piece.name] = leading % world
            leading += 1
        elif piece.follows in owners:
            owners[piece.name] = owners[piece.follows]
        else:
            raise ValueError(f"piece {piece.name} follows {piece.follows}, which is not listed before it")
    return owners


#: Per-rank log of the pieces a rank computed, in the parts folder (JSON lines, appended).
RANK_LOG = "computed-by-rank-{rank}.jsonl"


def rank_log_path(folder: str | Path, rank: int) -> Path:
    return Path(folder) / RANK_LOG.format(rank=rank)


def read_rank_logs(folder: str | Path) -> dict[str, dict[str, Any]]:
    """``{piece: its latest log entry}`` over every rank's log in ``folder`` (entries hold ``piece``,
    ``rank``, ``world``, ``host``, ``seconds``, ``finished``); a line a killed run cut short is skipped."""
    latest: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(folder).glob(RANK_LOG.format(rank="*"))):
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(entry, dict) or "piece" not in entry:
                continue
            if entry["piece"] not in latest or entry["finished"] >= latest[entry["piece"]]["finished"]:
                latest[entry["piece"]] = entry
    return latest


def compute_owned(
    pieces: Sequence[Piece], shard: Shard, log_folder: Path, *, progress: bool = False
) -> list[dict[str, Any]]:
    """Phase 1: make the pieces ``shard`` owns that are not done, in list order; each finished piece
    is appended to this rank's log. Returns the log entries of this call."""
    from tqdm import tqdm

    owners = piece_owners(pieces, shard.world)
    todo = [p for p in pieces if owners[p.name] == shard.rank and not p.done()]
    entries = []
    desc = f"eval pieces (rank {shard.rank})" if shard.world > 1 else "eval pieces"
    bar = tqdm(todo, desc=desc, unit="piece", disable=not progress, file=sys.stderr)
    host = socket.gethostname()
    for piece in bar:
        bar.set_postfix_str(piece.name)
        started = time.perf_counter()
        piece.make()
        entry = {"piece": piece.name, "task": piece.task, "rank": shard.rank, "world": shard.world, "host": host,
                 "pid": os.getpid(), "seconds": round(time.perf_counter() - started, 3), "finished": time.time()}
        # one writer per file (this rank), so an append is enough; a reader skips a cut-short line
        with rank_log_path(log_folder, shard.rank).open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
        entries.append(entry)
    bar.close()
    return entries


class ShardGroup:
    """The ranks' meeting points: a gloo process group joined from torchrun's environment (gloo also
    on GPUs: only barriers and small objects are sent), with a long timeout, since ranks finish
    their pieces hours apart."""

    def __init__(self, shard: Shard) -> None:
        import torch.distributed as dist

        from motiongen.pipelines.batch import BARRIER_TIMEOUT

        self.shard, self._owned = shard, False
        if shard.world == 1:
            return
        if not dist.is_initialized():
            missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
            if missing:
                raise InputError(f"WORLD_SIZE={shard.world} without {', '.join(missing)}: start a sharded "
                                 "evaluation with torchrun", field="WORLD_SIZE")
            dist.init_process_group(backend="gloo", timeout=BARRIER_TIMEOUT)
            self._owned = True

    def barrier(self) -> None:
        if self.shard.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def all_gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order."""
        if self.shard.world == 1:
            return [value]
        import torch.distributed as dist

        out: list[Any] = [None] * self.shard.world
        dist.all_gather_object(out, value)
        return out

    def close(self) -> None:
        import torch.distributed as dist

        if self._owned and dist.is_initialized():
            dist.destroy_process_group()
            self._owned = False
