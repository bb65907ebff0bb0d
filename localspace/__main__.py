"""`python -m localspace` (`make space`): a SignalWire space on this machine that `make run` can archive from.

It serves the demo recording and a few generated ones through the documented Recordings API
(metadata, media, listing, delete) and prints the `.env` lines that point the function at it.
The first line printed is the space's URL alone, for programs that start it (demo, bench).
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from localspace.space import Space

DEMO_AUDIO = Path(__file__).resolve().parent.parent / "demo" / "hello.mp3"
# Fixed, so the .env lines printed once keep working each time the space is started again.
PROJECT = "5c0ffee0-1ab5-4c4e-8a1e-000000000001"
TOKEN = "PT_local_space_token"
SIGNING_KEY = "PSK_local_space_signing_key"
DEMO_SID = "5c0ffee0-1ab5-4c4e-8a1e-0000000000d0"


def _recordings(space: Space, specs: list[str], created: dict[str, datetime], relay_specs: list[str]) -> None:
    for spec in relay_specs:
        sid, _, path = spec.partition("=")
        space.add(sid=sid, content=Path(path.removeprefix("@")).read_bytes(), api="relay", fmt=Path(path).suffix[1:])
    if not specs:
        now = datetime.now(UTC)
        space.add(sid=DEMO_SID, content=DEMO_AUDIO.read_bytes(), created=now - timedelta(minutes=30))
        for minutes, size in ((90, 250_000), (240, 1_200_000)):
            space.add(
                sid=str(uuid.uuid5(uuid.UUID(PROJECT), str(minutes))),
                size=size,
                created=now - timedelta(minutes=minutes),
            )
        return
    for spec in specs:
        sid, _, value = spec.partition("=")
        if value.startswith("@"):
            space.add(sid=sid, content=Path(value[1:]).read_bytes())
        else:
            space.add(sid=sid, size=int(value), **({"created": created[sid]} if sid in created else {}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localspace", description=__doc__)
    parser.add_argument("--port", type=int, default=8089, help="port on 127.0.0.1 (default 8089; 0: any free one)")
    parser.add_argument("--project", default=PROJECT, help="Project ID the space answers to")
    parser.add_argument("--token", default=TOKEN, help="API token the space accepts")
    parser.add_argument("--function-url", default="http://127.0.0.1:8080/", help="where make run listens")
    parser.add_argument(
        "--recording",
        action="append",
        default=[],
        metavar="SID=BYTES|SID=@FILE",
        help="serve this recording (repeatable); default: the demo MP3 and two generated ones",
    )
    parser.add_argument(
        "--created",
        action="append",
        default=[],
        metavar="SID=ISO8601",
        help="the date a --recording was created (repeatable; default: the stand-in's fixed date)",
    )
    parser.add_argument(
        "--relay-recording",
        action="append",
        default=[],
        metavar="SID=@FILE.mp3|SID=@FILE.wav|SID=@FILE.mp4",
        help="serve this file as a SWML record_call recording, through the RELAY REST API (repeatable)",
    )
    args = parser.parse_args(argv)
    space = Space(args.project, args.token)
    created = {sid: datetime.fromisoformat(when) for sid, _, when in (spec.partition("=") for spec in args.created)}
    _recordings(space, args.recording, created, args.relay_recording)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    space.start(args.port)
    print(space.url, flush=True)
    if not args.recording:
        print(f"\nlocal SignalWire space on {space.url}, project {space.project_id}, serving:")
        for recording in sorted(space.recordings.values(), key=lambda r: r.created, reverse=True):
            print(f"  {recording.sid}  {recording.size:>9} bytes  created {recording.created:%Y-%m-%d %H:%M} UTC")
        print("\nput these lines in .env, then run `make run` in another terminal:\n")
        print(f"SIGNALWIRE_SPACE_URL={space.url}")
        print(f"SIGNALWIRE_PROJECT_ID={space.project_id}")
        print(f"SIGNALWIRE_API_TOKEN={space.token}")
        print(f"SIGNALWIRE_SIGNING_KEY={SIGNING_KEY}")
        print(f"PUBLIC_URL={args.function_url}")
        print(f"\nthen: make callback SID={DEMO_SID}   (a signed 'completed' callback, as SignalWire sends it)")
        print(
            "      .venv/bin/python -m archiver backfill --since 2026-01-01  # reads .env as make run does",
            flush=True,
        )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        space.stop()


if __name__ == "__main__":
    main()
