"""Write the parts of each stage action that its stage module declares (INPUTS, OUTPUTS).

    .venv/bin/python scripts/generate_actions.py          # rewrite what is out of date
    .venv/bin/python scripts/generate_actions.py --check  # change nothing; exit 1 if stale

For every stage of smgha.stages.STAGES, in actions/<action>/action.yml: the `inputs:` and
`outputs:` blocks, and the INPUT_* entries of the `env:` of the step that runs
`-m smgha.stages.<module>` (its other entries, such as SMGHA_TOOLKIT_PYTHON, stay as
written, before them); in actions/<action>/README.md: the tables between
`<!-- inputs:start -->` / `<!-- inputs:end -->` and `<!-- outputs:start -->` /
`<!-- outputs:end -->`. Everything else (name, description, branding, the other steps,
comments, the README's prose) is hand-written: the files are edited as text, never
round-tripped through a YAML parser, so their comments and layout stay.
tests/test_generated_actions.py fails while a file differs from what this writes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's specs, whichever smgha is installed

from smgha.inputs import InputSpec  # noqa: E402
from smgha.stages import STAGES, OutputSpec, stage_module  # noqa: E402

COMMAND = ".venv/bin/python scripts/generate_actions.py"


# ---- action.yml ---------------------------------------------------------------------------


def yaml_string(text: str) -> str:
    """`text` as one quoted YAML scalar, so that no character (`#`, `: `, a leading `*` or
    `{`) changes what it means. Single-quoted (`'` written twice, nothing else escaped) when
    the text holds a `"` and no `'`, so JSON examples stay readable; double-quoted otherwise,
    written as a JSON string, which is a YAML double-quoted scalar (YAML 1.2, "JSON
    compatibility"; PyYAML reads the same escapes)."""
    if '"' in text and "'" not in text and text.isprintable():
        return f"'{text}'"
    return json.dumps(text, ensure_ascii=False)


def env_name(input_name: str) -> str:
    """The variable the stage step maps an input to (smgha.runner.Runner.get_input reads it)."""
    return "INPUT_" + input_name.upper().replace("-", "_")


def inputs_block(module: str, inputs: Sequence[InputSpec]) -> list[str]:
    lines = [
        "inputs:",
        f"  # Generated from INPUTS in smgha/stages/{module}.py by scripts/generate_actions.py.",
    ]
    for spec in inputs:
        lines += [
            f"  {spec.name}:",
            f"    description: {yaml_string(spec.description)}",
            f"    required: {'true' if spec.required else 'false'}",
        ]
        if spec.default:
            lines.append(f"    default: {yaml_string(spec.default)}")
    return lines


def outputs_block(module: str, outputs: Sequence[OutputSpec], step_id: str) -> list[str]:
    lines = [
        "outputs:",
        f"  # Generated from OUTPUTS in smgha/stages/{module}.py by scripts/generate_actions.py.",
    ]
    for spec in outputs:
        lines += [
            f"  {spec.name}:",
            f"    description: {yaml_string(spec.description)}",
            f"    value: ${{{{ steps.{step_id}.outputs.{spec.name} }}}}",
        ]
    return lines


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _top_level_block(lines: list[str], key: str) -> tuple[int, int]:
    """[start, end) of the top-level `key:` block: its line and the indented lines under it
    (blank lines after it are not part of it)."""
    starts = [i for i, line in enumerate(lines) if line.rstrip() == f"{key}:"]
    if len(starts) != 1:
        raise ValueError(f"expected one top-level '{key}:' line, found {len(starts)}")
    end = starts[0] + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > 0):
        end += 1
    while not lines[end - 1].strip():
        end -= 1
    return starts[0], end


def _stage_step(lines: list[str], module: str) -> tuple[int, int, str]:
    """[start, end) of the lines of the step running `-m smgha.stages.<module>`, and its id."""
    runs = [i for i, line in enumerate(lines) if f"-m smgha.stages.{module}" in line]
    if len(runs) != 1:
        raise ValueError(f"expected one step running -m smgha.stages.{module}, found {len(runs)}")
    start = runs[0]
    while not re.match(r"\s*- ", lines[start]):
        start -= 1
        if start < 0:
            raise ValueError(f"the step running -m smgha.stages.{module} is not in a list")
    end = start + 1
    while end < len(lines) and (
        not lines[end].strip() or _indent(lines[end]) > _indent(lines[start])
    ):
        end += 1
    step_id = ""
    for line in lines[start:end]:
        found = re.fullmatch(r"\s*(?:- )?id: *([A-Za-z0-9_-]+)\s*", line)
        if found:
            step_id = found.group(1)
            break
    if not step_id:
        raise ValueError(f"the step running -m smgha.stages.{module} has no id (outputs need one)")
    return start, end, step_id


