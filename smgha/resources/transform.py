"""Batch transform: a transform job of one model package version over a dataset in S3, its
settings and the rules SageMaker holds them to, the job's name, and the output's publication.

Sources (botocore's `sagemaker` service model, the API reference's words, and the guide):
- CreateTransformJob: TransformJobName 1-63 of [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}, "unique within
  an Amazon Web Services Region in an Amazon Web Services account"; TransformInput.SplitType
  None | Line | RecordIO | TFRecord; BatchStrategy MultiRecord | SingleRecord; TransformOutput
  AssembleWith None | Line; DataProcessing.JoinSource Input | None, InputFilter and
  OutputFilter JSONPath of at most 63 characters; TransformResources.InstanceCount >= 1 and
  InstanceType an enum (checked against the installed model by aws_value).
- MaxPayloadInMB: "cannot be greater than 100 MB. If you specify the MaxConcurrentTransforms
  parameter, the value of (MaxConcurrentTransforms * MaxPayloadInMB) also cannot exceed 100
  MB." 0 asks for HTTP chunked encoding, which "works only in supported algorithms. Currently,
  Amazon SageMaker built-in algorithms do not support HTTP chunked encoding": refused here (the
  stricter reading: the stage cannot tell which containers support it).
- BatchStrategy: "To enable the batch strategy, you must set the SplitType property to Line,
  RecordIO, or TFRecord": a batch-strategy the workflow gives with split-type None is refused
  (with the default one, none is sent).
- JoinSource Input "For CSV data ... joins the transformed data with the input by appending each
  transformed row to the end of the input": a row of output per row of input, so the stricter
  reading (not confirmed against AWS) is that joining needs split-type Line and assemble-with
  Line, and is refused otherwise.
- S3OutputPath: "For every S3 object used as input for the transform job, batch transform stores
  the transformed data with an .out suffix"; "Batch transform doesn't upload partially processed
  objects".
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html,
API_TransformInput.html, API_TransformOutput.html, API_DataProcessing.html.)

How a batch target "rolls back": the job writes under a prefix of its own, <output>/<job>/, and
only a job whose output passed the checks is published, by writing the pointer
<output>/_LATEST.json naming it. A failed check leaves the pointer on the earlier job's output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from smgha.aws_values import aws_value
from smgha.errors import InputError, shown
from smgha.inputs import InputValues, choice, one_line, s3_uri, whole_number
from smgha.resources.hosting import digest
from smgha.resources.names import bounded_sagemaker_name

SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
BATCH_STRATEGIES = ("MultiRecord", "SingleRecord")
ASSEMBLY_TYPES = ("None", "Line")
JOIN_SOURCES = ("None", "Input")
MAX_PAYLOAD_MB = 100  # MaxPayloadInMB, and MaxConcurrentTransforms * MaxPayloadInMB
MAX_INSTANCES = 100  # beyond this SageMaker's default account quota is the first to say no
JSON_PATH_LENGTH = 63  # DataProcessing's JsonPath
POINTER = "_LATEST.json"  # under the output uri: the published job's output
API_PAGE = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html"
# The statuses of a transform job (DescribeTransformJob's TransformJobStatus).
TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class Settings:
    """What the job does, as CreateTransformJob takes it (to_request)."""

    input_uri: str
    output_uri: str  # without its trailing slash: the job writes under <output_uri>/<job>/
    content_type: str
    split_type: str
    batch_strategy: str  # '' when not sent (SageMaker's default)
    max_payload_mb: int
    max_concurrent_transforms: int  # 0: not sent (SageMaker asks the container)
    assemble_with: str
    accept: str
    join_source: str
    input_filter: str  # '' when not sent ('$', the whole record)
    output_filter: str
    instance_type: str
    instance_count: int

    def job_name(self, package: dict[str, Any]) -> str:
        """<group>-v<version>-batch-<hash of the settings>: the same inputs over the same
        package version name the same job, so a re-run finds it instead of starting another."""
        group, version = package["ModelPackageGroupName"], int(package["ModelPackageVersion"])
        return bounded_sagemaker_name(
            f"{group}-v{version}-batch", suffix=f"-{digest(self.__dict__)}"
        )

    def job_output(self, job: str) -> str:
        """Where the job writes: a prefix of its own under the output uri."""
        return f"{self.output_uri}/{job}/"

    def to_request(self, job: str, model: str) -> dict[str, Any]:
        """CreateTransformJob's request. No Tags (they would need sagemaker:AddTags) and no
        role: the job runs as its model's execution role."""
        request: dict[str, Any] = {
            "TransformJobName": job,
            "ModelName": model,
            "MaxPayloadInMB": self.max_payload_mb,
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": self.input_uri}},
                "ContentType": self.content_type,
                "SplitType": self.split_type,
            },
            "TransformOutput": {
                "S3OutputPath": self.job_output(job),
                "Accept": self.accept,
                "AssembleWith": self.assemble_with,
            },
            "TransformResources": {
                "InstanceType": self.instance_type,
                "InstanceCount": self.instance_count,
            },
            "DataProcessing": {"JoinSource": self.join_source},
        }
        if self.batch_strategy:
            request["BatchStrategy"] = self.batch_strategy
        if self.max_concurrent_transforms:
            request["MaxConcurrentTransforms"] = self.max_concurrent_transforms
        for key, value in (
            ("InputFilter", self.input_filter),
            ("OutputFilter", self.output_filter),
        ):
            if value:
                request["DataProcessing"][key] = value
        return request


