"""`python -m bench.verify_month`: a 31-day `verify --metadata-only` over a million listed recordings.

SignalWire's side is a space in its own process whose LaML list pages are generated as they are asked
for (recording i of N made at a fixed step back from the window's end, SID uuid5(i), the document
localspace.FakeRecording.metadata() gives, paged by PageToken as localspace/listing.py does), so a
million rows cost it no memory. The archive's side is `GeneratedStore`, a read-only Store whose
listing of a day prefix yields, in key order, a complete agreeing manifest and audio pair for each of
that day's recordings: two million objects do not fit fake-gcs-server on this machine, and what is
measured is verify's own memory and time, not a bucket's. `verify` runs in a process of its own;
its peak RSS is the kernel's VmHWM. Figures go to bench/verify-results.json; `--quick` runs a small
size only, as a smoke test of the same code.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from archiver.manifest import AUDIO_BYTES as RECORDED_BYTES
from archiver.manifest import AUDIO_CRC32C, AUDIO_OBJECT, AUDIO_SHA256, AUDIO_SIZE_VERIFIED
from archiver.storage import Retention, StoredObject, VerifyingReader
from bench.common import logger

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOKEN = "PT_bench_token"
PROJECT = "0b3c5d2e-1f4a-4e6b-9c8d-7a6b5c4d3e2f"
UNTIL = datetime(2026, 11, 30, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=31)
PAGE = 1000
AUDIO_BYTES = 48_000
FULL = [100_000, 300_000, 1_000_000]
QUICK = [5_000]
TARGET_KIB = 256 * 1024


log = logger("bench.verify_month")


def sid_of(index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-verify/{index}"))


class Plan:
    """N recordings spread evenly over the window, newest first: recording i and its creation time."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.step = (UNTIL - SINCE) / count

    def created(self, index: int) -> datetime:
        return (UNTIL - self.step * (index + 0.5)).replace(microsecond=0)

    def indices_on(self, day: datetime) -> range:
        """The recordings made on `day` (UTC): a contiguous run, since creation falls with the index."""
        start = max(0, int((UNTIL - (day + timedelta(days=1))) / self.step) - 1)
        stop = min(self.count, int((UNTIL - day) / self.step) + 2)
        return range(start, stop)


def serve(count: int) -> None:
    """The generated space, in this process until it is stopped; prints its URL first."""
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    from localspace.space import FakeRecording

    plan = Plan(count)
    laml = f"/api/laml/2010-04-01/Accounts/{PROJECT}/Recordings.json"

    def laml_page(request: Request) -> dict[str, Any]:
        size = min(int(request.args.get("PageSize", 50)), 1000)
        page = int(request.args.get("Page", 0))
        token = request.args.get("PageToken", "")
        offset = int(base64.urlsafe_b64decode(token[2:]).decode()) if page else 0
        rows = range(offset, min(offset + size, count))
        more = offset + size < count
        kept = {k: v for k, v in request.args.items() if k not in ("Page", "PageToken", "PageSize")}
        cursor = "PA" + base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        next_query = kept | {"Page": str(page + 1), "PageSize": str(size), "PageToken": cursor}
        return {
            "uri": request.full_path,
            "first_page_uri": f"{laml}?{urlencode(kept | {'Page': '0', 'PageSize': str(size)})}",
            "next_page_uri": f"{laml}?{urlencode(next_query)}" if more else None,
            "previous_page_uri": None,
            "page": page,
            "page_size": size,
            "recordings": [
                FakeRecording(sid_of(i), PROJECT, AUDIO_BYTES, created=plan.created(i)).metadata() for i in rows
            ],
        }

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/__stats":
            body: dict[str, Any] = {}
        elif request.path == laml:
            body = laml_page(request)
        elif request.path == "/api/relay/rest/recordings":
            origin = request.host_url.rstrip("/")
            body = {"links": {"self": origin + request.full_path, "first": origin + request.path}, "data": []}
        else:
            return Response(status=404)(environ, start_response)
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


