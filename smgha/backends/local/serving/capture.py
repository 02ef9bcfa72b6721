"""Data capture: the files and records of SageMaker Model Monitor's format."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any

from smgha.backends.local.serving.spec import CaptureSpec, media_type


class CaptureWriter:
    """Data capture files, in the layout and record format of SageMaker Model Monitor:
    <Destination>/<EndpointName>/<VariantName>/yyyy/mm/dd/hh/<mm>-<ss>-<ms>-<uuid>.jsonl,
    one JSON line per captured invocation, one file per variant per hour for this process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (destination, endpoint, variant) -> (hour folder, open file)
        self._files: dict[tuple[str, str, str], tuple[str, IO[str]]] = {}

    def write(self, spec: CaptureSpec, endpoint: str, variant: str, now: float, line: str) -> None:
        moment = time.gmtime(now)
        hour = time.strftime("%Y/%m/%d/%H", moment)
        key = (spec.destination, endpoint, variant)
        with self._lock:
            entry = self._files.get(key)
            if entry is None or entry[0] != hour:
                if entry is not None:
                    entry[1].close()
                folder = Path(spec.destination, endpoint, variant, hour)
                folder.mkdir(parents=True, exist_ok=True)
                millis = int(now * 1000) % 1000
                name = f"{moment.tm_min:02d}-{moment.tm_sec:02d}-{millis:03d}-{uuid.uuid4()}.jsonl"
                entry = (hour, open(folder / name, "a", encoding="utf-8"))  # noqa: SIM115
                self._files[key] = entry
            entry[1].write(line + "\n")
            entry[1].flush()  # a reader (or a test) sees each record at once

    def keep_only(self, keys: set[tuple[str, str, str]]) -> None:
        """Close the files of variants (or destinations) no longer captured."""
        with self._lock:
            for key in [k for k in self._files if k not in keys]:
                self._files.pop(key)[1].close()

    def close(self) -> None:
        self.keep_only(set())


def variant_folder(served_name: str) -> str:
    """The capture folder of a hosted variant: its SageMaker VariantName. The deployer hosts
    each fleet's variant as <VariantName>@<EndpointConfigName>; '@' is not in a VariantName
    (botocore's pattern), and SageMaker writes <Destination>/<EndpointName>/<VariantName>/."""
    return served_name.split("@", 1)[0]


def capture_line(
    spec: CaptureSpec,
    request_type: str,
    request_body: bytes,
    response_type: str,
    response_body: bytes,
    now: float,
    event_id: str = "",
) -> str:
    """One record of SageMaker's data capture format (eventVersion 0); `event_id` ('': a new
    one) is the production record's for a shadow's answer to a copy of its request."""
    data: dict[str, Any] = {}
    if spec.capture_input:
        data["endpointInput"] = _captured(spec, request_type, request_body, "INPUT")
    if spec.capture_output:
        data["endpointOutput"] = _captured(spec, response_type, response_body, "OUTPUT")
    record = {
        "captureData": data,
        "eventMetadata": {
            "eventId": event_id or str(uuid.uuid4()),
            "inferenceTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        },
        "eventVersion": "0",
    }
    return json.dumps(record, separators=(",", ":"))


def _captured(spec: CaptureSpec, content_type: str, body: bytes, mode: str) -> dict[str, str]:
    media = media_type(content_type)
    encoding = "CSV" if media in spec.csv_types else "JSON" if media in spec.json_types else ""
    text = None
    if encoding:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            encoding = ""
    if text is None:
        encoding, text = "BASE64", base64.b64encode(body).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}
