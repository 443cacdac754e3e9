"""Results stores: atomic, checksummed files in directories that know whose they are.

Every results directory of rmtjax is a :class:`Store`: a folder whose ``manifest.json`` names
the run it belongs to (``identity``) and lists every file written through it with its SHA-256.
Files are written atomically (a temporary sibling ``.<name>.<pid>.tmp``, ``fsync``, rename),
then recorded in the manifest (itself written atomically), so a kill at any moment leaves
either the old or the new file, and a file not (yet) in the manifest is never trusted. Three
stores build on it:

- :class:`ChunkStore` (Monte Carlo chunks of the engine)::

      manifest.json                  identity: fingerprint, seed, trial output signature
      chunk_<start>_<stop>.npz       trials start..stop-1, arrays leaf_0, leaf_1, ...

- :class:`HistoryStore` (a training run: tracking points and the latest checkpoint)::

      manifest.json                  identity: fingerprint
      step_<step>.npz                one tracking point
      checkpoint.msgpack             the training state at the latest tracking point

- :class:`ResultsStore` (the directory ``rmtjax run --out DIR`` writes; the others live in it)::

      manifest.json                  identity: experiment, fingerprint; info: the config fields
      config.yaml                    the resolved config (first file of a run)
      data.npz  <figure>.png         results
      chunks/<name>/                 one ChunkStore per trial computation
      history/                       a HistoryStore (training experiments)
      summary.json                   written last: experiment, fingerprint, "complete": true

  A run checks the whole directory before writing anything (identity, every checksum), then
  removes ``summary.json``, writes ``config.yaml``, the results, and ``summary.json`` last:
  a directory without ``summary.json`` is an incomplete run, and a rerun resumes it.
  :func:`check_results` reports on a directory (``rmtjax check DIR``).

Every failure (a directory of another run, a corrupt or missing file, a file in the way) is a
:class:`StoreError` whose message is one line naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "MANIFEST",
    "CheckReport",
    "ChunkStore",
    "HistoryStore",
    "ResultsStore",
    "Store",
    "StoreError",
    "atomic_write",
    "check_results",
]

MANIFEST = "manifest.json"
_FORMAT = 2
_TMP_RE = re.compile(r"^\..+\.\d+\.tmp$")


class StoreError(ValueError):
    """A results store that cannot be used as asked; the message names the file and the fix."""


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(file)`` into a temporary sibling, then rename it.

    Readers see either the old file or the complete new one, never a partial write.

    Raises:
      StoreError: the file cannot be written (a file in the way of its folder, no space, no
        permission).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise StoreError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        with contextlib.suppress(OSError):  # e.g. its folder is a file: reported above
            tmp.unlink(missing_ok=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_tmp(name: str) -> bool:
    return bool(_TMP_RE.match(name))


class Store:
    """A directory of files recorded, with their SHA-256, in its ``manifest.json``.

    Opening checks, without writing anything, that the directory is absent, empty (apart
    from stale temporaries) or a store of this ``kind`` and ``identity``; :meth:`create` then
    writes the manifest. Only files listed in the manifest are read (their checksums are
    verified on every read); a listed file that has gone missing counts as never written.

    Args:
      directory: the store's folder.
      kind: what the store holds (``"chunks"``, ``"history"``, ``"results"``); None with
        ``identity=None`` opens any store.
      identity: JSON data naming the run; a stored manifest must hold exactly this. None
        opens the stored one read-only (to inspect a directory).
      writer: whether this process writes (process 0 of a multi-process run); a reader
        never changes the directory.
      data_files: a pattern of the file names this store writes itself; files matching it
        but not listed in the manifest (written, then killed before being recorded) are
        removed when a writer opens the store.

    Raises:
      StoreError: the directory is a file, holds files but no manifest, holds a manifest
        that cannot be read, or belongs to another run.
    """

    def __init__(
        self,
        directory: str | Path,
        kind: str | None,
        identity: Mapping[str, Any] | None,
        *,
        writer: bool = True,
        data_files: str = r"^$",
    ) -> None:
        self.dir = Path(directory)
        self.kind = kind
        self.writer = writer and identity is not None
        self._data_re = re.compile(data_files)
        self.manifest = self.__load_manifest()
        if identity is None:  # a reader of whatever is stored
            found = self.manifest or {}
            self.kind, self.identity = found.get("kind", kind), found.get("identity", {})
            return
        self.identity = dict(identity)
        if self.manifest is not None:
            self._check_identity(self.manifest)

    # --- opening ----------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The manifest's path."""
        return self.dir / MANIFEST

    @property
    def exists(self) -> bool:
        """Whether the store's manifest has been written."""
        return self.manifest is not None

    def __load_manifest(self) -> dict[str, Any] | None:
        if self.dir.exists() and not self.dir.is_dir():
            raise StoreError(f"{self.dir} is a file, not a results directory; choose another path")
        if not self.path.is_file():
            others = [p.name for p in self._entries() if not _is_tmp(p.name)]
            if others:
                raise StoreError(
                    f"{self.dir} holds files ({', '.join(sorted(others)[:3])}) but no {MANIFEST}; "
                    "not an rmtjax store (or one of an older format): use an empty or new directory"
                )
            return None
        return _load_manifest(self.path, self.kind)

    def _entries(self) -> list[Path]:
        return list(self.dir.iterdir()) if self.dir.is_dir() else []

    def _check_identity(self, manifest: dict[str, Any]) -> None:
        found = manifest["identity"]
        for key in [*self.identity, *(k for k in found if k not in self.identity)]:
            if found.get(key) != self.identity.get(key):
                raise StoreError(
                    f"{self.kind} store {self.dir} belongs to another run ({key} is "
                    f"{_short(found.get(key))}, this run has {_short(self.identity.get(key))}); "
                    "use another output directory or delete it"
                )

    def create(self, info: Mapping[str, Any] | None = None) -> None:
        """Write the manifest if absent (writer only) and remove stale and unrecorded files."""
        if not self.writer:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.manifest is None:
            self.manifest = {
                "format": _FORMAT,
                "kind": self.kind,
                "identity": self.identity,
                "files": {},
                "info": {},
            }
        if info is not None:
            self.manifest["info"] = {**self.manifest["info"], **info}
        for p in self._entries():
            if _is_tmp(p.name) or (
                self._data_re.match(p.name) and p.name not in self.manifest["files"]
            ):
                p.unlink(missing_ok=True)
        self._write_manifest()

    def _write_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=1) + "\n"
        atomic_write(self.path, lambda f: f.write(text.encode()))

    # --- files --------------------------------------------------------------------------

    def files(self) -> list[str]:
        """The names of the recorded files that are present, sorted."""
        listed = (self.manifest or {}).get("files", {})
        return sorted(name for name in listed if (self.dir / name).is_file())

    def write(self, name: str, write: Callable[[IO[bytes]], None]) -> Path:
        """Write file ``name`` atomically through ``write(file)`` and record its checksum."""
        buffer = io.BytesIO()
        write(buffer)
        return self.write_bytes(name, buffer.getvalue())

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write ``data`` to file ``name`` atomically and record its checksum (writer only)."""
        path = self.dir / name
        if not self.writer:
            return path
        if self.manifest is None:
            self.create()
        atomic_write(path, lambda f: f.write(data))
        self.manifest["files"][name] = _sha256(data)
        self._write_manifest()
        return path

    def remove(self, name: str) -> None:
        """Forget file ``name`` (manifest first, then the file; writer only)."""
        if not self.writer or self.manifest is None:
            return
        if self.manifest["files"].pop(name, None) is not None:
            self._write_manifest()
        (self.dir / name).unlink(missing_ok=True)

    def read_bytes(self, name: str) -> bytes:
        """The bytes of recorded file ``name``, checked against the manifest.

        Raises:
          StoreError: the file is not recorded, missing, or fails its checksum.
        """
        path = self.dir / name
        expected = (self.manifest or {}).get("files", {}).get(name)
        if expected is None:
            raise StoreError(f"{path} is not recorded in {self.path}; delete it and rerun")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror or e}; rerun to rewrite it") from e
        if _sha256(data) != expected:
            raise StoreError(f"{path} is corrupt (checksum mismatch); {self._fix(name)}")
        return data

    def read_arrays(self, name: str) -> dict[str, np.ndarray]:
        """The arrays of recorded ``.npz`` file ``name`` (checksum verified)."""
        data = self.read_bytes(name)
        try:
            with np.load(io.BytesIO(data)) as npz:
                return {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError) as e:  # checksum matched but unreadable
            raise StoreError(f"{self.dir / name} is unreadable ({e}); {self._fix(name)}") from e

    def verify(self) -> tuple[list[str], list[str]]:
        """``(corrupt, missing)``: one line per recorded file failing its checksum or gone.

        A missing file is recomputed by a rerun; a corrupt one must be deleted first.
        """
        corrupt, missing = [], []
        for name, expected in (self.manifest or {}).get("files", {}).items():
            path = self.dir / name
            if not path.is_file():
                missing.append(f"{path} is missing (recorded in {self.path}); rerun to recompute")
            elif _sha256(path.read_bytes()) != expected:
                corrupt.append(f"{path} is corrupt (checksum mismatch); {self._fix(name)}")
        return corrupt, missing

    def _fix(self, name: str) -> str:
        return f"delete it and rerun to recompute only {name}"


def _load_manifest(path: Path, kind: str | None = None) -> dict[str, Any]:
    """Read and check the ``manifest.json`` at ``path`` (of store ``kind`` if given).

    Raises:
      StoreError: unreadable JSON, missing fields, another format or another kind.
    """
    fix = f"delete {path.parent} and rerun (its files cannot be verified without it)"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StoreError(f"{path} is corrupt ({type(e).__name__}); {fix}") from e
    if isinstance(manifest, dict) and manifest.get("format", _FORMAT) != _FORMAT:
        raise StoreError(
            f"{path} has store format {manifest['format']}, this rmtjax writes {_FORMAT}; "
            f"delete {path.parent} and rerun"
        )
    fields = {"format": int, "kind": str, "identity": dict, "files": dict, "info": dict}
    if not isinstance(manifest, dict) or any(
        not isinstance(manifest.get(k), t) for k, t in fields.items()
    ):
        raise StoreError(f"{path} is not an rmtjax manifest (missing or bad fields); {fix}")
    if kind is not None and manifest["kind"] != kind:
        raise StoreError(
            f"{path.parent} is a {manifest['kind']} store, not a {kind} store; "
            "use another output directory"
        )
    return manifest


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- Monte Carlo chunks -----------------------------------------------------------------------

_CHUNK_RE = re.compile(r"^chunk_(\d+)_(\d+)\.npz$")


class ChunkStore(Store):
    """Finished Monte Carlo chunks of one run: ``chunk_<start>_<stop>.npz`` per trial range.

    Ranges are by trial index, so a rerun with another chunk size or a larger trial count
    reuses every stored trial. ``info["n_trials"]`` records the trial count of the latest run,
    so a directory tells how many trials it is missing.

    Args:
      directory: the store's folder.
      identity: names the run (fingerprint, seed, per-trial output signature), or None to
        inspect the stored one.
      writer: whether this process writes.
    """

    def __init__(
        self, directory: str | Path, identity: Mapping[str, Any] | None, *, writer: bool = True
    ) -> None:
        super().__init__(directory, "chunks", identity, writer=writer, data_files=_CHUNK_RE.pattern)

    def ranges(self) -> list[tuple[int, int]]:
        """The stored trial ranges ``(start, stop)``, sorted."""
        return sorted(_chunk_range(name) for name in self.files() if _CHUNK_RE.match(name))

    def read_into(self, done: np.ndarray, leaves: list[np.ndarray]) -> None:
        """Fill ``leaves[i][t]`` and ``done[t]`` from the stored trials ``t < len(done)``.

        Raises:
          StoreError: a chunk fails its checksum or does not hold the expected arrays.
        """
        n = done.size
        for start, stop in self.ranges():
            if start >= n:
                continue
            hi = min(stop, n)
            name = _chunk_name(start, stop)
            arrays = self.read_arrays(name)
            if sorted(arrays) != sorted(f"leaf_{i}" for i in range(len(leaves))):
                raise StoreError(f"{self.dir / name} holds other arrays; {self._fix(name)}")
            for i, full in enumerate(leaves):
                full[start:hi] = arrays[f"leaf_{i}"][: hi - start]
            done[start:hi] = True

    def write_chunk(self, start: int, stop: int, leaves: list[np.ndarray]) -> None:
        """Record trials ``start .. stop - 1`` (one array per output leaf)."""
        arrays = {f"leaf_{i}": x for i, x in enumerate(leaves)}
        self.write(_chunk_name(start, stop), lambda f: np.savez(f, **arrays))

    def missing(self) -> list[tuple[int, int]]:
        """The trial ranges below ``info["n_trials"]`` that no stored chunk covers."""
        n = int((self.manifest or {}).get("info", {}).get("n_trials", 0))
        done = np.zeros(n, bool)
        for start, stop in self.ranges():
            done[start : min(stop, n)] = True
        edges = np.flatnonzero(np.diff(np.concatenate([[1], done.astype(np.int8), [1]])))
        return [(int(lo), int(hi)) for lo, hi in zip(edges[::2], edges[1::2], strict=True)]


def _chunk_name(start: int, stop: int) -> str:
    return f"chunk_{start:010d}_{stop:010d}.npz"


def _chunk_range(name: str) -> tuple[int, int]:
    match = _CHUNK_RE.match(name)
    return int(match[1]), int(match[2])


# --- training history -------------------------------------------------------------------------

_STEP_RE = re.compile(r"^step_(\d+)\.npz$")
_CHECKPOINT = "checkpoint.msgpack"


class HistoryStore(Store):
    """A training run: one ``step_<step>.npz`` per tracking point and the latest checkpoint.

    The store knows arrays and bytes only (the trainer serializes its own state), so a rerun
    of the same config resumes from :meth:`load_checkpoint` and rewrites the tracking points
    after it.

    Args:
      directory: the store's folder (created on the first write).
      fingerprint: names the run; a stored history of another fingerprint is refused.
      writer: whether this process writes.
    """

    def __init__(self, directory: str | Path, fingerprint: str, *, writer: bool = True) -> None:
        pattern = rf"{_STEP_RE.pattern}|^{re.escape(_CHECKPOINT)}$"
        identity = {"fingerprint": fingerprint}
        super().__init__(directory, "history", identity, writer=writer, data_files=pattern)
        self.create()

    def save_record(self, step: int, arrays: Mapping[str, Any]) -> None:
        """Record the tracking point at ``step`` (a mapping of name -> array)."""
        data = {k: np.asarray(v) for k, v in arrays.items()}
        self.write(f"step_{int(step):08d}.npz", lambda f: np.savez(f, **data))

    def records(self) -> list[dict[str, np.ndarray]]:
        """Every recorded tracking point, by increasing step."""
        return [self.read_arrays(name) for name in self.files() if _STEP_RE.match(name)]

    def save_checkpoint(self, data: bytes) -> None:
        """Record the serialized training state."""
        self.write_bytes(_CHECKPOINT, data)

    def load_checkpoint(self) -> bytes | None:
        """The recorded training state, or None when there is none."""
        return self.read_bytes(_CHECKPOINT) if _CHECKPOINT in self.files() else None


# --- results directories ----------------------------------------------------------------------

SUMMARY = "summary.json"
CONFIG = "config.yaml"
_RESULT_FILES = r"^(config\.yaml|summary\.json|data\.npz|[^/]+\.(png|pdf|svg))$"


class ResultsStore(Store):
    """The results directory of one experiment run (see the module docstring for its layout).

    Args:
      directory: the results directory (created by :meth:`begin`).
      experiment: the experiment's registered name.
      fingerprint: the config's fingerprint.
      config: the config fields that enter the fingerprint (named in a refusal).
      writer: whether this process writes.

    Raises:
      StoreError: ``directory`` is a file, not an rmtjax directory, or holds another
        experiment's results or another config's (the message names the differing keys).
    """

    def __init__(
        self,
        directory: str | Path,
        experiment: str,
        fingerprint: str,
        config: Mapping[str, Any],
        *,
        writer: bool = True,
    ) -> None:
        self.config = dict(config)
        identity = {"experiment": experiment, "fingerprint": fingerprint}
        super().__init__(directory, "results", identity, writer=writer, data_files=_RESULT_FILES)

    def _check_identity(self, manifest: dict[str, Any]) -> None:
        found, mine = manifest["identity"], self.identity
        if found.get("experiment") != mine["experiment"]:
            raise StoreError(
                f"{self.dir} holds results of experiment {found.get('experiment')!r}, not "
                f"{mine['experiment']!r}; use another --out directory or delete it"
            )
        if found.get("fingerprint") != mine["fingerprint"]:
            stored = manifest["info"].get("config", {})
            diffs = [
                f"{k} is {_short(stored.get(k))} there, {_short(self.config.get(k))} here"
                for k in [*self.config, *(k for k in stored if k not in self.config)]
                if stored.get(k) != self.config.get(k)
            ]
            raise StoreError(
                f"{self.dir} belongs to another run of {mine['experiment']} "
                f"({'; '.join(diffs) or 'fingerprint differs'}); "
                "use another --out directory or delete it"
            )

    def preflight(self) -> CheckReport:
        """Check the directory and its sub-stores without writing; return what is missing.

        Raises:
          StoreError: a corrupt file or manifest, or a sub-store of another run (the first
            such problem, with the count of the others).
        """
        report = check_results(self.dir) if self.exists else CheckReport()
        if report.problems:
            more = len(report.problems) - 1
            tail = f" ({more} more: see `rmtjax check {self.dir}`)" if more else ""
            raise StoreError(report.problems[0] + tail)
        return report

    def begin(self, config_yaml: str) -> None:
        """Mark the run incomplete, clean stale temporaries and write ``config.yaml``."""
        if not self.writer:
            return
        self.remove(SUMMARY)
        self.create({"config": self.config, "finished": []})
        for path in self.dir.rglob(".*.tmp"):
            if _is_tmp(path.name):
                path.unlink(missing_ok=True)
        self.write_bytes(CONFIG, config_yaml.encode())

    def mark_finished(self, substore: str) -> None:
        """Record that this run has completed the sub-store ``substore`` (e.g. ``chunks/x``)."""
        if self.writer and self.manifest is not None:
            finished = self.manifest["info"].setdefault("finished", [])
            if substore not in finished:
                finished.append(substore)
                self._write_manifest()

    def finish(self, summary: Mapping[str, Any]) -> None:
        """Write ``summary.json``, the last file of a run.

        Raises:
          ValueError: ``summary`` does not carry this store's experiment and fingerprint
            and ``"complete": true``.
        """
        expected = {**self.identity, "complete": True}
        if any(summary.get(k) != v for k, v in expected.items()):
            raise ValueError(f"summary must carry {expected}")
        self.write_bytes(SUMMARY, (json.dumps(dict(summary), indent=2) + "\n").encode())


@dataclasses.dataclass
class CheckReport:
    """What :func:`check_results` found in a results directory.

    Attributes:
      lines: what was found, one line per store.
      problems: one line per fault (corrupt or unreadable file or manifest, a store of
        another run), naming the file and the fix.
      missing: what an incomplete run still lacks (a rerun computes it).
      notes: harmless findings (stale temporaries of an interrupted write).
    """

    lines: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Complete and intact."""
        return not self.problems and not self.missing


