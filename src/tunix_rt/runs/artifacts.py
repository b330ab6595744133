"""Register the files a run leaves in its directory as run_artifacts rows.

Rows hold paths relative to the run directory, never absolute ones. Each attempt writes under
its own `attempts/<fence>/` directory; an artifact's `name` is its path inside the attempt
directory (`checkpoints/100`, `eval.json`) and `relpath` where it really lies
(`attempts/2/checkpoints/100`). Registering a name again points its row at the newer file,
so the latest attempt's output wins. A directory (an Orbax checkpoint) is one artifact: its
size is the sum of its files and its sha256 is the hash of its manifest, a sorted list of
(relpath, size, sha256) entries stored with the row.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.db import models
from tunix_rt.db.types import utcnow

KNOWN_FILES = (
    "spec.json",
    "tokenizer.model",
    "init/tokenizer.model",  # a run started from another run's checkpoint: that tokenizer
    "metrics.jsonl",
    "eval.json",
    "dry_run.json",
    "logs/output.log",
)
CHECKPOINTS_DIR = "checkpoints"
ROLLOUTS_DIR = "rollouts"
ATTEMPTS_DIR = "attempts"
HASH_BLOCK_BYTES = 1024 * 1024


def hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(HASH_BLOCK_BYTES):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def describe_path(root: Path, relpath: str) -> tuple[str, int, str, list[dict[str, Any]] | None]:
    """(kind, size, sha256, manifest) of a file or directory under root (blocking)."""
    path = root / relpath
    if path.is_file():
        size, sha = hash_file(path)
        return "file", size, sha, None
    manifest: list[dict[str, Any]] = []
    for item in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
        size, sha = hash_file(item)
        manifest.append({"path": item.relative_to(path).as_posix(), "size": size, "sha256": sha})
    encoded = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return (
        "directory",
        sum(e["size"] for e in manifest),
        hashlib.sha256(encoded).hexdigest(),
        manifest,
    )


def _inside(root: Path, relpath: str) -> bool:
    try:
        (root / relpath).resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return not Path(relpath).is_absolute()


def attempt_dir_of(fence: int) -> str:
    """Where attempt `fence` writes, relative to the run directory."""
    return f"{ATTEMPTS_DIR}/{fence}"


async def register_artifact(
    session: AsyncSession,
    run_id: uuid.UUID,
    run_dir: Path,
    relpath: str,
    *,
    name: str | None = None,
) -> models.RunArtifact | None:
    """Insert or update the artifact row `name` (default: relpath) for run_dir/relpath;
    None when the file is not there."""
    relpath = Path(relpath).as_posix().strip("/")
    if not relpath or not _inside(run_dir, relpath) or not (run_dir / relpath).exists():
        return None
    name = name or relpath
    kind, size, sha, manifest = await asyncio.to_thread(describe_path, run_dir, relpath)
    row = (
        await session.execute(
            select(models.RunArtifact)
            .where(
                models.RunArtifact.run_id == run_id,
                (models.RunArtifact.name == name) | (models.RunArtifact.relpath == relpath),
            )
            .limit(1)
        )
    ).scalar_one_or_none()
    if row is None:
        row = models.RunArtifact(id=uuid.uuid4(), run_id=run_id)
        session.add(row)
    row.relpath = relpath
    row.name = name
    row.kind = kind
    row.size_bytes = size
    row.sha256 = sha
    row.manifest = manifest
    row.created_at = utcnow()
    await session.flush()
    return row


async def register_run_outputs(
    session: AsyncSession, run_id: uuid.UUID, run_dir: Path, attempt_rel: str = ""
) -> int:
    """Register every known output of the attempt in run_dir/attempt_rel and drop rows whose
    files are gone (pruned checkpoints). Returns the number of artifacts registered."""
    base = run_dir / attempt_rel
    names = [name for name in KNOWN_FILES if (base / name).is_file()]
    ckpt_root = base / CHECKPOINTS_DIR
    if ckpt_root.is_dir():
        names += sorted(
            f"{CHECKPOINTS_DIR}/{p.name}"
            for p in ckpt_root.iterdir()
            if p.is_dir() and p.name.isdigit()
        )
    rollouts_root = base / ROLLOUTS_DIR  # a GRPO run's; also registered by its events
    if rollouts_root.is_dir():
        names += sorted(
            f"{ROLLOUTS_DIR}/{p.name}"
            for p in rollouts_root.iterdir()
            if p.is_file() and p.suffix == ".jsonl"
        )
    for name in names:
        relpath = f"{attempt_rel}/{name}" if attempt_rel else name
        await register_artifact(session, run_id, run_dir, relpath, name=name)
    existing = (
        await session.execute(
            select(models.RunArtifact.id, models.RunArtifact.relpath).where(
                models.RunArtifact.run_id == run_id
            )
        )
    ).all()
    gone = [art_id for art_id, rel in existing if not (run_dir / rel).exists()]
    if gone:
        await session.execute(delete(models.RunArtifact).where(models.RunArtifact.id.in_(gone)))
    return len(names)