class GeneratedStore:
    """A read-only Store whose day prefixes list a complete, agreeing pair for every planned recording."""

    def __init__(self, count: int) -> None:
        self.plan = Plan(count)
        self.listings = 0

    def uri(self, key: str) -> str:
        return f"gs://bench/{key}"

    def list_objects(self, prefix: str, start: str = "") -> Iterator[StoredObject]:
        self.listings += 1
        parts = prefix.rstrip("/").split("/")
        if len(parts) != 4 or parts[0] != PROJECT:
            return
        day = datetime(int(parts[1]), int(parts[2]), int(parts[3]), tzinfo=UTC)
        # Key order: a day's recordings by SID, each manifest (.json) before its audio (.wav).
        named = sorted(
            (sid_of(i), self.plan.created(i))
            for i in self.plan.indices_on(day)
            if self.plan.created(i).date() == day.date()
        )
        for sid, created in named:
            for obj in self._pair(prefix, sid, created):
                if obj.key >= start:
                    yield obj

    def _pair(self, prefix: str, sid: str, created: datetime) -> tuple[StoredObject, StoredObject]:
        audio_key, manifest_key = f"{prefix}{sid}.wav", f"{prefix}{sid}.json"
        sha = uuid.uuid5(uuid.NAMESPACE_OID, sid).hex * 2
        described = {"sha256": sha, "date-created": created.isoformat()}
        audio = StoredObject(audio_key, self.uri(audio_key), AUDIO_BYTES, "AAAAAA==", 1, "audio/wav", described)
        recorded = {
            AUDIO_OBJECT: audio.uri,
            RECORDED_BYTES: str(AUDIO_BYTES),
            AUDIO_CRC32C: "AAAAAA==",
            AUDIO_SHA256: sha,
            AUDIO_SIZE_VERIFIED: "true",
        }
        manifest = StoredObject(manifest_key, self.uri(manifest_key), 900, "BBBBBB==", 1, "application/json", recorded)
        return manifest, audio

    def stat(self, key: str) -> StoredObject | None:
        raise PermissionError(
            f"GeneratedStore answers listings only, and verify of an agreeing window asks no more ({key})"
        )

    def read_bytes(self, key: str) -> bytes:
        raise PermissionError(f"GeneratedStore holds no bytes ({key})")

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        raise PermissionError(f"GeneratedStore holds no bytes ({key})")

    def put(self, key: str, reader: VerifyingReader, content_type: str, metadata: dict[str, str]) -> StoredObject:
        raise PermissionError(f"GeneratedStore is read-only ({key})")

    def set_metadata(
        self, key: str, generation: int, metadata: dict[str, str], retention: Retention | None = None
    ) -> StoredObject:
        raise PermissionError(f"GeneratedStore is read-only ({key})")

    def set_hold(self, key: str, held: bool) -> StoredObject:
        raise PermissionError(f"GeneratedStore is read-only ({key})")

    def delete(self, key: str, generation: int) -> None:
        raise PermissionError(f"GeneratedStore is read-only ({key})")


def measure(count: int, space_url: str, out: Path) -> None:
    """One verify --metadata-only of the window by this checkout's archiver; its figures go to `out`."""
    from collections import Counter

    from archiver import config
    from archiver.service import Service
    from archiver.verify import verify

    settings = config.load(
        {
            "SIGNALWIRE_SPACE_URL": space_url,
            "SIGNALWIRE_PROJECT_ID": PROJECT,
            "SIGNALWIRE_API_TOKEN": TOKEN,
            "ARCHIVE_URI": "gs://bench/calls",
            "RECORDING_FORMAT": "wav",
            "GOOGLE_CLOUD_PROJECT": "bench",
        }
    )
    store = GeneratedStore(count)
    archiver = Service.from_settings(settings, store=store).archiver
    started = time.perf_counter()
    results: Counter[str] = Counter()
    for row in verify(archiver, SINCE, UNTIL, read_bytes=False, concurrency=4, page_size=PAGE):
        results[f"{row['view']}:{row['result']}"] += 1
    seconds = time.perf_counter() - started
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kib = int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
    document = {"seconds": seconds, "peak_kib": peak_kib, "results": results, "archive_listings": store.listings}
    out.write_text(json.dumps(document))


def run(count: int, work: Path) -> dict[str, Any]:
    from localspace.processes import start_space, stop

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    space, url = start_space([sys.executable, "-m", "bench.verify_month", "serve", "--count", str(count)], env=env)
    try:
        out = work / f"verify-{count}.json"
        command = [sys.executable, "-m", "bench.verify_month", "measure", "--count", str(count), "--space", url]
        subprocess.run([*command, "--out", str(out)], cwd=ROOT, env=env, check=True)
        figures: dict[str, Any] = json.loads(out.read_text())
    finally:
        stop(space)
    pages = -(-count // PAGE)
    row = {
        "recordings": count,
        "pages": pages,
        "seconds": round(figures["seconds"], 1),
        "seconds_per_page": round(figures["seconds"] / pages, 4),
        "peak_rss_mib": round(figures["peak_kib"] / 1024, 1),
        "results": figures["results"],
        "archive_listings": figures["archive_listings"],
    }
    log(json.dumps(row))
    if row["results"] != {"signalwire:ok": count}:
        raise SystemExit(f"verify did not find every recording ok: {row['results']}")
    if figures["peak_kib"] > TARGET_KIB:
        raise SystemExit(f"peak RSS {row['peak_rss_mib']} MiB over the 256 MiB target")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.verify_month")
    sub = parser.add_subparsers(dest="command")
    serving = sub.add_parser("serve")
    serving.add_argument("--count", type=int, required=True)
    measuring = sub.add_parser("measure")
    measuring.add_argument("--count", type=int, required=True)
    measuring.add_argument("--space", required=True)
    measuring.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="a small run for CI; figures not recorded")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.count)
        return
    if args.command == "measure":
        measure(args.count, args.space, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        rows = [run(count, Path(tmp)) for count in (QUICK if args.quick else FULL)]
    if len(rows) > 1:
        per_page = [row["seconds_per_page"] for row in rows]
        linear = max(per_page) / min(per_page)
        log(f"seconds per page at {[r['recordings'] for r in rows]}: {per_page} (max/min {linear:.2f})")
    if not args.quick:
        document = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "target_peak_rss_mib": 256,
            "runs": rows,
        }
        (HERE / "verify-results.json").write_text(json.dumps(document, indent=2) + "\n")
        print("wrote bench/verify-results.json")


if __name__ == "__main__":
    main()
