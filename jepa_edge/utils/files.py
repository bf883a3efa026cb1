"""Atomic writes and content hashes: nothing half-written is ever left under a final name."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to `path`; on success fsync and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path, error: type[Exception], fix: str):
    """The JSON in `path`; a truncated or corrupt file raises `error` in one line that ends with `fix`."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path} is truncated or corrupt, not valid JSON ({e}); {fix}") from None


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def dir_hash(path) -> str:
    """sha256 over the relative paths and sha256 of every file (dot-files left out): a folder's
    identity, the key of every cache that depends on a model dir or bundle."""
    root = Path(path)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            h.update(p.relative_to(root).as_posix().encode())
            h.update(sha256_file(p).encode())
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json_sha256(obj: dict, exclude: str) -> str:
    """sha256 over the canonical JSON of `obj` (sorted keys, no whitespace, ASCII) without its key
    `exclude` (the field that stores this hash): what signs a config.json or manifest.json's content."""
    body = {k: v for k, v in obj.items() if k != exclude}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# ----------------------------------------------------------------------------- owned temporary dirs
# A temporary directory next to a destination carries its owner in its name:
#   .<dest name>.<tag>-<host>-<pid>.<random>
# so a later run can tell a dead writer's leftovers (remove them) from a live writer's (leave them).

def _host() -> str:
    import socket

    return "".join(c for c in socket.gethostname().split(".")[0] if c.isalnum())[:32] or "host"


def owned_tempdir(dest: str | os.PathLike, tag: str) -> Path:
    """mkdtemp next to `dest`, named after it, this host and this process."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{dest.name}.{tag}-{_host()}-{os.getpid()}.", dir=dest.parent))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def remove_stale_tempdirs(dest: str | os.PathLike, tag: str, max_age_s: float = 7 * 86400,
                          legacy: bool = False) -> list[Path]:
    """Remove the leftovers of writers of `dest` that died (see `owned_tempdir`). A leftover goes when
    it was made on this host by a process that no longer runs, or (another host's, or a reused pid)
    when it has not been modified for `max_age_s`. A live writer's dir is never touched.
    `legacy`: also the `.<name>.XXXXXXXX` dirs of tempfile.mkdtemp (no owner recorded), by age only.
    Returns what was removed."""
    import re
    import shutil
    import time

    dest = Path(dest)
    if not dest.parent.is_dir():
        return []
    owned = re.compile(rf"^\.{re.escape(dest.name)}\.{re.escape(tag)}-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)\.[^/]+$")
    old_style = re.compile(rf"^\.{re.escape(dest.name)}\.[a-z0-9_]{{8}}$")
    host, now, removed = _host(), time.time(), []
    for p in dest.parent.iterdir():
        m = owned.match(p.name)
        if m is None and not (legacy and old_style.match(p.name)):
            continue
        if not p.is_dir() or p.is_symlink():
            continue
        try:
            age = now - p.stat().st_mtime
        except OSError:
            continue
        if m is not None and m["host"] == host:
            pid = int(m["pid"])
            stale = pid != os.getpid() and (not pid_alive(pid) or age > max_age_s)
        else:
            stale = age > max_age_s if m is not None else age > 3600  # legacy: an hour unmodified
        if stale:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed
