"""The yardstick: the least code that streams SignalWire media into GCS (requests stream -> upload_from_file).

Run as its own process by bench/run.py; prints the seconds the copy took.
"""

from __future__ import annotations

import sys
import time

import requests
from google.cloud import storage


def main() -> None:
    url, bucket_name, name, chunk_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    bucket = storage.Client().bucket(bucket_name)
    started = time.perf_counter()
    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        blob = bucket.blob(name, chunk_size=chunk_size)
        blob.upload_from_file(response.raw, size=int(response.headers["Content-Length"]), content_type="audio/mpeg")
    print(f"{time.perf_counter() - started:.4f}")


if __name__ == "__main__":
    main()
