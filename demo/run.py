"""`make demo`: the archiver end to end on this machine, with nothing configured.

It starts a simulated SignalWire space serving `demo/hello.mp3` three times, once as a cXML recording and
twice as SWML recordings (RELAY REST API, media at the documented extension-less download URL), runs the
function under functions-framework with a local archive, sends signed callbacks the way SignalWire does
(in-progress, completed, a duplicate, one with a bad signature, then a `calling.call.record` JSON event in
each documented shape: SWML `record_call` and `record`), then shows how each was answered, the audit lines
and the archived files. Exit status 0 only if every archived recording is byte-identical to what the space
served and named `.mp3`, as its bytes are. Every process it starts is stopped before it exits.

hello.mp3 was made by this project with Debian's espeak-ng and lame:
    espeak-ng -v en-us -s 150 -w hello.wav "Hello. This call is recorded, ..."
    lame -m m -b 32 --resample 16 hello.wav hello.mp3
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import requests

from localspace.processes import ROOT, free_port, start_function, stop, wait_for
from localspace.signing import sign_event, sign_form

AUDIO = Path(__file__).resolve().parent / "hello.mp3"
KEPT_ARCHIVE = ROOT / "demo-archive"
KEY = "PSK_demo_signing_key"
TOKEN = "PT_demo_api_token"  # noqa: S105 (made up, for the simulated space)


def say(text: str = "") -> None:
    print(text, flush=True)


def post(url: str, fields: dict[str, str] | dict[str, Any], key: str) -> requests.Response:
    """A form callback as cXML sends it, or (for a calling.call.record event) JSON signed hex over URL + body."""
    signed = sign_event(key, url, fields) if "event_type" in fields else sign_form(key, url, fields)
    return requests.post(url, data=signed.body, headers=signed.headers, timeout=60)


def swml_event(project: str, sid: str, space_url: str, shape: str) -> dict[str, Any]:
    """What SWML's record_call (shape "record_call") or record (shape "record") POSTs to its status_url when the
    recording is finished, as signalwire/docs shows them."""
    url = f"{space_url}/api/v1/recordings/{sid}/download"
    ids = {"call_id": str(uuid.uuid4()), "node_id": str(uuid.uuid4()), "control_id": str(uuid.uuid4())}
    params: dict[str, Any] = {**ids, "state": "finished"}
    if shape == "record_call":
        params["record"] = {"url": url, "duration": 7.0, "size": AUDIO.stat().st_size, "format": "mp3"}
    else:
        params |= {"url": url, "duration": 7, "size": AUDIO.stat().st_size, "recording_id": sid}
        params["record"] = {"audio": {"format": "mp3", "direction": "speak", "stereo": False}}
    return {
        "event_type": "calling.call.record",
        "event_channel": f"swml:{uuid.uuid4()}",
        "timestamp": 1795000000.0,
        "project_id": project,
        "space_id": str(uuid.uuid4()),
        "params": params,
    }


def show_audit(log: Path, skip: int) -> None:
    for line in log.read_text().splitlines()[skip:]:
        if not line.startswith("{"):
            continue
        entry: dict[str, Any] = json.loads(line)
        keys = ("outcome", "http_status", "reason", "api", "recording_sid", "audio_format", "bytes", "sha256")
        details = " ".join(f"{k}={entry[k]}" for k in keys if entry.get(k) is not None)
        say(f"  {entry['severity']:<7} {entry['message']}: {details}")


def main() -> int:
    project = str(uuid.uuid4())
    sid = str(uuid.uuid4())
    swml_sid = str(uuid.uuid4())
    record_sid = str(uuid.uuid4())
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="archiver-demo-") as tmp:
        work = Path(tmp)
        # Kept after the demo, so you can look at what was archived; each run starts it afresh.
        archive = KEPT_ARCHIVE
        shutil.rmtree(archive, ignore_errors=True)
        try:
            port = free_port()
            space = subprocess.Popen(
                [sys.executable, "-m", "localspace", "--port", str(port), "--project", project,
                 "--token", TOKEN, "--recording", f"{sid}=@{AUDIO}", "--relay-recording", f"{swml_sid}=@{AUDIO}",
                 "--relay-recording", f"{record_sid}=@{AUDIO}"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            processes.append(space)
            space_url = f"http://127.0.0.1:{port}"
            wait_for(f"{space_url}/__stats", space)
            function_port = free_port()
            callback_url = f"http://127.0.0.1:{function_port}/"
            env = {
                "SIGNALWIRE_SPACE_URL": space_url,
                "SIGNALWIRE_PROJECT_ID": project,
                "SIGNALWIRE_API_TOKEN": TOKEN,
                "SIGNALWIRE_SIGNING_KEY": KEY,
                "PUBLIC_URL": callback_url,
                "ARCHIVE_URI": str(archive),
            }
            log = work / "function.log"
            function, _ = start_function(env, port=function_port, log_path=log)
            processes.append(function)
            size = AUDIO.stat().st_size
            say(f"simulated SignalWire space: {space_url}  ({size} bytes of MP3 each)")
            say(f"  cXML recording {sid}, SWML recordings {swml_sid} (record_call) and {record_sid} (record)")
            say(f"archiver function:          {callback_url}  (archive: {archive})")
            say()

            fields = {
                "AccountSid": project,
                "CallSid": str(uuid.uuid4()),
                "RecordingSid": sid,
                "RecordingUrl": f"{space_url}/api/laml/2010-04-01/Accounts/{project}/Recordings/{sid}",
                "RecordingDuration": "7",
                "RecordingChannels": "1",
                "RecordingSource": "DialVerb",
            }
            steps = [
                ("recording started (in-progress)", fields | {"RecordingStatus": "in-progress"}, KEY),
                ("recording finished (completed)", fields | {"RecordingStatus": "completed"}, KEY),
                ("SignalWire retries the same callback", fields | {"RecordingStatus": "completed"}, KEY),
                ("someone else signs a callback", fields | {"RecordingStatus": "completed"}, "PSK_not_yours"),
                (
                    "SWML record_call finished (JSON event)",
                    swml_event(project, swml_sid, space_url, "record_call"),
                    KEY,
                ),
                ("SWML record finished (JSON event)", swml_event(project, record_sid, space_url, "record"), KEY),
            ]
            probe_lines = len(log.read_text().splitlines())  # the readiness probe's GET, answered 405
            say("callbacks sent, and how the function answered:")
            for label, body, key in steps:
                response = post(callback_url, body, key)
                answer = response.json()
                detail = answer.get("outcome", "")
                if answer.get("reason"):
                    detail += f" ({answer['reason']})"
                say(f"  {label:<40} → {response.status_code} {detail}")
            say()
            say("audit lines (JSON on stdout in production; abridged here):")
            show_audit(log, probe_lines)
            say()
            say(f"files in the archive ({archive}):")
            files = sorted(p for p in archive.rglob("*") if p.is_file() and ".meta" not in p.parts)
            for path in files:
                say(f"  {path.relative_to(archive)}  {path.stat().st_size} bytes")
            archived = [p for p in files if p.suffix != ".json"]
            identical = len(archived) == 3 and all(p.read_bytes() == AUDIO.read_bytes() for p in archived)
            identical = identical and all(p.suffix == ".mp3" for p in archived)
            say()
            if identical:
                say("OK: all three archived MP3s (cXML, SWML record_call, SWML record) are byte-identical to what")
                say("the space served, each named .mp3 as its bytes are (the download URL names no format).")
                say(f"The archive stays in {archive.relative_to(ROOT)}/ (the next `make demo` replaces it). Listen:")
                say(f"  ffplay -nodisp -autoexit {archived[0].relative_to(ROOT)}   (or open it in any audio player)")
                return 0
            say("FAILED: the archive does not hold exactly the served MP3s.")
            return 1
        finally:
            for process in reversed(processes):
                stop(process)


if __name__ == "__main__":
    raise SystemExit(main())
