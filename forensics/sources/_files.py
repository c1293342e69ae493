"""Finding trail files: paths, folders (recursive), globs; pruning by the S3 delivery layout.

CloudTrail delivers to ``AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/<YYYY>/<MM>/<DD>/``;
when a file's path follows that layout, ``accounts=``, ``regions=`` and the day bounds of
``start=``/``end=`` decide whether it is opened at all.

>>> info = layout_of("x/AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/2024/03/05/f.json.gz")
>>> info.account, info.region, info.day.isoformat()
('111122223333', 'eu-west-1', '2024-03-05')
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

__all__ = ["FileRef", "Layout", "discover", "is_digest_path", "layout_of"]

_LAYOUT = re.compile(
    r"AWSLogs/(?:o-[a-z0-9]+/)?(?P<account>\d{12})/(?P<kind>CloudTrail(?:-Digest|-Insight)?)/"
    r"(?P<region>[a-z0-9-]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/"
)
_ONE_DAY = timedelta(days=1)
_TRAIL_SUFFIXES = (
    ".json",
    ".json.gz",
    ".jsonl",
    ".jsonl.gz",
    ".ndjson",
    ".ndjson.gz",
    ".log",
    ".log.gz",
    ".gz",
    ".cloudtrail",
)


@dataclass(frozen=True)
class Layout:
    """What a path in the S3 delivery layout says about its file."""

    account: str
    region: str
    day: date
    kind: str  # CloudTrail, CloudTrail-Digest, CloudTrail-Insight


@dataclass(frozen=True)
class FileRef:
    """One file to read: its path (as given/found), size, modification time, inode, ctime."""

    path: str
    size: int
    mtime_ns: int
    layout: Layout | None = None
    #: The file's inode and status-change time: a rewrite that keeps size and mtime (``touch
    #: -r``, a restore) still changes them, so the cache never serves stale rows.
    inode: int = 0
    ctime_ns: int = 0

    @property
    def is_digest(self) -> bool:
        return is_digest_path(self.path)


def layout_of(path: str) -> Layout | None:
    """The account, region and day a delivery path encodes (None for loose files)."""
    m = _LAYOUT.search(path.replace(os.sep, "/"))
    if not m:
        return None
    try:
        day = date(int(m["y"]), int(m["m"]), int(m["d"]))
    except ValueError:
        return None
    return Layout(m["account"], m["region"], day, m["kind"])


def is_digest_path(path: str) -> bool:
    """True for CloudTrail-Digest delivery files (``.../CloudTrail-Digest/...`` or ``*-Digest_*``)."""
    p = path.replace(os.sep, "/")
    return "/CloudTrail-Digest/" in p or "_CloudTrail-Digest_" in os.path.basename(p)


def _looks_like_trail_file(path: str, name: str | None = None) -> bool:
    """By name (``.json``, ``.json.gz``, ``.jsonl``, ...); a name with no extension at all (what
    Kinesis Data Firehose writes) is sniffed: gzip, or text starting like JSON."""
    name = (name if name is not None else os.path.basename(path)).lower()
    if name.startswith("."):
        return False
    if name.endswith(_TRAIL_SUFFIXES):
        return True
    if "." in name:
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return True  # let the reader report why it cannot be read
    return head[:2] == b"\x1f\x8b" or head[:1] in (b"{", b"[")


def _walk(
    root: str, ignored: list[str] | None = None, errors: list[tuple[str, str]] | None = None
) -> Iterable[tuple[str, str, os.DirEntry[str]]]:
    """``(path, folder, entry)`` of the trail files under ``root``, in sorted order.

    Hidden folders are skipped and symbolic links to folders are not followed (as ``os.walk``).
    A folder that cannot be listed is reported in ``errors``, never skipped silently.
    """
    stack = [root]  # folders still to list, the next one last (no recursion: deep trees)
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if errors is not None:
                errors.append(
                    (str(exc.filename or folder), f"cannot list folder: {exc.strerror or exc}")
                )
            continue
        subfolders = []
        for entry in entries:
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
                linked_folder = not is_folder and entry.is_symlink() and entry.is_dir()
            except OSError:
                is_folder = linked_folder = False
            if is_folder:
                if not entry.name.startswith("."):
                    subfolders.append(entry.path)
            elif linked_folder:
                continue
            elif not _is_regular(entry):  # a FIFO would block the load forever: report it
                if errors is not None and not entry.name.startswith("."):
                    errors.append((entry.path, NOT_REGULAR))
            elif _looks_like_trail_file(entry.path, entry.name):
                yield entry.path, folder, entry
            elif ignored is not None and not entry.name.startswith("."):
                ignored.append(entry.path)
        stack.extend(reversed(subfolders))


#: The reason a FIFO, socket or device file is not read (as the reader says it).
NOT_REGULAR = "not a regular file (a FIFO, socket or device); not read"


def _is_regular(entry: os.DirEntry[str]) -> bool:
    """A regular file (through a link), or one that cannot be examined (the reader reports
    why); never a FIFO, socket or device."""
    try:
        return entry.is_file()
    except OSError:
        return True


class _FolderStat:
    """``stat`` of walked files relative to their folder, kept open (``dir_fd``): the kernel
    does not resolve the whole path again for each file (measured: a third less time over the
    30,000 files of the benchmark trail). Files come folder by folder: one folder open at once.
    """

    def __init__(self) -> None:
        self._folder: str | None = None
        self._fd: int | None = None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._folder = None

    __del__ = close

    def __call__(self, path: str, folder: str, entry: os.DirEntry[str] | None) -> os.stat_result:
        if entry is None or os.stat not in os.supports_dir_fd:
            return entry.stat() if entry is not None else os.stat(path)
        if folder != self._folder:
            self.close()
            try:
                self._fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            except OSError:
                return entry.stat()
            self._folder = folder
        return os.stat(entry.name, dir_fd=self._fd)


def _day(value: datetime | date | None) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value


def discover(
    paths: Iterable[str | os.PathLike[str]],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    ignored: list[str] | None = None,
    on_listed: Callable[[int], object] | None = None,
) -> tuple[list[FileRef], list[tuple[str, str]], int]:
    """Expand paths into files to read.

    Returns ``(files, missing, pruned)``: the files (sorted, each once), the paths that matched
    nothing (with a reason) and how many files the layout placed outside the request. Files a
    folder walk passed over (names that are not trail files: ``README.md``, ``logs.zip``, ...)
    are appended to ``ignored`` when a list is given. ``on_listed(n)`` is called once the
    paths are expanded (``n`` files found), before each file is examined.
    """
    want_accounts = set(accounts) if accounts else None
    want_regions = set(regions) if regions else None
    lo, hi = _day(start), _day(end)
    found: dict[str, tuple[str, os.DirEntry[str] | None]] = {}  # path -> (folder, entry)
    missing: list[tuple[str, str]] = []
    for raw in paths:
        p = os.fspath(raw)
        matches: list[tuple[str, str, os.DirEntry[str] | None]]
        if os.path.isdir(p):
            before = len(missing)
            matches = list(_walk(p, ignored, missing))
            if not matches and len(missing) == before:
                missing.append((p, "folder holds no trail files (.json, .json.gz, .jsonl, ...)"))
        elif os.path.exists(p):
            if not os.path.isfile(p):  # a FIFO, socket or device named on the command line
                missing.append((p, NOT_REGULAR))
                continue
            matches = [(p, os.path.dirname(p), None)]
        elif glob.has_magic(p):
            matches = []
            for m in sorted(glob.glob(p, recursive=True)):
                if os.path.isdir(m):
                    matches.extend(_walk(m, ignored, missing))
                elif not os.path.isfile(m):
                    missing.append((m, NOT_REGULAR))
                else:
                    matches.append((m, os.path.dirname(m), None))
            if not matches:
                missing.append((p, "pattern matched no files"))
        else:
            missing.append(
                (
                    p,
                    "no such file or folder; check the path (relative paths start at "
                    f"{Path.cwd()})",
                )
            )
            continue
        for path, folder, entry in matches:
            found.setdefault(path, (folder, entry))
    if on_listed is not None:
        on_listed(len(found))
    files: list[FileRef] = []
    pruned = 0
    layouts: dict[str, Layout | None] = {}  # the layout is the folder's: parse each folder once
    stat = _FolderStat()
    for path, (folder, entry) in found.items():
        if folder in layouts:
            lay = layouts[folder]
        else:
            lay = layouts[folder] = layout_of(os.path.join(folder, ""))
        if lay is not None and (
            (want_accounts is not None and lay.account not in want_accounts)
            or (want_regions is not None and lay.region not in want_regions)
            # a day folder can hold records from either neighbouring day (delivery lag): keep a
            # one-day margin so that pruning never loses an event inside the window
            or (lo is not None and lay.day < lo - _ONE_DAY)
            or (hi is not None and lay.day > hi + _ONE_DAY)
        ):
            pruned += 1
            continue
        try:
            st = stat(path, folder, entry)
        except OSError as exc:
            missing.append((path, f"cannot stat: {exc.strerror or exc}"))
            continue
        files.append(FileRef(path, st.st_size, st.st_mtime_ns, lay, st.st_ino, st.st_ctime_ns))
    stat.close()
    return files, missing, pruned
