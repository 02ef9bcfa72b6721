"""`smgha definition write --definition module:function --pipeline-name NAME --output FILE`.

Writes the pipeline definition JSON that build-pipeline would send, and uploads the code
objects it refers to (the SDK's copies of the processing scripts, content-addressed) to the
same backend's S3, so that `build-pipeline --definition FILE` runs it there later without
the SDK. A definition file whose code is not there is refused by build-pipeline, naming the
missing objects.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from smgha.inputs import InputSpec
from smgha.terminal import add_input_flags, run_stage_command, stage_environment

# build-pipeline's inputs that decide the definition and where its code goes.
DEFINITION_INPUTS = (
    "backend",
    "definition",
    "pipeline-name",
    "role-arn",
    "region",
    "default-bucket",
)
COMMAND = "definition write"


def _inputs() -> Sequence[InputSpec]:
    from smgha.stages import build_pipeline

    return [spec for spec in build_pipeline.INPUTS if spec.name in DEFINITION_INPUTS]


def add_parsers(subparsers: argparse._SubParsersAction, with_flags: bool = True) -> None:
    """`definition write`; its flags (build-pipeline's inputs: importing that stage) only
    `with_flags`, when the command runs or every command is listed."""
    parser = subparsers.add_parser(
        "definition", help="Write a pipeline definition JSON file (and upload its code)."
    )
    commands = parser.add_subparsers(dest="definition_command", required=True, metavar="COMMAND")
    write = commands.add_parser(
        "write",
        help="Build the definition as build-pipeline does, write it to a file, upload its code.",
        description=(
            "Build the pipeline definition from a 'module:function' as build-pipeline does, "
            "write its JSON to --output, and upload the code objects it refers to to the "
            "backend's S3 (local: the state folder; sagemaker: default-bucket). "
            "`smgha build-pipeline --definition FILE` then runs it on the same backend."
        ),
    )
    if with_flags:
        add_input_flags(write, _inputs())
        write.add_argument(
            "--output", required=True, metavar="FILE", help="Where to write the JSON."
        )


def run(arguments: argparse.Namespace, stdout: TextIO) -> int:
    from smgha import definition as defn
    from smgha.runner import Runner
    from smgha.stages import build_pipeline, run_stage, stage_backend

    output = Path(arguments.output)

    def body(runner: Runner) -> None:
        inputs = build_pipeline.load_inputs(runner)
        definition, uploads = build_pipeline.build_definition(inputs, runner.info)
        store = stage_backend(runner, inputs.backend, inputs.region)
        for uri, data in uploads.items():
            store.objects.put_object(uri, data)
            runner.info(f"Uploaded {uri} ({len(data)} bytes)")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(defn.canonical_json(definition) + "\n", encoding="utf-8")
        runner.info(
            f"Wrote the definition to {output}; run it with: smgha build-pipeline --backend "
            f"{inputs.backend} --definition {output} --pipeline-name {inputs.pipeline_name}"
        )

    code, _runner = run_stage_command(
        lambda runner: run_stage(COMMAND, body, runner),
        stage_environment(_inputs(), arguments),
        stdout,
    )
    return code