def checked_settings(values: InputValues) -> Settings:
    """The settings of the job, after every rule of the module's doc; InputError naming the
    input (and, for a contradiction, the other input too) otherwise."""
    input_text, output_text = values["input-s3-uri"], values["output-s3-uri"]
    if not input_text:
        raise InputError(
            "input-s3-uri",
            "is required: a batch transform needs a dataset to transform"
            + (f", and output-s3-uri {shown(output_text)} was given without one" if output_text else ""),
            "Set input-s3-uri to the dataset's S3 prefix (and output-s3-uri to where its predictions go).",
        )  # fmt: skip
    if not output_text:
        raise InputError(
            "output-s3-uri",
            f"is required with input-s3-uri {shown(input_text)}: the predictions need a place",
            "Set output-s3-uri, e.g. s3://my-bucket/batch/churn.",
        )
    split_type = choice("split-type", values["split-type"], SPLIT_TYPES)
    batch_strategy = choice("batch-strategy", values["batch-strategy"], BATCH_STRATEGIES)
    if split_type == "None":
        if values.runner.get_input("batch-strategy"):
            raise InputError(
                "batch-strategy",
                f"{batch_strategy} does not apply with split-type None: SageMaker batches records only when it splits objects into them",
                f"Set split-type: Line (or RecordIO, TFRecord), or leave batch-strategy empty. See {API_PAGE} (BatchStrategy).",
            )  # fmt: skip
        batch_strategy = ""
    max_payload = whole_number(
        "max-payload-mb",
        values["max-payload-mb"],
        1,
        MAX_PAYLOAD_MB,
        "MaxPayloadInMB is at most 100; 0 (chunked encoding) is refused: built-in algorithms do not support it.",
    )
    concurrent = whole_number(
        "max-concurrent-transforms", values["max-concurrent-transforms"] or "0", 0, MAX_PAYLOAD_MB
    )
    if concurrent * max_payload > MAX_PAYLOAD_MB:
        raise InputError(
            "max-concurrent-transforms",
            f"{concurrent} times max-payload-mb {max_payload} is {concurrent * max_payload} MB, above SageMaker's {MAX_PAYLOAD_MB} MB",
            f"Lower max-concurrent-transforms or max-payload-mb so their product is at most {MAX_PAYLOAD_MB}. See {API_PAGE} (MaxPayloadInMB).",
        )  # fmt: skip
    assemble_with = choice("assemble-with", values["assemble-with"], ASSEMBLY_TYPES)
    join_source = choice("join-source", values["join-source"], JOIN_SOURCES)
    if join_source == "Input":
        for name, value in (("split-type", split_type), ("assemble-with", assemble_with)):
            if value != "Line":
                raise InputError(
                    name,
                    f"{value} does not apply with join-source Input: each output row is appended to its input row, so both are lines (the stricter reading of DataProcessing.JoinSource)",
                    f"Set {name}: Line, or join-source: None.",
                )  # fmt: skip
    return Settings(
        input_uri=s3_uri("input-s3-uri", input_text, "s3://my-bucket/batch/input"),
        output_uri=s3_uri("output-s3-uri", output_text, "s3://my-bucket/batch/output").rstrip("/"),
        content_type=aws_value("content-type", values["content-type"], "sagemaker", "ContentType"),
        split_type=split_type,
        batch_strategy=batch_strategy,
        max_payload_mb=max_payload,
        max_concurrent_transforms=concurrent,
        assemble_with=assemble_with,
        accept=aws_value("accept", values["accept"], "sagemaker", "Accept"),
        join_source=join_source,
        input_filter=_json_path("input-filter", values["input-filter"]),
        output_filter=_json_path("output-filter", values["output-filter"]),
        instance_type=aws_value(
            "instance-type", values["instance-type"], "sagemaker", "TransformInstanceType"
        ),
        instance_count=whole_number("instance-count", values["instance-count"], 1, MAX_INSTANCES),
    )


def _json_path(name: str, text: str) -> str:
    """A JSONPath filter: '' or '$' (the whole record) is not sent; otherwise it starts at the
    root and fits DataProcessing's JsonPath (at most 63 characters)."""
    text = one_line(name, text.strip(" \t"), JSON_PATH_LENGTH)
    if text in ("", "$"):
        return ""
    if not text.startswith("$"):
        raise InputError(
            name,
            f"{shown(text)} is not a JSONPath of at most {JSON_PATH_LENGTH} characters from the root",
            'E.g. "$[1:]" (every CSV column but the first) or "$[0,-1]".',
        )
    return text


# ---- publication: the pointer to the output that passed its checks -----------------------------


def pointer_uri(settings: Settings) -> str:
    return f"{settings.output_uri}/{POINTER}"


def pointer_document(job: str, output: str, package_arn: str) -> bytes:
    """The pointer's content: which job's output is the published one."""
    document = {"TransformJobName": job, "OutputLocation": output, "ModelPackageArn": package_arn}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
