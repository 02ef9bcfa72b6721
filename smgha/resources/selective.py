"""Selective execution as build-pipeline offers it: `from-step` runs that step and every step
after it in the pipeline's DAG; the steps before it are not run, their outputs are those of
`source-execution-arn` (default: the pipeline's latest Succeeded execution). SageMaker's
StartPipelineExecution SelectiveExecutionConfig {SourcePipelineExecutionArn, SelectedSteps}.

SageMaker's rules (SageMaker Developer Guide, "Selective execution of pipeline steps",
docs.aws.amazon.com/sagemaker/latest/dg/pipelines-selective-ex.html; API reference,
SelectiveExecutionConfig, docs.aws.amazon.com/sagemaker/latest/APIReference/
API_SelectiveExecutionConfig.html; botocore's SageMaker model):

- the selected steps are connected in the DAG, and every step on a path between two selected
  steps is selected; non-selected steps downstream of a selected one do not run. A step and
  everything downstream of it keeps both rules by construction;
- 1 to 50 selected steps (SelectedStepList);
- the source is an execution "of the current pipeline" whose status is Succeeded or Failed; its
  outputs are the "input collaterals" of the selected steps.

Not confirmed, so the stricter reading: a step inside a condition's branch is not offered as
from-step (it runs only when its condition decides, and the condition would not be
selected), and every step a selected step reads from must have succeeded in the source.
Speaks to a backend only through Pipelines (smgha.backends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smgha import definition as defn
from smgha.aws_values import aws_value
from smgha.backends import Pipelines, SelectiveExecution
from smgha.errors import InputError, StageError, shown
from smgha.inputs import InputSpec, InputValues

INPUTS = (
    InputSpec(
        "from-step",
        "Run only this step and every step after it in the pipeline's DAG, reusing the earlier steps' outputs from source-execution-arn (SageMaker's selective execution). Empty: run every step.",
    ),
    InputSpec(
        "source-execution-arn",
        "With from-step: the execution of the same pipeline (Succeeded or Failed) whose outputs the steps before from-step reuse. Defaults to the pipeline's latest Succeeded execution.",
    ),
)

# SelectiveExecutionConfig.SelectedSteps: 1 to 50 (botocore's SageMaker model, SelectedStepList).
MAX_SELECTED_STEPS = 50
# The statuses a source execution may have (API reference, SelectiveExecutionConfig).
SOURCE_STATUSES = ("Succeeded", "Failed")

SOURCE_WITHOUT_FROM_STEP = (
    "is set but from-step is empty: it only says where a selective execution's earlier "
    "steps come from",
    "Set from-step to the step to start from, or leave source-execution-arn empty.",
)
FROM_STEP_WHEN_RESUMING = (
    "cannot be used with execution-arn: resuming waits on an execution, it starts none",
    "Leave from-step empty to resume, or execution-arn empty to start from a step.",
)
NOT_AN_EXECUTION = (
    "{arn} is not a pipeline execution ARN",
    "Pass the execution-arn output of an earlier build-pipeline run of this pipeline.",
)
ANOTHER_PIPELINE = (
    "{arn} is an execution of pipeline {other!r}, not of {name!r}; SageMaker reuses outputs "
    "only from an execution of the same pipeline",
    "Pass an execution of {name}, or leave it empty for its latest Succeeded execution.",
)
UNKNOWN_STEP = (
    "{step} is not a step of the pipeline (its steps: {steps})",
    "Name one of its steps, as the definition spells it.",
)
STEP_IN_A_BRANCH = (
    "{step} runs inside condition {condition}'s branch: only the condition decides whether it runs",
    "Start from {condition} (or a step before it).",
)
TOO_MANY_STEPS = (
    "{step} and the steps after it are {count} steps; SageMaker runs at most "
    f"{MAX_SELECTED_STEPS} in a selective execution",
    "Start from a later step.",
)
NO_SOURCE = (
    "pipeline {name} has no Succeeded execution whose outputs the steps before {step} could reuse",
    "Run the pipeline once in full (from-step empty), or give source-execution-arn.",
)
SOURCE_MISSING = (
    "{arn} cannot be described: {detail}",
    "Pass an existing execution of this pipeline (an execution-arn output).",
)
SOURCE_STATUS = (
    "{arn} is {status}; SageMaker reuses outputs only from a Succeeded or Failed execution",
    "Wait for it to end, or pass another execution.",
)
SOURCE_LACKS_OUTPUTS = (
    "in {arn} the step(s) {steps} did not succeed, and the steps from {step} on read their outputs",
    "Pass an execution where they succeeded, or start from an earlier step.",
)


@dataclass(frozen=True)
class Selection:
    """The from-step and source-execution-arn inputs, for pipeline `pipeline_name`."""

    from_step: str = ""  # empty: every step runs
    source_arn: str = ""  # empty: the pipeline's latest Succeeded execution
    pipeline_name: str = ""


EVERY_STEP = Selection()


def checked_inputs(values: InputValues, pipeline_name: str, resuming: bool) -> Selection:
    """The inputs, checked as far as they can be before anything is called."""
    from_step, source_arn = values["from-step"], values["source-execution-arn"]
    if source_arn and not from_step:
        raise InputError("source-execution-arn", *SOURCE_WITHOUT_FROM_STEP)
    if from_step and resuming:
        raise InputError("from-step", *FROM_STEP_WHEN_RESUMING)
    if from_step:  # SelectedStep.StepName: String256
        aws_value("from-step", from_step, "sagemaker", "String256")
    if source_arn:
        _check_source_arn(source_arn, pipeline_name)
    return Selection(from_step, source_arn, pipeline_name)


def _check_source_arn(arn: str, pipeline_name: str) -> None:
    if "/execution/" not in arn:
        problem, fix = NOT_AN_EXECUTION
        raise InputError("source-execution-arn", problem.format(arn=shown(arn)), fix)
    aws_value("source-execution-arn", arn, "sagemaker", "PipelineExecutionArn")
    # arn:aws:sagemaker:<region>:<account>:pipeline/<name>/execution/<id>
    other = arn.split(":pipeline/", 1)[-1].split("/execution/", 1)[0]
    if other.lower() != pipeline_name.lower():  # pipeline names are case-insensitive in ARNs
        problem, fix = ANOTHER_PIPELINE
        problem = problem.format(arn=arn, other=other, name=pipeline_name)
        raise InputError("source-execution-arn", problem, fix.format(name=pipeline_name))


def execution_config(
    definition: dict[str, Any], selection: Selection, api: Pipelines
) -> SelectiveExecution | None:
    """The SelectiveExecutionConfig that runs `from_step` and every step after it, with the
    earlier steps' outputs from `source_arn` (or the latest Succeeded execution); None when
    from-step is empty. InputError, naming the input, when SageMaker would refuse it or the
    source cannot supply the outputs: raised before anything is uploaded or started."""
    from_step, source_arn = selection.from_step, selection.source_arn
    pipeline_name = selection.pipeline_name
    if not from_step:
        return None
    selected = steps_from(definition, from_step)
    if len(selected) > MAX_SELECTED_STEPS:
        problem, fix = TOO_MANY_STEPS
        raise InputError("from-step", problem.format(step=from_step, count=len(selected)), fix)
    if not source_arn:
        source_arn = api.latest_execution(pipeline_name, "Succeeded")
        if not source_arn:
            problem, fix = NO_SOURCE
            raise InputError("from-step", problem.format(name=pipeline_name, step=from_step), fix)
    try:
        status = api.describe_execution(source_arn).status
    except StageError as error:
        problem, fix = SOURCE_MISSING
        raise InputError(
            "source-execution-arn", problem.format(arn=source_arn, detail=error.detail), fix
        ) from None
    if status not in SOURCE_STATUSES:
        problem, fix = SOURCE_STATUS
        raise InputError("source-execution-arn", problem.format(arn=source_arn, status=status), fix)
    steps = defn.steps_by_name(definition)
    read = set().union(*(step_parents(steps, name) for name in selected)) - set(selected)
    succeeded = {step.name for step in api.list_steps(source_arn) if step.status == "Succeeded"}
    if read - succeeded:
        problem, fix = SOURCE_LACKS_OUTPUTS
        missing = ", ".join(sorted(read - succeeded))
        problem = problem.format(arn=source_arn, steps=missing, step=from_step)
        raise InputError("source-execution-arn", problem, fix)
    return SelectiveExecution(source_arn, selected)


def note(config: SelectiveExecution | None) -> str:
    """What a selective execution runs, for the log line of its start; '' for a full one."""
    if config is None:
        return ""
    source = config.source_arn.rsplit("/", 1)[-1]
    return f" (selective: {', '.join(config.selected_steps)}; the rest reused from {source})"


def steps_from(definition: dict[str, Any], from_step: str) -> tuple[str, ...]:
    """`from_step` and every step downstream of it (that reads its properties, depends on it,
    or is in the branches of a condition downstream of it), in the definition's order."""
    steps = defn.steps_by_name(definition)
    if from_step not in steps:
        problem, fix = UNKNOWN_STEP
        problem = problem.format(step=shown(from_step), steps=", ".join(steps))
        raise InputError("from-step", problem, fix)
    branch_of = _branch_conditions(steps)
    if from_step in branch_of:
        problem, fix = STEP_IN_A_BRANCH
        condition = branch_of[from_step]
        raise InputError(
            "from-step",
            problem.format(step=from_step, condition=condition),
            fix.format(condition=condition),
        )
    selected = {from_step}
    grew = True
    while grew:
        grew = False
        for name in steps:
            if name not in selected and step_parents(steps, name) & selected:
                selected.add(name)
                grew = True
    return tuple(name for name in steps if name in selected)


def step_parents(steps: dict[str, dict[str, Any]], name: str) -> set[str]:
    """The steps `name` waits for: DependsOn, the steps whose properties it reads, and the
    condition whose branch it is in."""
    step = steps[name]
    parents = defn.step_needs(step)
    condition = _branch_conditions(steps).get(name)
    return (parents | {condition} if condition else parents) - {name}


def _branch_conditions(steps: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each step inside a condition's IfSteps or ElseSteps -> that condition's name."""
    return {
        nested["Name"]: name
        for name, step in steps.items()
        if step.get("Type") == "Condition"
        for branch in ("IfSteps", "ElseSteps")
        for nested in step["Arguments"].get(branch) or []
    }
