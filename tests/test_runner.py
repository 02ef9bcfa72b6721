"""Pin the exact bytes smgha.runner writes, against @actions/core's behaviour."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smgha.errors import InputError, StageError
from smgha.runner import Runner
from smgha.summary import SUMMARY_ARTIFACT, SUMMARY_SIZE_LIMIT, fenced_code
from smgha.workflow_commands import (
    escape_data,
    escape_property,
    plain_text,
    to_command_value,
    workflow_command,
)

NL = os.linesep
DELIM = "ghadelimiter_test"


def make_runner(
    env: dict[str, str] | None = None, delimiter: str = DELIM
) -> tuple[Runner, io.StringIO]:
    out = io.StringIO()
    return Runner(env=env or {}, stdout=out, delimiter_factory=lambda: delimiter), out


def counter_delimiters() -> Callable[[], str]:
    numbers: Iterator[int] = iter(range(1, 1000))
    return lambda: f"ghadelimiter_{next(numbers)}"


def read(path: Path) -> str:
    # newline="" so os.linesep comes back untranslated.
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    names = ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")
    paths = {name: tmp_path / name.lower() for name in names}
    for path in paths.values():
        path.write_text("", encoding="utf-8")
    return paths


@pytest.fixture
def file_env(files: dict[str, Path]) -> dict[str, str]:
    return {name: str(path) for name, path in files.items()}


# -- pure helpers ----------------------------------------------------------------------------


def test_to_command_value_matches_core() -> None:
    assert to_command_value(None) == ""
    assert to_command_value("a b") == "a b"
    assert to_command_value(True) == "true"
    assert to_command_value(3) == "3"
    assert to_command_value({"a": [1, "é"]}) == '{"a":[1,"é"]}'


def test_escape_data_and_property() -> None:
    assert escape_data("100%\r\nok: a,b") == "100%25%0D%0Aok: a,b"
    assert escape_property("100%\r\nok: a,b") == "100%25%0D%0Aok%3A a%2Cb"
    # % first, so an already-escaped sequence is escaped again rather than decoded.
    assert escape_data("%0A") == "%250A"


# -- inputs ----------------------------------------------------------------------------------


def test_get_input_reads_core_hyphen_form_and_trims() -> None:
    runner, _ = make_runner({"INPUT_ROLE-ARN": "  arn:aws:iam::1:role/x \n"})
    assert runner.get_input("role-arn") == "arn:aws:iam::1:role/x"
    assert runner.get_input("role-arn", trim=False) == "  arn:aws:iam::1:role/x \n"


def test_get_input_reads_underscore_form() -> None:
    runner, _ = make_runner({"INPUT_ROLE_ARN": "arn-underscore"})
    assert runner.get_input("role-arn") == "arn-underscore"


def test_get_input_hyphen_form_wins_when_both_set() -> None:
    runner, _ = make_runner({"INPUT_ROLE-ARN": "hyphen", "INPUT_ROLE_ARN": "underscore"})
    assert runner.get_input("role-arn") == "hyphen"


def test_get_input_empty_hyphen_form_falls_back_to_underscore() -> None:
    runner, _ = make_runner({"INPUT_ROLE-ARN": "", "INPUT_ROLE_ARN": "underscore"})
    assert runner.get_input("role-arn") == "underscore"


def test_get_input_spaces_become_underscores_and_name_is_upper_cased() -> None:
    runner, _ = make_runner({"INPUT_MY_INPUT": "v"})
    assert runner.get_input("my input") == "v"
    assert runner.get_input("My Input") == "v"


def test_get_input_missing_is_empty_string() -> None:
    runner, _ = make_runner({})
    assert runner.get_input("role-arn") == ""


def test_get_input_trims_like_javascript() -> None:
    # JS trim() strips U+FEFF but not U+0085; Python's str.strip() does the opposite.
    runner, _ = make_runner({"INPUT_A": "\ufeff x \u0085"})
    assert runner.get_input("a") == "x \u0085"


def test_required_input_missing_raises_input_error_naming_input() -> None:
    runner, _ = make_runner({"INPUT_ROLE-ARN": ""})
    with pytest.raises(InputError) as info:
        runner.get_input("role-arn", required=True)
    assert info.value.name == "role-arn"
    assert info.value.problem == "is required and was not supplied"
    assert "INPUT_ROLE-ARN/INPUT_ROLE_ARN" in info.value.hint
    assert str(info.value).startswith("input 'role-arn': is required and was not supplied. ")


def test_required_input_whitespace_counts_as_supplied_like_core() -> None:
    runner, _ = make_runner({"INPUT_NAME": "   "})
    assert runner.get_input("name", required=True) == ""


@pytest.mark.parametrize("spelling", ["true", "True", "TRUE"])
def test_bool_input_true_spellings(spelling: str) -> None:
    runner, _ = make_runner({"INPUT_WAIT": spelling})
    assert runner.get_bool_input("wait") is True


@pytest.mark.parametrize("spelling", ["false", "False", "FALSE"])
def test_bool_input_false_spellings(spelling: str) -> None:
    runner, _ = make_runner({"INPUT_WAIT": spelling})
    assert runner.get_bool_input("wait") is False


def test_bool_input_is_trimmed_first() -> None:
    runner, _ = make_runner({"INPUT_WAIT": " true\n"})
    assert runner.get_bool_input("wait") is True


@pytest.mark.parametrize("spelling", ["yes", "no", "1", "0", "on", "off", "tRUE", "y", "t"])
def test_bool_input_rejects_other_spellings(spelling: str) -> None:
    runner, _ = make_runner({"INPUT_WAIT-FOR": spelling})
    with pytest.raises(InputError) as info:
        runner.get_bool_input("wait-for", default=True)
    assert info.value.name == "wait-for"
    assert info.value.problem == (
        f'does not meet YAML 1.2 "Core Schema" specification (got {spelling!r})'
    )
    assert info.value.hint == (
        "Supported boolean values: true | True | TRUE | false | False | FALSE"
    )


@pytest.mark.parametrize("default", [True, False])
def test_bool_input_empty_gives_default(default: bool) -> None:
    runner, _ = make_runner({"INPUT_WAIT": ""})
    assert runner.get_bool_input("wait", default=default) is default


def test_bool_input_empty_without_default_raises() -> None:
    runner, _ = make_runner({})
    with pytest.raises(InputError) as info:
        runner.get_bool_input("wait")
    assert info.value.name == "wait"
    assert info.value.problem == 'does not meet YAML 1.2 "Core Schema" specification'


def test_bool_input_required_and_missing_raises_required_error() -> None:
    runner, _ = make_runner({})
    with pytest.raises(InputError) as info:
        runner.get_bool_input("wait", required=True, default=False)
    assert info.value.problem == "is required and was not supplied"


def test_bool_input_underscore_form() -> None:
    runner, _ = make_runner({"INPUT_WAIT_FOR": "FALSE"})
    assert runner.get_bool_input("wait-for", default=True) is False


def test_multiline_input_drops_empty_lines_and_trims() -> None:
    runner, _ = make_runner({"INPUT_TAGS": "\n  a=1 \r\n\n b=2\n\n"})
    assert runner.get_multiline_input("tags") == ["a=1", "b=2"]


def test_multiline_input_untrimmed() -> None:
    runner, _ = make_runner({"INPUT_TAGS": " a\n\nb \n"})
    assert runner.get_multiline_input("tags", trim=False) == [" a", "b "]


def test_multiline_input_whitespace_only_line_survives_as_empty_like_core() -> None:
    runner, _ = make_runner({"INPUT_TAGS": "a\n   \nb"})
    assert runner.get_multiline_input("tags") == ["a", "", "b"]


def test_multiline_input_missing() -> None:
    runner, _ = make_runner({})
    assert runner.get_multiline_input("tags") == []
    with pytest.raises(InputError) as info:
        runner.get_multiline_input("tags", required=True)
    assert info.value.name == "tags"


# -- outputs, env, PATH ----------------------------------------------------------------------


def test_set_output_writes_heredoc_to_output_file(
    files: dict[str, Path], file_env: dict[str, str]
) -> None:
    out = io.StringIO()
    runner = Runner(env=file_env, stdout=out, delimiter_factory=counter_delimiters())
    runner.set_output("endpoint-name", "my-endpoint")
    runner.set_output("multi", "line 1\nline 2")
    runner.set_output("metrics", {"auc": 0.9, "ok": True})
    runner.set_output("none", None)
    assert read(files["GITHUB_OUTPUT"]) == (
        f"endpoint-name<<ghadelimiter_1{NL}my-endpoint{NL}ghadelimiter_1{NL}"
        f"multi<<ghadelimiter_2{NL}line 1\nline 2{NL}ghadelimiter_2{NL}"
        f'metrics<<ghadelimiter_3{NL}{{"auc":0.9,"ok":true}}{NL}ghadelimiter_3{NL}'
        f"none<<ghadelimiter_4{NL}{NL}ghadelimiter_4{NL}"
    )
    assert runner.outputs == {
        "endpoint-name": "my-endpoint",
        "multi": "line 1\nline 2",
        "metrics": '{"auc":0.9,"ok":true}',
        "none": "",
    }
    assert out.getvalue() == ""


def test_set_output_appends_to_existing_content(
    files: dict[str, Path], file_env: dict[str, str]
) -> None:
    files["GITHUB_OUTPUT"].write_text("earlier=1\n", encoding="utf-8")
    runner, _ = make_runner(file_env)
    runner.set_output("a", "b")
    assert read(files["GITHUB_OUTPUT"]) == f"earlier=1\na<<{DELIM}{NL}b{NL}{DELIM}{NL}"


def test_set_output_without_output_file_records_only() -> None:
    runner, out = make_runner({})
    runner.set_output("model-arn", "arn:x")
    runner.set_output("count", 3)
    assert runner.outputs == {"model-arn": "arn:x", "count": "3"}
    assert out.getvalue() == ""


def test_set_output_uses_fresh_delimiter_per_call(
    files: dict[str, Path], file_env: dict[str, str]
) -> None:
    calls: list[str] = []

    def factory() -> str:
        calls.append(f"d{len(calls)}")
        return calls[-1]

    runner = Runner(env=file_env, stdout=io.StringIO(), delimiter_factory=factory)
    runner.set_output("a", "1")
    runner.set_output("b", "2")
    assert calls == ["d0", "d1"]


def test_default_delimiter_is_core_format(files: dict[str, Path], file_env: dict[str, str]) -> None:
    runner = Runner(env=file_env, stdout=io.StringIO())
    runner.set_output("a", "1")
    first_line = read(files["GITHUB_OUTPUT"]).split(NL)[0]
    assert first_line.startswith("a<<ghadelimiter_")
    assert len(first_line) == len("a<<ghadelimiter_") + 36  # a uuid4 in canonical form


@pytest.mark.parametrize(
    ("name", "value", "where"),
    [(f"x{DELIM}", "v", "name"), ("x", f"evil\n{DELIM}\ninjected=1", "value")],
)
def test_delimiter_collision_raises_and_writes_nothing(
    files: dict[str, Path], file_env: dict[str, str], name: str, value: str, where: str
) -> None:
    runner, _ = make_runner(file_env)
    with pytest.raises(ValueError, match=f'{where} should not contain the delimiter "{DELIM}"'):
        runner.set_output(name, value)
    assert read(files["GITHUB_OUTPUT"]) == ""
    assert runner.outputs == {}


def test_output_file_missing_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    runner, _ = make_runner({"GITHUB_OUTPUT": str(missing)})
    with pytest.raises(StageError, match="GITHUB_OUTPUT is .*nope', and there is no such file"):
        runner.set_output("a", "b")
    assert not missing.exists()


def test_export_variable_writes_env_file_and_updates_env(
    files: dict[str, Path], file_env: dict[str, str]
) -> None:
    runner, out = make_runner(file_env)
    runner.export_variable("AWS_REGION", "eu-west-1")
    runner.export_variable("FLAGS", ["a", 1])
    assert read(files["GITHUB_ENV"]) == (
        f'AWS_REGION<<{DELIM}{NL}eu-west-1{NL}{DELIM}{NL}FLAGS<<{DELIM}{NL}["a",1]{NL}{DELIM}{NL}'
    )
    assert runner.env["AWS_REGION"] == "eu-west-1"
    assert runner.env["FLAGS"] == '["a",1]'
    assert out.getvalue() == ""


def test_export_variable_collision_leaves_env_and_file_untouched(
    files: dict[str, Path], file_env: dict[str, str]
) -> None:
    runner, _ = make_runner(file_env)
    with pytest.raises(ValueError, match="value should not contain the delimiter"):
        runner.export_variable("X", f"a{DELIM}")
    assert "X" not in runner.env
    assert read(files["GITHUB_ENV"]) == ""


def test_export_variable_without_env_file_updates_env_only() -> None:
    runner, out = make_runner({})
    runner.export_variable("X", "1")
    assert runner.env == {"X": "1"}
    assert out.getvalue() == ""


def test_runner_env_is_a_copy() -> None:
    source = {"A": "1"}
    runner, _ = make_runner(source)
    runner.export_variable("B", "2")
    runner.add_path("/x")
    assert source == {"A": "1"}
    assert runner.env == {"A": "1", "B": "2", "PATH": "/x"}


def test_default_env_is_a_copy_of_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_FROM-PROCESS", "yes")
    monkeypatch.delenv("SMGHA_TEST_EXPORTED", raising=False)
    # On a real runner, keep the test from writing to the job's own GITHUB_ENV file.
    monkeypatch.delenv("GITHUB_ENV", raising=False)
    runner = Runner(stdout=io.StringIO())
    assert runner.get_input("from-process") == "yes"
    runner.export_variable("SMGHA_TEST_EXPORTED", "1")
    assert runner.env["SMGHA_TEST_EXPORTED"] == "1"
    assert "SMGHA_TEST_EXPORTED" not in os.environ


def test_add_path_writes_path_file_and_prepends(
    files: dict[str, Path], file_env: dict[str, str]
) -> None:
    runner, out = make_runner({**file_env, "PATH": f"/usr/bin{os.pathsep}/bin"})
    runner.add_path("/opt/tool/bin")
    runner.add_path(Path("/opt/other"))
    assert read(files["GITHUB_PATH"]) == f"/opt/tool/bin{NL}{os.fspath(Path('/opt/other'))}{NL}"
    assert runner.env["PATH"] == os.pathsep.join(
        [os.fspath(Path("/opt/other")), "/opt/tool/bin", "/usr/bin", "/bin"]
    )
    assert out.getvalue() == ""


def test_add_path_without_path_file_or_path() -> None:
    runner, out = make_runner({})
    runner.add_path("/opt/tool/bin")
    assert runner.env["PATH"] == "/opt/tool/bin"
    assert out.getvalue() == ""


# -- log commands ----------------------------------------------------------------------------


def test_set_secret_single_line() -> None:
    runner, out = make_runner()
    runner.set_secret("s3cr3t%")
    assert out.getvalue() == "::add-mask::s3cr3t%25\n"


def test_set_secret_multiline_masks_whole_and_each_line() -> None:
    runner, out = make_runner()
    runner.set_secret("-----BEGIN KEY-----\r\nabc\n\n   \n  def \nabc\n-----END KEY-----\n")
    assert out.getvalue() == (
        "::add-mask::-----BEGIN KEY-----%0D%0Aabc%0A%0A   %0A  def %0Aabc%0A-----END KEY-----%0A\n"
        "::add-mask::-----BEGIN KEY-----\n"
        "::add-mask::abc\n"
        "::add-mask::def\n"
        "::add-mask::-----END KEY-----\n"
    )


def test_debug_info_and_is_debug() -> None:
    runner, out = make_runner({"RUNNER_DEBUG": "1"})
    runner.debug("50% done\nnext")
    runner.info("plain: 100%\nkept")
    assert out.getvalue() == "::debug::50%25 done%0Anext\nplain: 100%\nkept\n"
    assert runner.is_debug() is True
    assert make_runner({"RUNNER_DEBUG": "true"})[0].is_debug() is False
    assert make_runner({})[0].is_debug() is False


# Lines the runner would obey (actions/runner ActionCommand.TryParseV2: "::" after any
# leading white space, the name case-insensitive; TryParse: "##[" anywhere), each as text
# from outside that a stage prints as a plain line.
HOSTILE_LINES = [
    "::stop-commands::T",
    "::add-mask::x",
    "::ERROR::x",
    "  ::error::x",
    "\t::warning::x",
    "\u2028::error::x",  # .NET's TrimStart trims U+2028; ReadLine does not split at it
    "\u0085::notice::x",
    "\u00a0::group::x",
    "\ufeff::error::x",
    "##[group]x",
    "text ##[error]x",
    "::set-output name=a::b",
    "::T::",  # a stop token resumes commands
]


@pytest.mark.parametrize("line", HOSTILE_LINES)
def test_workflow_command_reads_what_the_runner_reads(line: str) -> None:
    assert workflow_command(line) is not None


@pytest.mark.parametrize(
    "line", ["plain", "a ::error::x", ": :error::x", "##x]", "::x", "\\::error::x"]
)
def test_workflow_command_leaves_plain_lines(line: str) -> None:
    assert workflow_command(line) is None


@pytest.mark.parametrize("line", HOSTILE_LINES)
@pytest.mark.parametrize("before", ["", "progress\n", "progress\r", "progress\r\n"])
def test_info_never_prints_a_command(line: str, before: str) -> None:
    runner, out = make_runner()
    runner.info(f"{before}{line}")
    lines = out.getvalue().replace("\r\n", "\n").replace("\r", "\n").split("\n")
    assert lines[-1] == ""
    assert [workflow_command(text) for text in lines] == [None] * len(lines)
    # Shown, not dropped: the text stays readable after its guard.
    assert line.replace("##[", "##\\[") in out.getvalue()


def test_plain_text_keeps_lines_and_guards_only_commands() -> None:
    assert plain_text("a\r\nb\rc\nd") == "a\nb\nc\nd"
    assert plain_text("ok: 100% %0A::x") == "ok: 100% %0A::x"
    assert plain_text("x\n::error::y") == "x\n\\::error::y"
    assert plain_text("x ##[group]y") == "x ##\\[group]y"
    assert plain_text(None) == "" and plain_text({"a": 1}) == '{"a":1}'


def test_annotations_groups_and_masks_hold_hostile_text_in_one_command() -> None:
    runner, out = make_runner()
    hostile = "a\n::stop-commands::T\r##[group]x"
    runner.error(hostile, title=hostile)
    runner.warning(hostile)
    runner.notice(hostile)
    runner.debug(hostile)
    runner.set_secret(hostile)
    with runner.group(hostile):
        pass
    names = [workflow_command(line) for line in out.getvalue().split("\n")[:-1]]
    assert names == ["error", "warning", "notice", "debug", "add-mask", "add-mask", "add-mask"] + [
        "add-mask",
        "group",
        "endgroup",
    ]


# The modules that get, and renew, AWS credentials for the stages.
CREDENTIAL_MODULES = ("credentials.py", "github_oidc.py", "aws_session.py", "oidc_trust.py")


def test_stage_code_prints_only_through_the_runner() -> None:
    """The guard of `Runner.info` is the only path to the log: no stage (nor the credential
    code oidc-auth logs through) prints, or writes to sys.stdout or sys.stderr, itself (the
    runner reads commands from both streams). The credential code does not even import the
    runner: it logs and masks through the `log` and `mask` its caller passes."""
    import ast

    import smgha

    package = Path(smgha.__file__).parent
    credential_code = [package / name for name in CREDENTIAL_MODULES]
    offenders = []
    for path in [*sorted((package / "stages").glob("*.py")), *credential_code]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if path in credential_code and isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names += [alias.name for alias in node.names]
                if any(name.startswith("smgha.runner") for name in names):
                    offenders.append(f"{path.name}:{node.lineno} imports smgha.runner")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print":
                offenders.append(f"{path.name}:{node.lineno} print()")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("stdout", "stderr")
                and getattr(node.value, "id", "") == "sys"
            ):
                offenders.append(f"{path.name}:{node.lineno} sys.{node.attr}")
    assert offenders == []


@pytest.mark.parametrize("command", ["error", "warning", "notice"])
def test_annotation_with_every_property(command: str) -> None:
    runner, out = make_runner()
    getattr(runner, command)(
        "failed", title="Bad", file="src/a.py", line=3, end_line=4, col=5, end_column=6
    )
    assert out.getvalue() == (
        f"::{command} title=Bad,file=src/a.py,line=3,endLine=4,col=5,endColumn=6::failed\n"
    )


def test_annotation_without_properties() -> None:
    runner, out = make_runner()
    runner.error("plain")
    runner.warning(RuntimeError("boom"))
    assert out.getvalue() == "::error::plain\n::warning::boom\n"


def test_annotation_only_given_properties_in_core_order() -> None:
    runner, out = make_runner()
    runner.notice("n", end_column=9, file="f.py", line=2)
    runner.warning("w", title="T", line=0)  # 0 is falsy: left out, like core
    assert out.getvalue() == "::notice file=f.py,line=2,endColumn=9::n\n::warning title=T::w\n"


def test_annotation_escaping() -> None:
    runner, out = make_runner()
    runner.error(
        "100% broken\r\nsee: a,b",
        title="Step: train, 50%\nretry",
        file="C:\\repo\\a,b.py",
    )
    assert out.getvalue() == (
        "::error title=Step%3A train%2C 50%25%0Aretry,file=C%3A\\repo\\a%2Cb.py"
        "::100%25 broken%0D%0Asee: a,b\n"
    )


def test_annotation_input_error_message() -> None:
    runner, out = make_runner()
    runner.error(InputError("role-arn", "is required and was not supplied"), title="Input")
    assert out.getvalue() == (
        "::error title=Input::input 'role-arn': is required and was not supplied\n"
    )


def test_group_lines() -> None:
    runner, out = make_runner()
    with runner.group("Train: step 1, 50%"):
        runner.info("inside")
    assert out.getvalue() == "::group::Train: step 1, 50%25\ninside\n::endgroup::\n"


def test_group_ends_when_body_raises() -> None:
    runner, out = make_runner()
    with pytest.raises(RuntimeError, match="boom"), runner.group("g"):
        runner.info("before")
        raise RuntimeError("boom")
    assert out.getvalue() == "::group::g\nbefore\n::endgroup::\n"


def test_default_stdout_is_looked_up_at_write_time(capsys: pytest.CaptureFixture[str]) -> None:
    runner = Runner(env={})
    runner.notice("hello")
    assert capsys.readouterr().out == "::notice::hello\n"


# -- summary ---------------------------------------------------------------------------------


def test_summary_is_same_instance_and_builders_chain() -> None:
    runner, _ = make_runner()
    summary = runner.summary
    assert runner.summary is summary
    assert summary.heading("H").paragraph("p").raw("r").eol() is summary


def test_summary_markdown_blocks() -> None:
    runner, _ = make_runner()
    text = (
        runner.summary.heading("Deploy", level=1)
        .heading("Details")
        .heading("bad level\nflattened", level=9)
        .paragraph("Endpoint is **InService**.")
        .code_block('{"a": 1}', lang="json")
        .code_block("has ``` inside\n")
        .details("Logs", "line 1\nline 2")
        .raw("raw", add_eol=True)
        .eol()
        .stringify()
    )
    assert text == (
        "# Deploy\n\n"
        "## Details\n\n"
        "# bad level flattened\n\n"
        "Endpoint is **InService**.\n\n"
        '```json\n{"a": 1}\n```\n\n'
        "````\nhas ``` inside\n````\n\n"
        "<details><summary>Logs</summary>\n\nline 1\nline 2\n\n</details>\n\n"
        "raw\n\n"
    )


def test_summary_table_escapes_pipes_and_newlines() -> None:
    runner, _ = make_runner()
    runner.summary.table(
        ["Metric", "Value|unit"],
        [["auc", "0.91"], ["a|b", "line 1\nline 2\r\nline 3"], ["short"]],
    )
    assert runner.summary.stringify() == (
        "| Metric | Value\\|unit |\n"
        "| --- | --- |\n"
        "| auc | 0.91 |\n"
        "| a\\|b | line 1<br>line 2<br>line 3 |\n"
        "| short |  |\n"
        "\n"
    )


def test_summary_table_rejects_long_rows_and_empty_header() -> None:
    runner, _ = make_runner()
    with pytest.raises(ValueError, match="row 1 has 3 cells, the header has 2"):
        runner.summary.table(["a", "b"], [["1", "2", "3"]])
    with pytest.raises(ValueError, match="at least one header cell"):
        runner.summary.table([], [])
    assert runner.summary.is_empty_buffer()


def test_summary_write_appends_to_file_and_clears_buffer(
    files: dict[str, Path], file_env: dict[str, str]
) -> None:
    files["GITHUB_STEP_SUMMARY"].write_text("previous\n", encoding="utf-8")
    runner, _ = make_runner(file_env)
    runner.summary.heading("Eval").table(["k", "v"], [["x|y", "1"]]).write()
    assert runner.summary.is_empty_buffer()
    runner.summary.paragraph("second").write()
    assert read(files["GITHUB_STEP_SUMMARY"]) == (
        "previous\n## Eval\n\n| k | v |\n| --- | --- |\n| x\\|y | 1 |\n\nsecond\n\n"
    )
    assert runner.summary_text == ""


def test_summary_write_overwrite(files: dict[str, Path], file_env: dict[str, str]) -> None:
    files["GITHUB_STEP_SUMMARY"].write_text("previous\n", encoding="utf-8")
    runner, _ = make_runner(file_env)
    runner.summary.paragraph("only").write(overwrite=True)
    assert read(files["GITHUB_STEP_SUMMARY"]) == "only\n\n"


def test_summary_accumulates_when_unset() -> None:
    runner, out = make_runner({})
    runner.summary.heading("One").write()
    runner.summary.table(["a"], [["1|2"]]).write()
    assert runner.summary_text == "## One\n\n| a |\n| --- |\n| 1\\|2 |\n\n"
    assert runner.summary.is_empty_buffer()
    assert out.getvalue() == ""
    runner.summary.paragraph("fresh").write(overwrite=True)
    assert runner.summary_text == "fresh\n\n"


def test_summary_empty_buffer_discards() -> None:
    runner, _ = make_runner({})
    runner.summary.paragraph("half-built").empty_buffer().write()
    assert runner.summary_text == ""


def test_summary_file_missing_raises(tmp_path: Path) -> None:
    runner, _ = make_runner({"GITHUB_STEP_SUMMARY": str(tmp_path / "nope")})
    runner.summary.paragraph("x")
    with pytest.raises(StageError, match="GITHUB_STEP_SUMMARY is .*nope', and there is no such"):
        runner.summary.write()
    assert runner.summary.stringify() == "x\n\n"


def test_fenced_code_outgrows_backtick_runs_in_the_code() -> None:
    assert fenced_code("a", "diff") == "```diff\na\n```"
    assert fenced_code("x ````` y\n") == "``````\nx ````` y\n``````"


# -- summary size limit ----------------------------------------------------------------------

TRUNCATED = "\n**Job summary truncated:** "
# Closes the `<details>` and the ```` fence that `oversized_section` opens.
CLOSERS = "````\n\n</details>\n\n"


def filler(size: int, char: str = "x") -> str:
    """`size` bytes of 100-byte lines (`char` must be one byte)."""
    lines, rest = divmod(size, 100)
    return (char * 99 + "\n") * lines + char * rest


def oversized_section(size: int) -> str:
    """A `<details>` section holding a code block whose lines contain ```, about `size` bytes."""
    line = "+ a diff line with ``` in it " + "d" * 70 + "\n"
    body = line * (size // len(line))
    return f"<details><summary>Diff</summary>\n\n````diff\n{body}````\n\n</details>\n\n"


def summary_env(file_env: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "GITHUB_STEP_SUMMARY": file_env["GITHUB_STEP_SUMMARY"],
        "SMGHA_SUMMARY_DIR": str(tmp_path / "spill"),
        "GITHUB_JOB": "build",
        "GITHUB_ACTION": "__run_2",
    }
    env.update(extra)
    return env


def split_note(written: str) -> tuple[str, str]:
    """A cut summary's (text before the note, note)."""
    assert written.count(TRUNCATED) == 1
    head, note = written.split(TRUNCATED)
    return head, note


def size(path: Path) -> int:
    return path.stat().st_size


def test_summary_exactly_at_the_limit_is_written_whole(
    files: dict[str, Path], file_env: dict[str, str], tmp_path: Path
) -> None:
    files["GITHUB_STEP_SUMMARY"].write_text("previous\n", encoding="utf-8")
    runner, out = make_runner(summary_env(file_env, tmp_path))
    text = filler(SUMMARY_SIZE_LIMIT - len("previous\n"))
    runner.summary.raw(text).write()
    assert read(files["GITHUB_STEP_SUMMARY"]) == "previous\n" + text
    assert size(files["GITHUB_STEP_SUMMARY"]) == SUMMARY_SIZE_LIMIT
    assert out.getvalue() == ""
    assert not (tmp_path / "spill").exists()


def test_summary_one_byte_over_the_limit_is_cut(
    files: dict[str, Path], file_env: dict[str, str], tmp_path: Path
) -> None:
    files["GITHUB_STEP_SUMMARY"].write_text("previous\n", encoding="utf-8")
    runner, out = make_runner(summary_env(file_env, tmp_path))
    runner.summary.raw(filler(SUMMARY_SIZE_LIMIT - len("previous\n") + 1)).write()
    assert size(files["GITHUB_STEP_SUMMARY"]) <= SUMMARY_SIZE_LIMIT
    assert TRUNCATED in read(files["GITHUB_STEP_SUMMARY"])
    assert out.getvalue().startswith("::warning title=Job summary truncated::")


def test_summary_over_the_limit_keeps_whole_lines_closes_blocks_and_saves_the_full_text(
    files: dict[str, Path], file_env: dict[str, str], tmp_path: Path
) -> None:
    runner, out = make_runner(summary_env(file_env, tmp_path))
    text = "## Dry run\n\n" + oversized_section(SUMMARY_SIZE_LIMIT * 3 // 2)
    runner.summary.raw(text).write()

    written = read(files["GITHUB_STEP_SUMMARY"])
    assert size(files["GITHUB_STEP_SUMMARY"]) <= SUMMARY_SIZE_LIMIT
    head, note = split_note(written)
    # The fence and <details> open at the cut are closed, so the note renders after them.
    assert head.endswith("\n" + CLOSERS)
    kept = head[: -len(CLOSERS)]
    assert text.startswith(kept) and kept.endswith(" in it " + "d" * 70 + "\n")
    assert len(kept.encode()) > SUMMARY_SIZE_LIMIT // 2
    omitted = len(text.encode()) - len(kept.encode())
    full = tmp_path / "spill" / "build-__run_2-1.md"
    assert note == (
        f"{omitted:,} bytes were left out to keep this step's summary within GitHub's limit of "
        f"1 MiB (the runner drops a larger summary whole). The full text is in `{full}`; the "
        f"smgha reusable workflows upload that folder as the artifact `{SUMMARY_ARTIFACT}-<job id>`.\n\n"
    )
    assert full.read_bytes() == text.encode()
    assert [p.name for p in (tmp_path / "spill").iterdir()] == [full.name]
    assert runner.summary.is_empty_buffer()
    assert out.getvalue() == (
        f"::warning title=Job summary truncated::{omitted:,} bytes were left out to keep this "
        "step's summary within GitHub's limit of 1 MiB (the runner drops a larger summary "
        f"whole). The full text is in {full}; the smgha reusable workflows upload that folder "
        f"as the artifact {SUMMARY_ARTIFACT}-<job id>.\n"
    )


def test_summary_writes_that_together_cross_the_limit(
    files: dict[str, Path], file_env: dict[str, str], tmp_path: Path
) -> None:
    runner, out = make_runner(summary_env(file_env, tmp_path))
    first = filler(SUMMARY_SIZE_LIMIT * 3 // 4, "a")
    second = filler(SUMMARY_SIZE_LIMIT // 2, "b") + "\n"
    runner.summary.raw(first).write()
    assert out.getvalue() == ""
    runner.summary.raw(second).write()
    written = read(files["GITHUB_STEP_SUMMARY"])
    assert size(files["GITHUB_STEP_SUMMARY"]) <= SUMMARY_SIZE_LIMIT
    assert written.startswith(first)
    kept, _ = split_note(written[len(first) :])
    assert kept and second.startswith(kept) and kept.endswith("\n")
    assert (tmp_path / "spill" / "build-__run_2-1.md").read_bytes() == second.encode()
    assert len(out.getvalue().splitlines()) == 1
    # The cut leaves room: a short section after it still fits whole.
    runner.summary.paragraph("Metrics follow.").write()
    assert read(files["GITHUB_STEP_SUMMARY"]).endswith("\n\nMetrics follow.\n\n")
    # A third write over the limit gets the next file name.
    runner.summary.raw(filler(SUMMARY_SIZE_LIMIT, "c")).write()
    assert size(files["GITHUB_STEP_SUMMARY"]) <= SUMMARY_SIZE_LIMIT
    assert read(files["GITHUB_STEP_SUMMARY"]).count(TRUNCATED) == 2
    assert (tmp_path / "spill" / "build-__run_2-2.md").read_bytes() == filler(
        SUMMARY_SIZE_LIMIT, "c"
    ).encode()
    assert len(out.getvalue().splitlines()) == 2


def test_summary_cut_between_lines_of_multibyte_characters(
    files: dict[str, Path], file_env: dict[str, str], tmp_path: Path
) -> None:
    runner, _ = make_runner(summary_env(file_env, tmp_path))
    text = ("€" * 33 + "\n") * (SUMMARY_SIZE_LIMIT // 100 + 1)
    runner.summary.raw(text).write()
    assert size(files["GITHUB_STEP_SUMMARY"]) <= SUMMARY_SIZE_LIMIT
    kept, _ = split_note(read(files["GITHUB_STEP_SUMMARY"]))
    assert kept.endswith("€\n") and text.startswith(kept)


@pytest.mark.parametrize("offset", range(4))
def test_summary_cut_inside_one_long_line_keeps_whole_characters(
    files: dict[str, Path], file_env: dict[str, str], tmp_path: Path, offset: int
) -> None:
    # 4-byte characters after 0..3 bytes already written: every alignment of the cut.
    files["GITHUB_STEP_SUMMARY"].write_text("p" * offset, encoding="utf-8")
    runner, _ = make_runner(summary_env(file_env, tmp_path))
    text = "😀" * (SUMMARY_SIZE_LIMIT // 4 + 1)
    runner.summary.raw(text).write()
    assert size(files["GITHUB_STEP_SUMMARY"]) <= SUMMARY_SIZE_LIMIT
    kept, note = split_note(read(files["GITHUB_STEP_SUMMARY"])[offset:])  # decodes strictly
    assert kept.endswith("😀\n") and text.startswith(kept[:-1])
    assert note.startswith(f"{len(text.encode()) - len(kept[:-1].encode()):,} bytes were left out")


def test_summary_overwrite_resets_the_count(
    files: dict[str, Path], file_env: dict[str, str], tmp_path: Path
) -> None:
    runner, out = make_runner(summary_env(file_env, tmp_path))
    runner.summary.raw(filler(SUMMARY_SIZE_LIMIT - 10)).write()
    whole = filler(SUMMARY_SIZE_LIMIT, "o")
    runner.summary.raw(whole).write(overwrite=True)
    assert read(files["GITHUB_STEP_SUMMARY"]) == whole
    assert out.getvalue() == ""
    runner.summary.raw(whole + "\n").write(overwrite=True)
    written = read(files["GITHUB_STEP_SUMMARY"])
    assert size(files["GITHUB_STEP_SUMMARY"]) <= SUMMARY_SIZE_LIMIT
    kept, _ = split_note(written)
    assert len(kept.encode()) > SUMMARY_SIZE_LIMIT // 2 and whole.startswith(kept)


def test_summary_already_full_appends_nothing_but_warns_and_saves(
    files: dict[str, Path], file_env: dict[str, str], tmp_path: Path
) -> None:
    files["GITHUB_STEP_SUMMARY"].write_text(filler(SUMMARY_SIZE_LIMIT - 5), encoding="utf-8")
    runner, out = make_runner(summary_env(file_env, tmp_path))
    runner.summary.paragraph("no room").write()
    assert size(files["GITHUB_STEP_SUMMARY"]) == SUMMARY_SIZE_LIMIT - 5
    assert out.getvalue().startswith("::warning title=Job summary truncated::9 bytes were left")
    assert (tmp_path / "spill" / "build-__run_2-1.md").read_text() == "no room\n\n"


def test_summary_file_names_keep_safe_characters_only(
    files: dict[str, Path], file_env: dict[str, str], tmp_path: Path
) -> None:
    env = summary_env(file_env, tmp_path, GITHUB_ACTION="../my org/act:1")
    del env["GITHUB_JOB"]
    runner, _ = make_runner(env)
    runner.summary.raw(filler(SUMMARY_SIZE_LIMIT + 1)).write(overwrite=True)
    assert [p.name for p in (tmp_path / "spill").iterdir()] == ["_my_org_act_1-1.md"]


def test_summary_full_text_folder_defaults(
    files: dict[str, Path],
    file_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = summary_env(file_env, tmp_path, RUNNER_TEMP=str(tmp_path / "runner-temp"))
    del env["SMGHA_SUMMARY_DIR"], env["GITHUB_JOB"], env["GITHUB_ACTION"]
    runner, _ = make_runner(env)
    runner.summary.raw(filler(SUMMARY_SIZE_LIMIT + 1)).write(overwrite=True)
    assert (tmp_path / "runner-temp" / SUMMARY_ARTIFACT / "summary-1.md").is_file()

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "system-temp"))
    del runner.env["RUNNER_TEMP"]
    runner.summary.raw(filler(SUMMARY_SIZE_LIMIT + 1)).write(overwrite=True)
    assert (tmp_path / "system-temp" / SUMMARY_ARTIFACT / "summary-1.md").is_file()


def test_summary_full_text_not_saved_is_said(
    files: dict[str, Path], file_env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    runner, out = make_runner(summary_env(file_env, tmp_path, SMGHA_SUMMARY_DIR=str(blocker)))
    runner.summary.raw(filler(SUMMARY_SIZE_LIMIT + 1)).write()
    assert size(files["GITHUB_STEP_SUMMARY"]) <= SUMMARY_SIZE_LIMIT
    _, note = split_note(read(files["GITHUB_STEP_SUMMARY"]))
    assert "The full text could not be saved: " in note
    assert "could not be saved" in out.getvalue()


def test_summary_text_without_summary_file_has_no_limit() -> None:
    runner, out = make_runner({})
    text = filler(SUMMARY_SIZE_LIMIT + 1)
    runner.summary.raw(text).write()
    assert runner.summary_text == text
    assert out.getvalue() == ""
