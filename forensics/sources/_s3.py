"""CloudTrail from S3: walk the delivery layout for the window, mirror the objects locally.

Listing a whole trail bucket (millions of keys) is the classic bottleneck, so :func:`fetch`
never does. It walks ``AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/<YYYY>/<MM>/<DD>/``
with delimiter listings to discover organisations, accounts and regions (unless given), then
lists only the day folders inside the requested window, with one day of margin on each side
(CloudTrail files a record under the day it delivered it, which can be the next day).

Objects are downloaded in parallel threads into a local mirror of the key layout
(``.forensics-cache/s3/<bucket>/<key>`` by default). Each download goes to a hidden temporary
name and is renamed into place only when complete, and a small append-only index records the
ETag and size of every finished object, so an interrupted fetch resumes where it stopped and a
second fetch of the same window downloads nothing. An object that still fails after the retries
is recorded in the load report with the reason; nothing goes missing silently.

>>> split_url("s3://my-trail/org/AWSLogs/o-abc123/")
('my-trail', 'org/AWSLogs/o-abc123/')
>>> safe_relpath("AWSLogs/111122223333/CloudTrail/x.json.gz")
'AWSLogs/111122223333/CloudTrail/x.json.gz'
>>> safe_relpath("AWSLogs/../../etc/passwd") is None
True
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forensics._errors import SourceError
from forensics.sources._aws import Backoff, describe, error_code, make_session

if TYPE_CHECKING:  # the loader passes its report in; a source never builds one
    from forensics.ingest._report import LoadReport

__all__ = ["S3Object", "fetch", "mirror_root", "safe_relpath", "split_url", "unsafe_key_reason"]

_ONE_DAY = timedelta(days=1)
#: Past this many days a window is walked year/month/day by delimiter listings instead of
#: listing every day folder by name (fewer requests for long windows).
_ENUMERATE_DAYS_UP_TO = 62
_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{4,32}$")
_TRAIL_SUFFIXES = (".json.gz", ".json")
_INDEX = ".forensics-index.jsonl"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class S3Object:
    """One listed object: its key, size and ETag (quotes stripped)."""

    key: str
    size: int
    etag: str


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``(bucket, prefix)``; the prefix ends with ``/`` when not empty."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise SourceError(f"{url}: no bucket name; write s3://BUCKET or s3://BUCKET/PREFIX")
    prefix = prefix.lstrip("/")
    if prefix and not prefix.endswith("/") and not prefix.endswith(_TRAIL_SUFFIXES):
        prefix += "/"
    return bucket, prefix


def mirror_root(url: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The local folder a bucket is mirrored to (``.forensics-cache/s3/<bucket>`` by default)."""
    bucket, _ = split_url(url)
    root = Path(cache_dir) if cache_dir is not None else Path.cwd() / ".forensics-cache" / "s3"
    return root / bucket


def safe_relpath(key: str) -> str | None:
    """The key as a relative path inside the mirror, or None when it would escape it.

    Object keys are chosen by whoever can write to the bucket: ``..``, absolute paths,
    empty segments and backslashes are refused rather than followed.
    """
    return key if unsafe_key_reason(key) is None else None


#: The longest file name (one path segment, in bytes) most file systems take.
_NAME_MAX = 255
#: The longest whole path (bytes) the mirror writes; Linux refuses past 4,096.
_PATH_MAX = 4000


def unsafe_key_reason(key: str, root: Path | None = None) -> str | None:
    """Why an object key cannot be mirrored as it is, or None when it can.

    Refused: ``..``/absolute/empty segments and backslashes (they would escape the mirror),
    any segment starting with ``.`` (the kit keeps its own state in hidden names: the Parquet
    cache ``.forensics-cache/``, the download index, temporary files; a key must never land
    there), and names longer than the file system takes (``root``: the mirror, for the length
    of the whole path).

    >>> unsafe_key_reason(".forensics-cache/index.json")
    'object key has a hidden segment (.forensics-cache): the kit keeps its own state in such names; not downloaded'
    """
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        return "object key is not a safe relative path (.., absolute or empty segments); not downloaded"
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "object key is not a safe relative path (.., absolute or empty segments); not downloaded"
    hidden = next((p for p in parts if p.startswith(".")), None)
    if hidden is not None:
        return (
            f"object key has a hidden segment ({hidden[:40]}): the kit keeps its own state "
            "in such names; not downloaded"
        )
    longest = max(len(p.encode("utf-8", "surrogatepass")) + 20 for p in parts)  # + temp suffix
    total = len(os.fsencode(str(root / key))) if root is not None else 0
    if longest > _NAME_MAX or total > _PATH_MAX:
        return (
            "object key is too long for a local file name (a segment passes "
            f"{_NAME_MAX - 20} bytes or the path {_PATH_MAX:,}); not downloaded"
        )
    return None


