"""A job with InstanceCount N on this machine: N hosts, their inputs, their outputs.

What SageMaker documents, and where:
- Hosts are named algo-1 .. algo-N, and each container reads its own name and the cluster's
  in resourceconfig.json: /opt/ml/config/resourceconfig.json for processing
  ({"current_host": "algo-1", "hosts": [...]}, "How Amazon SageMaker Processing Configures
  Your Processing Container", awsdocs/amazon-sagemaker-developer-guide commit a869fa5c,
  doc_source/build-your-own-processing-container.md), /opt/ml/input/config/ for training
  (script_training.write_config_files).
- S3DataDistributionType (botocore's service model, sagemaker 2017-07-24, S3DataSource and
  ProcessingS3Input): FullyReplicated gives every instance every object; ShardedByS3Key
  gives each of n instances "approximately 1/n of the number of S3 objects", and with more
  instances than objects "some nodes won't get any data". A maintainer's example: 100
  objects on 5 instances put 20 on each (aws/amazon-sagemaker-examples#1075).

Which object goes to which host is NOT documented. The rule here: the objects sorted by key
(S3 lists keys in that order), object i to host i mod n; so the counts differ by at most one
and the split never changes between runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from smgha.aws_values import service_model
from smgha.backends.local import state

FULLY_REPLICATED = "FullyReplicated"
SHARDED_BY_S3_KEY = "ShardedByS3Key"
DISTRIBUTION_TYPES = (FULLY_REPLICATED, SHARDED_BY_S3_KEY)

EMPTY_SHARD = (
    "ClientError: input {input!r} is {distribution} over {hosts} instances but has "
    "{objects} object(s) at {uri}, so {empty} would get no data. Write the input as at least "
    "{hosts} objects, use FullyReplicated, or run fewer instances."
)
OUTPUT_CONFLICT = (
    "ClientError: output {output!r}: hosts {hosts} each wrote {key!r} with different "
    "content, and both upload to the same key {uri}: S3 keeps whichever upload ends last. "
    "Name each host's files apart (e.g. with current_host from "
    "/opt/ml/config/resourceconfig.json) or write that file from one host only."
)


class ClusterError(Exception):
    """A multi-instance job cannot run as asked; the message is its FailureReason."""


@dataclass(frozen=True)
class Host:
    """One instance of a job: its name and where its container's files live."""

    name: str
    root: Path  # the container root: /opt/ml/... is root/opt/ml/...
    job_dir: Path  # its log and scratch folder


def processing_instance_limit() -> int:
    """The most instances a processing job may have: ProcessingClusterConfig.InstanceCount's
    maximum in botocore's service model (100 in botocore 1.44)."""
    shape = service_model("sagemaker").shape_for("ProcessingClusterConfig")
    return int(shape.members["InstanceCount"].metadata["max"])


def host_names(count: int) -> list[str]:
    """algo-1 .. algo-N, as SageMaker names the instances of a job."""
    return [f"algo-{index}" for index in range(1, count + 1)]


def shard(
    objects: list[tuple[Path, str]], hosts: list[str], distribution: str
) -> dict[str, list[tuple[Path, str]]]:
    """Each host's objects (file, key relative to the input's URI) under the distribution."""
    if distribution not in DISTRIBUTION_TYPES:
        raise ClusterError(
            f"ClientError: S3DataDistributionType {distribution!r} is not one of "
            f"{', '.join(DISTRIBUTION_TYPES)}"
        )
    if distribution == FULLY_REPLICATED:
        return {host: list(objects) for host in hosts}
    ordered = sorted(objects, key=lambda item: item[1])
    return {host: ordered[index :: len(hosts)] for index, host in enumerate(hosts)}


def copy_objects(objects: list[tuple[Path, str]], dest: Path) -> int:
    """Put the objects under folder `dest` at their relative keys; return how many."""
    dest.mkdir(parents=True, exist_ok=True)
    for source, relative in objects:
        state.write_bytes_atomic(dest / relative, source.read_bytes())
    return len(objects)


def write_processing_config(
    root: Path, host: str, hosts: list[str], job_config: dict[str, object]
) -> None:
    """/opt/ml/config/resourceconfig.json and processingjobconfig.json (the documented two)."""
    config = root / "opt" / "ml" / "config"
    config.mkdir(parents=True, exist_ok=True)
    resource = {"current_host": host, "hosts": hosts}
    state.write_bytes_atomic(config / "resourceconfig.json", json.dumps(resource).encode())
    state.write_bytes_atomic(
        config / "processingjobconfig.json", json.dumps(job_config, default=str).encode()
    )


def merged_output(output_name: str, uri: str, folders: dict[str, Path]) -> dict[str, Path]:
    """One file per key from every host's output folder (host name -> folder).

    Every instance uploads its folder to the same S3 prefix. Two hosts writing one key with
    different bytes leave whichever upload finishes last: S3 has no locking between
    concurrent writers of a key (the S3 user guide's consistency model). Whether SageMaker
    orders or rejects such uploads is not documented; the stricter reading is taken: the job
    fails and names the key. Identical bytes leave the same object whatever the order.
    """
    chosen: dict[str, tuple[str, str, Path]] = {}
    for host, folder in folders.items():
        for file in sorted(folder.rglob("*")):
            if not file.is_file():
                continue
            key = str(file.relative_to(folder))
            digest = hashlib.sha256(file.read_bytes()).hexdigest()
            if key in chosen and chosen[key][1] != digest:
                raise ClusterError(
                    OUTPUT_CONFLICT.format(
                        output=output_name,
                        hosts=f"{chosen[key][0]} and {host}",
                        key=key,
                        uri=f"{uri.rstrip('/')}/{key}",
                    )
                )
            chosen.setdefault(key, (host, digest, file))
    return {key: file for key, (_, _, file) in chosen.items()}