def check_results(directory: str | Path) -> CheckReport:
    """Verify a results directory: whose it is, every checksum, and whether it is complete.

    Reads only. A complete directory has an intact ``summary.json`` carrying the manifest's
    experiment and fingerprint and ``"complete": true``, and every chunk store holds all the
    trials its latest run asked for.

    Args:
      directory: a directory written by ``rmtjax run``.

    Returns:
      A :class:`CheckReport`.
    """
    root, report = Path(directory), CheckReport()
    try:
        top = Store(root, "results", None, writer=False)
    except StoreError as e:
        report.problems.append(str(e))
        return report
    if not top.exists:
        report.problems.append(f"{root} has no {MANIFEST}: not an rmtjax results directory")
        return report
    experiment, fp = top.identity.get("experiment"), top.identity.get("fingerprint", "")
    state = _check_files(top, report)
    report.lines.append(
        f"{root}: experiment {experiment}, fingerprint {str(fp)[:16]}, "
        f"{len(top.files())} files {state}"
    )
    complete = _check_summary(top, report)
    finished = top.manifest["info"].get("finished", [])
    for path in sorted(p for p in root.rglob(MANIFEST) if p.parent != root):
        gaps = _check_substore(path.parent, str(fp), report, root)
        rel = path.parent.relative_to(root).as_posix()
        if not complete and not gaps and rel.startswith("chunks/") and rel not in finished:
            report.missing.append(
                f"{rel}: not reached by the interrupted run (trials may be missing)"
            )
    for path in sorted(root.rglob(".*.tmp")):
        if _is_tmp(path.name):
            report.notes.append(
                f"{path} is a stale temporary of an interrupted write (a rerun removes it)"
            )
    return report