def _day_bounds(start: datetime | None, end: datetime | None) -> tuple[date | None, date | None]:
    lo = start.date() - _ONE_DAY if start is not None else None
    hi = end.date() + _ONE_DAY if end is not None else None
    return lo, hi


class _Lister:
    """Delimiter listings and flat listings, retried, counted."""

    def __init__(self, client: Any, bucket: str, backoff: Backoff) -> None:
        self.client = client
        self.bucket = bucket
        self.backoff = backoff
        self.requests = 0
        self._lock = threading.Lock()

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            args = dict(Bucket=self.bucket, **kwargs)
            if token:
                args["ContinuationToken"] = token
            page = self.backoff.call(lambda args=args: self.client.list_objects_v2(**args))
            with self._lock:
                self.requests += 1
            yield page
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")
            if not token:
                return

    def folders(self, prefix: str) -> list[str]:
        """The child "folders" (CommonPrefixes) of ``prefix``, as names without slashes."""
        out: list[str] = []
        for page in self._pages(Prefix=prefix, Delimiter="/"):
            for cp in page.get("CommonPrefixes", []) or []:
                name = cp["Prefix"][len(prefix) :].rstrip("/")
                if name:
                    out.append(name)
        return sorted(set(out))

    def objects(self, prefix: str) -> list[S3Object]:
        """Every object under ``prefix`` (recursively)."""
        out = []
        for page in self._pages(Prefix=prefix):
            for obj in page.get("Contents", []) or []:
                out.append(
                    S3Object(
                        obj["Key"], int(obj.get("Size", 0)), str(obj.get("ETag", "")).strip('"')
                    )
                )
        return out


@dataclass
class _Plan:
    """Which prefixes to list, and what the walk found (for the report)."""

    leaves: list[str]
    accounts: set[str]
    regions: set[str]