def _with_env(lines: list[str], start: int, end: int, inputs: Sequence[InputSpec]) -> list[str]:
    """The step's lines with the INPUT_* entries of its `env:` generated, others kept first."""
    env_lines = [i for i in range(start, end) if re.fullmatch(r"\s*env:\s*", lines[i])]
    if len(env_lines) != 1:
        raise ValueError("the stage step needs one `env:` mapping (SMGHA_TOOLKIT_PYTHON at least)")
    env = env_lines[0]
    entries_end = env + 1
    while entries_end < end and _indent(lines[entries_end]) > _indent(lines[env]):
        entries_end += 1
    kept = [line for line in lines[env + 1 : entries_end] if not line.strip().startswith("INPUT_")]
    pad = " " * (_indent(lines[env]) + 2)
    mapped = [f"{pad}{env_name(spec.name)}: ${{{{ inputs.{spec.name} }}}}" for spec in inputs]
    return lines[: env + 1] + kept + mapped + lines[entries_end:]


def generate_action(
    text: str, module: str, inputs: Sequence[InputSpec], outputs: Sequence[OutputSpec]
) -> str:
    """action.yml `text` with its generated parts rewritten from the stage's specs."""
    lines = text.split("\n")
    start, end, step_id = _stage_step(lines, module)
    lines = _with_env(lines, start, end, inputs)
    for key, block in (
        ("inputs", inputs_block(module, inputs)),
        ("outputs", outputs_block(module, outputs, step_id)),
    ):
        first, last = _top_level_block(lines, key)
        lines[first:last] = block
    return "\n".join(lines)


# ---- README.md ----------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell, shown as written (`<region>` stays visible)."""
    value = " ".join(text.split())
    return value.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """A code span for a table cell ('' for no text); entities would show literally in it."""
    value = " ".join(text.split()).replace("|", "\\|")
    return f"`{value}`" if value else ""


def inputs_table(inputs: Sequence[InputSpec]) -> str:
    lines = ["| Name | Required | Default | Description |", "| --- | --- | --- | --- |"]
    for spec in inputs:
        required = "yes" if spec.required else "no"
        lines.append(
            f"| {_code(spec.name)} | {required} | {_code(spec.default)} | {_cell(spec.description)} |"
        )
    return "\n".join(lines)


def outputs_table(outputs: Sequence[OutputSpec]) -> str:
    lines = ["| Name | Description |", "| --- | --- |"]
    for spec in outputs:
        lines.append(f"| {_code(spec.name)} | {_cell(spec.description)} |")
    return "\n".join(lines)


def generate_readme(text: str, inputs: Sequence[InputSpec], outputs: Sequence[OutputSpec]) -> str:
    """README `text` with both tables rewritten; ValueError if a pair of markers is missing."""
    for kind, table in (("inputs", inputs_table(inputs)), ("outputs", outputs_table(outputs))):
        pattern = re.compile(rf"(<!-- {kind}:start -->\n)(.*?)(<!-- {kind}:end -->)", re.DOTALL)
        match = pattern.search(text)
        if not match:
            raise ValueError(f"no <!-- {kind}:start --> ... <!-- {kind}:end --> markers")
        text = f"{text[: match.start(2)]}{table}\n{text[match.end(2) :]}"
    return text


# ---- every stage --------------------------------------------------------------------------


def action_files(action: str, root: Path = ROOT) -> dict[Path, str]:
    """The generated files of one action (a key of STAGES), with the text each should have."""
    stage = stage_module(action)
    folder = root / "actions" / action
    action_yml, readme = folder / "action.yml", folder / "README.md"
    try:
        return {
            action_yml: generate_action(
                action_yml.read_text(encoding="utf-8"), STAGES[action], stage.INPUTS, stage.OUTPUTS
            ),
            readme: generate_readme(
                readme.read_text(encoding="utf-8"), stage.INPUTS, stage.OUTPUTS
            ),
        }
    except ValueError as error:
        raise ValueError(f"{folder.relative_to(root)}: {error}") from None


def generated_files(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file, with the text it should have."""
    return {path: text for action in STAGES for path, text in action_files(action, root).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    try:
        files = generated_files()
    except ValueError as error:  # a file whose hand-written part lacks what is generated into it
        print(f"error: {error}", file=sys.stderr)
        return 2
    stale = []
    for path, text in files.items():
        if path.read_text(encoding="utf-8") != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'rewrote'}: {path}")
    if stale and args.check:
        print(f"run {COMMAND} to update them")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
