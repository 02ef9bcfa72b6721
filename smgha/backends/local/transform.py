"""Batch transform jobs on the local backend: SageMaker's container contract over files.

CreateTransformJob reads each input object under the S3Prefix from local S3, splits it into
records (SplitType None: the whole object; Line: its lines), keeps the part the InputFilter
selects, sends the records to the model's serving container in mini-batches (BatchStrategy
SingleRecord: one record a request; MultiRecord: as many as MaxPayloadInMB holds, joined by
newlines) the way SageMaker does, with SAGEMAKER_BATCH set (serving/inference.py `answer`:
the built-in XGBoost algorithm then answers one CSV line per record), joins each output record
to its input record (JoinSource Input, CSV: appended to the input row), keeps the part the
OutputFilter selects and writes <output>/<object key>.out (AssembleWith Line: one record a
line; None: the answers as they came). An object is written only once all its records are
answered ("Batch transform doesn't upload partially processed objects"); the first failure
fails the job with its FailureReason. The model loads as the local endpoint loads it
(serving/model.py: the built-in XGBoost algorithm, or script mode in a worker process).

Differences from SageMaker, said here: the job runs within the CreateTransformJob call (the
stage's wait then finds it finished, so StopTransformJob has nothing left to stop), on one
"instance" sending one request at a time; RecordIO and TFRecord splitting, and filters other
than CSV column selections ($[i,j:k]), fail the job with a reason that says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from smgha.backends.local import state
from smgha.backends.local.deployer import DeploymentFailed, model_container
from smgha.backends.local.endpoints import LocalHosting
from smgha.backends.local.registry import LocalRegistry
from smgha.backends.local.s3 import LocalS3
from smgha.backends.local.serving.inference import CSV, answer
from smgha.backends.local.serving.model import FAILED, Model
from smgha.backends.local.serving.spec import media_type
from smgha.errors import StageError

MIB = 1024 * 1024
# A CSV column selection: $[0], $[1:], $[0,5:], $[-1], $[:3].
_COLUMNS = re.compile(r"\$\[\s*-?\d*(:-?\d*)?(\s*,\s*-?\d*(:-?\d*)?)*\s*\]")


class JobFailed(Exception):
    """The job fails; the message is its FailureReason."""


class LocalTransforms:
    """The Transforms area of the local backend."""

    poll_seconds = 0.2

    def __init__(
        self, layout: state.Layout, region: str, s3: LocalS3, hosting: LocalHosting
    ) -> None:
        self.layout = layout
        self.region = region
        self.s3 = s3
        self.hosting = hosting
        self.registry = LocalRegistry(layout, region)

    def job_file(self, name: str) -> Path:
        return self.layout.root / "transform-jobs" / f"{name}.json"

    def describe_transform_job(self, name: str) -> dict[str, Any] | None:
        return state.read_json_if_exists(self.job_file(name))

    def create_transform_job(self, request: dict[str, Any]) -> None:
        name = request["TransformJobName"]
        path = self.job_file(name)
        with state.locked(self.layout.lock_file("transform-job", name)):
            if path.exists():
                raise StageError(
                    "CreateTransformJob failed",
                    f"ValidationException: Job name must be unique within an AWS account and region, and a job with this name already exists ({state.arn(self.region, 'transform-job', name)})",
                )  # fmt: skip
            model = self.hosting.describe_model(request["ModelName"])
            if model is None:
                raise StageError(
                    "CreateTransformJob failed",
                    f"ValidationException: Could not find model {request['ModelName']!r}",
                )
            record = {
                **request,
                "TransformJobArn": state.arn(self.region, "transform-job", name),
                "TransformJobStatus": "InProgress",
                "CreationTime": state.to_iso(state.now()),
                "TransformStartTime": state.to_iso(state.now()),
            }
            state.write_json_atomic(path, record)
        try:
            self._run(request, model)
        except (JobFailed, DeploymentFailed) as failure:
            record.update(TransformJobStatus="Failed", FailureReason=str(failure))
        else:
            record.update(TransformJobStatus="Completed")
        record["TransformEndTime"] = state.to_iso(state.now())
        state.write_json_atomic(path, record)

    def stop_transform_job(self, name: str) -> None:
        record = self.describe_transform_job(name)
        if record is None:
            raise StageError(
                "StopTransformJob failed", f"ValidationException: Could not find job {name!r}"
            )
        if record["TransformJobStatus"] == "InProgress":
            state.write_json_atomic(
                self.job_file(name), {**record, "TransformJobStatus": "Stopped"}
            )

    # -- the job ---------------------------------------------------------------------------

    def _run(self, request: dict[str, Any], model_record: dict[str, Any]) -> None:
        container = model_container(model_record, self.registry)
        model = Model(
            str(self.s3.path(str(container["ModelDataUrl"]))),
            container.get("Environment") or {},
            str(container.get("Image") or ""),
            self.layout.s3,
        )
        model.load()
        try:
            if model.status == FAILED:
                raise JobFailed(f"ClientError: the model cannot be loaded: {model.failure_reason}")
            source = request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
            found = self.s3.objects(source)
            if not found:
                raise JobFailed(f"ClientError: no object under the input {source}")
            output = request["TransformOutput"]["S3OutputPath"].rstrip("/")
            for file, relative in found:
                body = transform_object(request, model, file.read_bytes(), relative)
                self.s3.put_bytes(f"{output}/{relative}.out", body)
        finally:
            model.close()


def transform_object(request: dict[str, Any], model: Model, data: bytes, name: str) -> bytes:
    """The .out object of one input object (see the module's doc); JobFailed otherwise."""
    source, output = request["TransformInput"], request["TransformOutput"]
    processing = request.get("DataProcessing") or {}
    content_type = source.get("ContentType") or CSV
    accept = output.get("Accept") or CSV
    records = _split(data, source.get("SplitType") or "None", name)
    sent = [_filtered(r, processing.get("InputFilter", ""), "InputFilter", name) for r in records]
    limit = int(request.get("MaxPayloadInMB", 6)) * MIB
    answers: list[bytes] = []
    for batch in _batches(sent, request.get("BatchStrategy") or "MultiRecord", limit, name):
        reply = answer(model, b"\n".join(batch), content_type, accept, batch=True)
        if reply.status != 200:
            text = reply.body.decode("utf-8", "replace")[:300]
            raise JobFailed(
                f"ClientError: the container answered {reply.status} to {len(batch)} records of {name}: {text}"
            )
        answers += _output_records(reply.body, accept, len(batch), name)
    joined = processing.get("JoinSource") == "Input"
    if joined:
        if media_type(accept) != CSV or media_type(content_type) != CSV:
            raise JobFailed("ClientError: the local backend joins CSV records only")
        answers = [
            b",".join((record, result)) for record, result in zip(records, answers, strict=True)
        ]
    answers = [
        _filtered(a, processing.get("OutputFilter", ""), "OutputFilter", name) for a in answers
    ]
    if output.get("AssembleWith") == "Line":
        return b"".join(a + b"\n" for a in answers)
    return b"".join(answers)


def _split(data: bytes, split_type: str, name: str) -> list[bytes]:
    if split_type == "None":
        return [data]
    if split_type == "Line":
        return [line for line in data.splitlines() if line.strip()]
    raise JobFailed(
        f"ClientError: the local backend splits None and Line only, not {split_type} ({name})"
    )


def _batches(records: list[bytes], strategy: str, limit: int, name: str) -> list[list[bytes]]:
    """The mini-batches: one record each (SingleRecord), or as many as fit in `limit` bytes
    joined by newlines (MultiRecord). A record above the limit fails the job ("The value in
    MaxPayloadInMB must be greater than, or equal to, the size of a single record")."""
    batches: list[list[bytes]] = []
    size = 0
    for number, record in enumerate(records, 1):
        if len(record) > limit:
            raise JobFailed(
                f"ClientError: record {number} of {name} is {len(record)} bytes, above MaxPayloadInMB ({limit // MIB} MB)"
            )
        if strategy == "SingleRecord" or not batches or size + 1 + len(record) > limit:
            batches.append([record])
            size = len(record)
        else:
            batches[-1].append(record)
            size += 1 + len(record)
    return batches


def _output_records(body: bytes, accept: str, sent: int, name: str) -> list[bytes]:
    """The records of one answer: its lines for CSV (one per record sent), else the answer."""
    if media_type(accept) != CSV:
        return [body.rstrip(b"\n")]
    lines = [line for line in body.splitlines() if line.strip()]
    if len(lines) != sent:
        raise JobFailed(
            f"ClientError: the container answered {len(lines)} CSV lines to {sent} records of {name}"
        )
    return lines


def _filtered(record: bytes, path: str, field: str, name: str) -> bytes:
    """The columns of a CSV record a JSONPath column selection keeps ('' or '$': all)."""
    if path in ("", "$"):
        return record
    if not _COLUMNS.fullmatch(path):
        raise JobFailed(
            f"ClientError: the local backend applies {field}s that select CSV columns ($[1:], $[0,-1]) only, not {path!r}"
        )
    cells = record.split(b",")
    kept: list[bytes] = []
    for part in path.strip()[2:-1].split(","):
        part = part.strip()
        if ":" in part:
            start, _, stop = part.partition(":")
            kept += cells[slice(int(start) if start else None, int(stop) if stop else None)]
            continue
        index = int(part)
        if not -len(cells) <= index < len(cells):
            raise JobFailed(
                f"ClientError: {field} {path} selects column {index} of a record of {name} with {len(cells)} columns"
            )
        kept.append(cells[index])
    return b",".join(kept)