def _walk(
    lister: _Lister,
    root: str,
    *,
    start: datetime | None,
    end: datetime | None,
    accounts: set[str] | None,
    regions: set[str] | None,
    kinds: tuple[str, ...],
) -> _Plan:
    """Expand ``root`` (``.../AWSLogs/`` or deeper) into the day prefixes of the window."""
    lo, hi = _day_bounds(start, end)
    plan = _Plan([], set(), set())
    base, _, rest = root.partition("AWSLogs/")
    base += "AWSLogs/"
    segs = [s for s in rest.split("/") if s]

    def go(prefix: str, segs: list[str]) -> None:
        org = 1 if segs and _ORG.match(segs[0]) else 0
        depth = len(segs) - org  # 0: nothing, 1: account, 2: kind, 3: region, 4: y, 5: m, 6: d
        if depth == 0:
            for name in lister.folders(prefix):
                is_org = not org and _ORG.match(name)
                wanted = _ACCOUNT.match(name) and (accounts is None or name in accounts)
                if is_org or wanted:
                    go(f"{prefix}{name}/", [*segs, name])
            return
        if depth == 1:
            account = segs[org]
            if accounts is not None and account not in accounts:
                return
            plan.accounts.add(account)
            for kind in kinds:  # never list the account folder: the kinds are known names
                go(f"{prefix}{kind}/", [*segs, kind])
            return
        if depth == 2:
            plan.accounts.add(segs[org])
            if segs[org + 1] not in kinds:
                return
            names = sorted(regions) if regions is not None else lister.folders(prefix)
            for region in names:
                go(f"{prefix}{region}/", [*segs, region])
            return
        if depth == 3:
            region = segs[org + 2]
            if regions is not None and region not in regions:
                return
            plan.regions.add(region)
            if lo is None and hi is None:  # no window: one flat listing of the region is cheapest
                plan.leaves.append(prefix)
                return
            if lo is not None and hi is not None and (hi - lo).days <= _ENUMERATE_DAYS_UP_TO:
                day = lo
                while day <= hi:
                    plan.leaves.append(f"{prefix}{day:%Y/%m/%d}/")
                    day += _ONE_DAY
                return
            for y in lister.folders(prefix):
                if (
                    y.isdigit()
                    and (lo is None or int(y) >= lo.year)
                    and (hi is None or int(y) <= hi.year)
                ):
                    go(f"{prefix}{y}/", [*segs, y])
            return
        if depth in (4, 5):
            for name in lister.folders(prefix):
                if not name.isdigit():
                    continue
                try:
                    if depth == 4:  # a month folder: its first and last day
                        y, m = int(segs[-1]), int(name)
                        first = date(y, m, 1)
                        last = date(y + m // 12, m % 12 + 1, 1) - _ONE_DAY
                    else:
                        first = last = date(int(segs[-2]), int(segs[-1]), int(name))
                except (ValueError, OverflowError):  # not a date: not CloudTrail's layout
                    continue
                if (lo is not None and last < lo) or (hi is not None and first > hi):
                    continue
                go(f"{prefix}{name}/", [*segs, name])
            return
        # a day folder (or deeper): list it whole
        plan.leaves.append(prefix)

    go(base + "/".join(segs) + ("/" if segs else ""), segs)
    return plan


def _find_roots(lister: _Lister, prefix: str) -> list[str]:
    """The ``AWSLogs/`` folders to walk for a URL prefix (empty: not in the delivery layout)."""
    if "AWSLogs/" in prefix or prefix.endswith("AWSLogs/"):
        return [prefix]
    if "AWSLogs" in lister.folders(prefix):
        return [f"{prefix}AWSLogs/"]
    return []


class _Index:
    """Append-only ``key -> (etag, size)`` index of finished downloads; torn lines are ignored."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / _INDEX
        self.entries: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()
        lines = 0
        if self.path.exists():
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        row = json.loads(line)
                        self.entries[row["key"]] = (str(row["etag"]), int(row["size"]))
                        lines += 1
                    except (ValueError, KeyError, TypeError):
                        continue
        if lines > 2 * len(self.entries) + 100:
            self._compact()

    def _compact(self) -> None:
        tmp = self.path.with_name(f".{_INDEX}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for key, (etag, size) in self.entries.items():
                fh.write(json.dumps({"key": key, "etag": etag, "size": size}) + "\n")
        os.replace(tmp, self.path)

    def fresh(self, obj: S3Object, local: Path) -> bool:
        """True when ``local`` already holds this exact object."""
        if self.entries.get(obj.key) != (obj.etag, obj.size):
            return False
        try:
            return local.stat().st_size == obj.size
        except OSError:
            return False

    def record(self, obj: S3Object) -> None:
        line = json.dumps({"key": obj.key, "etag": obj.etag, "size": obj.size}) + "\n"
        with self._lock:
            self.entries[obj.key] = (obj.etag, obj.size)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)


#: Beside the mirror (hidden: never read as logs); forensics/integrity/_keys.py reads them.
SIGNATURES_FILE = ".forensics-digest-signatures.jsonl"
PUBLIC_KEYS_FILE = ".forensics-public-keys.json"
_DIGEST_STAMP = re.compile(r"_(\d{8}T\d{6}Z)\.json(?:\.gz)?$")
_DIGEST_REGION = re.compile(r"/CloudTrail-Digest/([a-z0-9-]+)/")


def _is_digest_key(key: str) -> bool:
    return "/CloudTrail-Digest/" in f"/{key}"


class _Signatures:
    """Append-only index of each digest object's signature metadata (``x-amz-meta-signature``,
    ``x-amz-meta-signature-algorithm``): the signature is not in the file, and verifying a
    digest needs it."""

    def __init__(self, folder: Path, bucket: str) -> None:
        self.path = folder / SIGNATURES_FILE
        self.bucket = bucket
        self.entries: dict[str, str] = {}  # key -> etag
        self._lock = threading.Lock()
        if self.path.exists():
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        row = json.loads(line)
                        self.entries[row["key"]] = str(row.get("etag", ""))
                    except (ValueError, KeyError, TypeError):
                        continue

    def has(self, obj: S3Object) -> bool:
        """True unless ``obj`` is a digest whose signature metadata is not indexed yet."""
        return not _is_digest_key(obj.key) or self.entries.get(obj.key) == obj.etag

    def record(self, obj: S3Object, metadata: dict[str, str]) -> None:
        meta = {k.lower(): v for k, v in metadata.items()}
        line = (
            json.dumps(
                {
                    "bucket": self.bucket,
                    "key": obj.key,
                    "etag": obj.etag,
                    "signature": meta.get("signature"),
                    "signature_algorithm": meta.get("signature-algorithm"),
                }
            )
            + "\n"
        )
        with self._lock:
            self.entries[obj.key] = obj.etag
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)


def _fetch_public_keys(
    boto: Any,
    mirror: Path,
    digest_keys: list[str],
    start: datetime | None,
    end: datetime | None,
    retry: Backoff,
) -> str:
    """``cloudtrail:ListPublicKeys`` for every region of the digests, over their time span,
    merged into ``<mirror>/.forensics-public-keys.json``; returns a note for the report."""
    import base64

    stamps = sorted(
        datetime.strptime(m[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        for k in digest_keys
        if (m := _DIGEST_STAMP.search(k))
    )
    lo = start or (stamps[0] if stamps else None)
    hi = end or (stamps[-1] if stamps else None)
    if lo is None or hi is None:
        return "public keys not fetched: no digest key carries its time"
    lo, hi = lo - _ONE_DAY, min(hi + _ONE_DAY, datetime.now(UTC))
    regions = sorted({m[1] for k in digest_keys if (m := _DIGEST_REGION.search(f"/{k}"))})
    path = mirror / PUBLIC_KEYS_FILE
    keys: dict[str, dict[str, Any]] = {}
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):  # none yet, or torn
        keys = {k["Fingerprint"]: k for k in json.loads(path.read_text())["PublicKeyList"]}
    failed: list[str] = []
    for region in regions:
        client = boto.client("cloudtrail", region_name=region)
        token = None
        try:
            while True:
                args: dict[str, Any] = {"StartTime": lo, "EndTime": hi}
                if token:
                    args["NextToken"] = token
                page = retry.call(lambda a=args, c=client: c.list_public_keys(**a))
                for k in page.get("PublicKeyList", []):
                    keys[k["Fingerprint"]] = {
                        "Fingerprint": k["Fingerprint"],
                        "Region": region,
                        "Value": base64.b64encode(k["Value"]).decode(),
                        "ValidityStartTime": _iso(k.get("ValidityStartTime")),
                        "ValidityEndTime": _iso(k.get("ValidityEndTime")),
                    }
                token = page.get("NextToken")
                if not token:
                    break
        except Exception as exc:
            failed.append(f"{region} ({describe(exc)})")
    tmp = path.with_name(f".{PUBLIC_KEYS_FILE}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps({"PublicKeyList": list(keys.values())}, indent=1))
    os.replace(tmp, path)
    note = f"{len(keys):,} CloudTrail public key(s) for {len(regions)} region(s) in {path}"
    if failed:
        note += (
            "; ListPublicKeys failed in "
            + ", ".join(failed)
            + ": digests signed there stay 'not verifiable' (the policy needs "
            "cloudtrail:ListPublicKeys)"
        )
    return note


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _download(
    client: Any,
    bucket: str,
    obj: S3Object,
    local: Path,
    backoff: Backoff,
    on_bytes: Any,
    on_metadata: Any = None,
) -> S3Object:
    """Stream one object to a hidden temporary file, check its size, rename it into place;
    returns the object as fetched (its ETag and size from the GetObject response).
    ``on_metadata(fetched, metadata)`` receives the object's user metadata (digests: their
    signature) once the file is in place."""
    local.parent.mkdir(parents=True, exist_ok=True)
    got: list[S3Object] = []

    def attempt() -> None:
        tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex[:8]}.part")
        done = 0
        try:
            response = client.get_object(Bucket=bucket, Key=obj.key)
            body = response["Body"]
            with open(tmp, "wb") as fh:
                for chunk in iter(lambda: body.read(_CHUNK), b""):
                    fh.write(chunk)
                    done += len(chunk)
                    on_bytes(len(chunk))
            expected = int(response.get("ContentLength", obj.size))
            if done != expected:
                raise ConnectionError(f"incomplete download: {done:,} of {expected:,} bytes")
            os.replace(tmp, local)
            # the object may have been replaced since it was listed: index what was fetched
            got.append(S3Object(obj.key, done, str(response.get("ETag", obj.etag)).strip('"')))
            if on_metadata is not None:
                on_metadata(got[-1], response.get("Metadata") or {})
        except BaseException:
            on_bytes(-done)
            tmp.unlink(missing_ok=True)
            raise

    backoff.call(attempt)
    return got[-1]


def _failure_reason(exc: BaseException, attempts: int) -> str:
    code = error_code(exc)
    if code in ("NoSuchKey", "404"):
        return "object was listed but is gone (NoSuchKey: deleted between listing and download)"
    if code in ("AccessDenied", "403"):
        return "access denied on GetObject; the policy needs s3:GetObject on this key (and KMS decrypt if SSE-KMS)"
    return f"download failed after {attempts} attempt(s): {describe(exc)}"


def _clean_stale_temps(folders: Iterable[Path]) -> int:
    """Remove temporary files an interrupted fetch left in these folders (never read)."""
    removed = 0
    for folder in folders:
        try:  # a folder the OS cannot even name must cost only its object, never the fetch
            if not folder.is_dir():
                continue
            stale = list(folder.glob(".*.part"))
        except OSError:
            continue
        for path in stale:
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass
    return removed


def _parallel(fn: Any, items: list[Any], workers: int) -> Iterator[Any]:
    """``map`` over threads; an interruption (Ctrl-C, an error) cancels what has not started."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        yield from pool.map(fn, items)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _progress_bar(total: int, count: int, enabled: bool | None, desc: str) -> Any:
    from tqdm.auto import tqdm

    disable = enabled is False or count == 0
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        disable=disable,
        leave=False,
    )