def _check_files(store: Store, report: CheckReport) -> str:
    """Add the store's corrupt and missing files to ``report``; return its state in words."""
    corrupt, missing = store.verify()
    report.problems += corrupt
    report.missing += missing
    return "intact" if not corrupt and not missing else "NOT intact"


def _check_summary(top: Store, report: CheckReport) -> bool:
    """Add the state of ``summary.json`` to ``report``; return whether the run completed."""
    if SUMMARY not in top.files():
        report.missing.append(
            f"{top.dir / SUMMARY} is not written: the run stopped before its end "
            f"(rerun `rmtjax run {top.dir / CONFIG} --out {top.dir}` to resume)"
        )
        return False
    try:
        summary = json.loads(top.read_bytes(SUMMARY))
    except (StoreError, ValueError):
        return False  # already reported as corrupt
    expected = {**top.identity, "complete": True}
    if not isinstance(summary, dict) or any(summary.get(k) != v for k, v in expected.items()):
        report.problems.append(
            f"{top.dir / SUMMARY} does not carry this directory's experiment, fingerprint and "
            f'"complete": true; delete it and rerun'
        )
        return False
    report.lines.append(f"{SUMMARY}: complete (written last, carries the fingerprint)")
    return True


def _check_substore(directory: Path, fp: str, report: CheckReport, root: Path) -> bool:
    """Add what the sub-store at ``directory`` holds, and its faults, to ``report``.

    Returns whether a chunk store misses trials of its latest run.
    """
    rel = directory.relative_to(root).as_posix()
    try:
        store = Store(directory, None, None, writer=False)
    except StoreError as e:
        report.problems.append(str(e))
        return False
    if not str(store.identity.get("fingerprint", "")).endswith(fp):
        report.problems.append(
            f"{store.path} belongs to another run (fingerprint); delete {directory} and rerun"
        )
        return False
    state = _check_files(store, report)
    if store.kind == "chunks":
        chunks = ChunkStore(directory, None, writer=False)
        n = int(chunks.manifest["info"].get("n_trials", 0))
        ranges = chunks.ranges()
        stored = sum(min(stop, n) - start for start, stop in ranges if start < n)
        report.lines.append(f"{rel}: {stored} of {n} trials in {len(ranges)} chunks, {state}")
        gaps = ", ".join(f"{lo}..{hi - 1}" for lo, hi in chunks.missing())
        if gaps:
            report.missing.append(f"{rel}: trials {gaps} of {n} are not stored (a rerun runs them)")
            return True
    elif store.kind == "history":
        steps = [name for name in store.files() if _STEP_RE.match(name)]
        checkpoint = "a checkpoint" if _CHECKPOINT in store.files() else "no checkpoint"
        report.lines.append(f"{rel}: {len(steps)} tracking points, {checkpoint}, {state}")
    else:
        report.lines.append(f"{rel}: {store.kind} store, {len(store.files())} files, {state}")
    return False
