"""The generated parts of the stage actions (scripts/generate_actions.py): no diff, and what
the generator writes means what the stage's INPUTS and OUTPUTS say.

Each stage's INPUTS and OUTPUTS are the only hand-written declaration of its inputs and
outputs; action.yml's `inputs:`, `outputs:` and stage step INPUT_* entries, and the README's
tables, are generated from them. These tests fail, naming the file and the command that
rewrites it, while a generated file differs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from smgha.inputs import InputSpec
from smgha.stages import STAGES, OutputSpec, stage_module
from tests.yaml_files import ROOT, rel


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_actions", ROOT / "scripts" / "generate_actions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = _load_generator()


@pytest.mark.parametrize("action", list(STAGES))
def test_generated_files_have_no_diff(action: str) -> None:
    for path, text in generator.action_files(action).items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{rel(path)} differs from what smgha/stages/{STAGES[action]}.py declares; "
            f"run {generator.COMMAND}"
        )


@pytest.mark.parametrize("action", list(STAGES))
def test_the_generated_action_means_the_spec(action: str) -> None:
    """Read back as YAML, the generated blocks say what the specs say (quoting included)."""
    stage = stage_module(action)
    path = ROOT / "actions" / action / "action.yml"
    document = yaml.safe_load(generator.action_files(action)[path])
    expected_inputs: dict[str, Any] = {}
    for spec in stage.INPUTS:
        declared: dict[str, Any] = {"description": spec.description, "required": spec.required}
        if spec.default:
            declared["default"] = spec.default
        expected_inputs[spec.name] = declared
    assert document["inputs"] == expected_inputs
    (step,) = [
        s for s in document["runs"]["steps"] if f"-m smgha.stages.{STAGES[action]}" in s["run"]
    ]
    assert document["outputs"] == {
        spec.name: {
            "description": spec.description,
            "value": f"${{{{ steps.{step['id']}.outputs.{spec.name} }}}}",
        }
        for spec in stage.OUTPUTS
    }
    assert step["env"] == {
        "SMGHA_TOOLKIT_PYTHON": "${{ steps.toolkit.outputs.python }}",
        **{
            "INPUT_" + spec.name.upper().replace("-", "_"): f"${{{{ inputs.{spec.name} }}}}"
            for spec in stage.INPUTS
        },
    }


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "a: b # not a comment",
        "it's",
        'say "hi"',
        """both ' and \"""",
        "*not an alias",
        "{not: a mapping}",
        "- not a list",
        "true",
        "60",
        "",
        "back\\slash",
        "tab\there",
        "line\nbreak",
        "ünïcode … <region>",
    ],
)
def test_yaml_string_reads_back_as_the_text(text: str) -> None:
    assert yaml.safe_load(f"key: {generator.yaml_string(text)}\n") == {"key": text}


ACTION = """\
# A hand-written comment that stays.
name: Example
inputs:
  old-input:
    description: gone after generation
    required: false

outputs:
  old-output:
    description: gone too
    value: ${{ steps.run.outputs.old-output }}

runs:
  using: composite
  steps:
    # The install step: not generated.
    - id: toolkit
      shell: bash
      env:
        INPUT_BACKEND: ${{ inputs.backend }}
      run: echo install
    # The stage step.
    - id: run
      shell: bash
      env:
        SMGHA_TOOLKIT_PYTHON: ${{ steps.toolkit.outputs.python }}
        INPUT_OLD_INPUT: ${{ inputs.old-input }}
        OTHER: kept
      run: |
        python -I -m smgha.stages.example
"""

INPUTS = (
    InputSpec("backend", "Where: sagemaker or local.", "sagemaker"),
    InputSpec("name-it", 'A "name", e.g. a: b', required=True),
)
OUTPUTS = (OutputSpec("status", "What happened."),)


def test_generate_action_rewrites_only_the_generated_parts() -> None:
    text = generator.generate_action(ACTION, "example", INPUTS, OUTPUTS)
    assert generator.generate_action(text, "example", INPUTS, OUTPUTS) == text
    assert "old-input" not in text and "old-output" not in text
    for kept in (
        "# A hand-written comment that stays.\n",
        "    # The install step: not generated.\n",
        "    # The stage step.\n",
        "      run: echo install\n",
    ):
        assert kept in text
    document = yaml.safe_load(text)
    assert document["inputs"]["name-it"] == {"description": 'A "name", e.g. a: b', "required": True}
    assert document["inputs"]["backend"]["default"] == "sagemaker"
    assert document["outputs"] == {
        "status": {"description": "What happened.", "value": "${{ steps.run.outputs.status }}"}
    }
    install, stage = document["runs"]["steps"]
    assert install["env"] == {"INPUT_BACKEND": "${{ inputs.backend }}"}  # not the stage step
    assert list(stage["env"].items()) == [
        ("SMGHA_TOOLKIT_PYTHON", "${{ steps.toolkit.outputs.python }}"),
        ("OTHER", "kept"),
        ("INPUT_BACKEND", "${{ inputs.backend }}"),
        ("INPUT_NAME_IT", "${{ inputs.name-it }}"),
    ]


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (ACTION.replace("-m smgha.stages.example", "-m other"), "expected one step running"),
        (ACTION.replace("outputs:\n  old", "results:\n  old"), "one top-level 'outputs:'"),
        (ACTION.replace("    - id: run\n", "    - name: run\n"), "has no id"),
    ],
)
def test_generate_action_refuses_a_file_it_cannot_place_blocks_in(
    broken: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generator.generate_action(broken, "example", INPUTS, OUTPUTS)


def test_generate_readme_escapes_and_replaces_between_the_markers() -> None:
    inputs = (InputSpec("a", "x | y <z>\nmore", required=True), InputSpec("b", "B", "1"))
    outputs = (OutputSpec("o", "O"),)
    readme = (
        "top\n<!-- inputs:start -->\nold\n<!-- inputs:end -->\n"
        "mid\n<!-- outputs:start -->\n<!-- outputs:end -->\nend\n"
    )
    updated = generator.generate_readme(readme, inputs, outputs)
    assert updated == (
        "top\n<!-- inputs:start -->\n"
        "| Name | Required | Default | Description |\n| --- | --- | --- | --- |\n"
        "| `a` | yes |  | x \\| y &lt;z&gt; more |\n"
        "| `b` | no | `1` | B |\n"
        "<!-- inputs:end -->\n"
        "mid\n<!-- outputs:start -->\n"
        "| Name | Description |\n| --- | --- |\n| `o` | O |\n"
        "<!-- outputs:end -->\nend\n"
    )
    assert generator.generate_readme(updated, inputs, outputs) == updated
    with pytest.raises(ValueError, match="outputs:start"):
        generator.generate_readme(readme.replace("outputs:start", "x"), inputs, outputs)


def test_check_mode_names_a_stale_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = ROOT / "actions" / "smoke-test" / "README.md"
    original = readme.read_text(encoding="utf-8")
    stale = original.replace("| `endpoint-name` |", "| `endpoint` |", 1)
    assert stale != original
    real_read_text = Path.read_text

    def read_text(path: Path, *args: Any, **kwargs: Any) -> str:
        return stale if path == readme else real_read_text(path, *args, **kwargs)

    # The check reads a stale README and must not write anything.
    monkeypatch.setattr(Path, "read_text", read_text)
    monkeypatch.setattr(Path, "write_text", lambda *a, **k: pytest.fail("--check wrote a file"))
    assert generator.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "out of date: actions/smoke-test/README.md" in out
    assert generator.COMMAND in out