def fetch(
    url: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    report: LoadReport | None = None,
    session: Any = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 8,
    progress: bool | None = None,
    digests: bool = False,
    insights: bool = False,
    attempts: int = 5,
    backoff: float = 0.5,
) -> list[str]:
    """Download the trail files of an S3 location for a window; return their local paths.

    Called by :func:`forensics.load` for ``s3://`` paths (with ``remote=`` as extra options),
    so the files are then read exactly like local files, with the same report.

    Parameters
    ----------
    url
        ``s3://bucket``, ``s3://bucket/prefix`` (a folder holding ``AWSLogs/``) or any folder
        inside the layout, e.g. ``s3://bucket/AWSLogs/o-abc/111122223333/CloudTrail/``. A
        prefix outside the layout is listed as it is (with a note in the report).
    start, end
        The window (aware UTC datetimes); only day folders from ``start - 1 day`` to
        ``end + 1 day`` are listed.
    accounts, regions
        Only these accounts / regions (otherwise discovered by delimiter listings).
    report
        The load report: failed objects are added to its failures, what was done to its notes.
        Without a report, failures raise :class:`~forensics.SourceError` at the end.
    session, profile
        A ``boto3.Session`` or the name of a profile; otherwise boto3's default chain.
    cache_dir
        The mirror's root (default ``.forensics-cache/s3`` in the current folder); objects go
        to ``<cache_dir>/<bucket>/<key>``.
    workers
        Download threads.
    progress
        Show a progress bar (``tqdm.auto``); ``False`` turns it off.
    digests, insights
        Also fetch ``CloudTrail-Digest`` / ``CloudTrail-Insight`` files (skipped by default).
    attempts, backoff
        Tries per request and the base of the exponential backoff between them, in seconds.

    Returns
    -------
    list[str]
        Local paths of every object of the request that is now in the mirror, sorted.

    Examples
    --------
    >>> import boto3, forensics as fx  # doctest: +SKIP
    >>> trail = fx.load("s3://my-org-trail", start="2026-11-01", end="2026-11-03",
    ...                 regions=["us-east-1"], remote={"profile": "ir-readonly"})  # doctest: +SKIP
    """
    bucket, prefix = split_url(url)
    want_accounts = set(accounts) if accounts else None
    want_regions = set(regions) if regions else None
    kinds = (
        ("CloudTrail",)
        + (("CloudTrail-Digest",) if digests else ())
        + (("CloudTrail-Insight",) if insights else ())
    )
    boto = make_session(session, profile)
    from botocore.config import Config

    client = boto.client("s3", config=Config(max_pool_connections=max(10, workers + 2)))
    retry = Backoff(attempts=attempts, base=backoff)
    lister = _Lister(client, bucket, retry)
    failures: list[tuple[str, str]] = []
    notes: list[str] = []

    # 1. which prefixes to list
    try:
        if prefix.endswith(_TRAIL_SUFFIXES):  # a single object
            roots: list[str] = []
            leaves = [prefix]
            plan = _Plan(leaves, set(), set())
        else:
            roots = _find_roots(lister, prefix)
            if roots:
                plan = _walk(
                    lister,
                    roots[0],
                    start=start,
                    end=end,
                    accounts=want_accounts,
                    regions=want_regions,
                    kinds=kinds,
                )
            else:
                plan = _Plan([prefix], set(), set())
                notes.append(
                    f"{url}: no AWSLogs/ folder under this prefix; listed it whole "
                    "(no pruning by window, account or region before download)"
                )
    except Exception as exc:
        code = error_code(exc)
        hint = {
            "NoSuchBucket": "check the bucket name",
            "AccessDenied": "the credentials need s3:ListBucket on this bucket "
            "(see docs/iam-policy.json)",
        }.get(code or "", "check the URL, the credentials and the network")
        raise SourceError(f"{url}: cannot list the bucket ({describe(exc)}); {hint}") from exc

    # 2. list the leaves (in parallel: one request per day folder and region)
    listed: list[S3Object] = []
    skipped_digests = 0

    def list_leaf(leaf: str) -> tuple[str, list[S3Object] | None, str | None]:
        try:
            return leaf, lister.objects(leaf), None
        except Exception as exc:
            return leaf, None, describe(exc)

    for leaf, objs, err in _parallel(list_leaf, plan.leaves, workers):
        if err is not None:
            failures.append((f"s3://{bucket}/{leaf}", f"could not list this prefix: {err}"))
            continue
        for obj in objs or []:
            if obj.key.endswith("/"):
                continue
            if not digests and "/CloudTrail-Digest/" in f"/{obj.key}":
                skipped_digests += 1
                continue
            listed.append(obj)

    # 3. mirror them
    mirror = mirror_root(url, cache_dir)
    mirror.mkdir(parents=True, exist_ok=True)
    index = _Index(mirror)
    signed = _Signatures(mirror, bucket) if digests else None
    todo: list[tuple[S3Object, Path]] = []
    ready: list[str] = []
    for obj in listed:
        unsafe = unsafe_key_reason(obj.key, mirror)
        if unsafe is not None:
            failures.append((f"s3://{bucket}/{obj.key}", unsafe))
            continue
        local = mirror / obj.key
        if index.fresh(obj, local) and (signed is None or signed.has(obj)):
            ready.append(str(local))
        else:
            todo.append((obj, local))

    stale = _clean_stale_temps({local.parent for _, local in todo})
    total = sum(o.size for o, _ in todo)
    bar = _progress_bar(total, len(todo), progress, f"s3://{bucket}")
    lock = threading.Lock()

    def on_bytes(n: int) -> None:
        with lock:
            bar.update(n)

    def get(item: tuple[S3Object, Path]) -> tuple[S3Object, Path, BaseException | None]:
        obj, local = item
        try:
            fetched = _download(
                client,
                bucket,
                obj,
                local,
                retry,
                on_bytes,
                signed.record if signed is not None and _is_digest_key(obj.key) else None,
            )
        except Exception as exc:
            return obj, local, exc
        index.record(fetched)
        return obj, local, None

    downloaded = 0
    try:
        for obj, local, exc in _parallel(get, todo, workers):
            if exc is not None:
                failures.append((f"s3://{bucket}/{obj.key}", _failure_reason(exc, attempts)))
            else:
                downloaded += 1
                ready.append(str(local))
    finally:
        bar.close()

    # 4. the public keys the digests were signed with (validate-logs needs them too)
    if digests:
        digest_keys = [o.key for o in listed if _is_digest_key(o.key)]
        fetched_digests = any(_is_digest_key(o.key) for o, _ in todo)
        if digest_keys and (fetched_digests or not (mirror / PUBLIC_KEYS_FILE).exists()):
            notes.append(_fetch_public_keys(boto, mirror, digest_keys, start, end, retry))

    # 5. say what happened
    where = f"s3://{bucket}/{prefix}"
    scope = []
    if plan.accounts:
        scope.append(f"{len(plan.accounts)} account(s)")
    if plan.regions:
        scope.append(f"{len(plan.regions)} region(s)")
    notes.append(
        f"{where}: {lister.requests:,} list request(s) over {len(plan.leaves):,} prefix(es)"
        + (f" ({', '.join(scope)})" if scope else "")
        + f"; {len(listed):,} object(s): {downloaded:,} downloaded"
        + f" ({sum(o.size for o, _ in todo):,} bytes), {len(ready) - downloaded:,} already in "
        + f"the local mirror {mirror}"
        + (f"; {skipped_digests:,} digest file(s) not fetched" if skipped_digests else "")
        + (f"; {retry.retries:,} retried request(s)" if retry.retries else "")
        + (f"; removed {stale:,} partial download(s) of an interrupted fetch" if stale else "")
    )
    if report is not None:
        report.notes.extend(notes)
        for path, reason in failures:
            report.add_failure(path, reason)
    elif failures:
        listing = "; ".join(f"{p}: {r}" for p, r in failures[:5])
        raise SourceError(f"{len(failures)} object(s) could not be fetched: {listing}")
    return sorted(ready)
