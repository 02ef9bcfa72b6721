"""The review's numbers, verdict and Markdown on synthetic bundles (no training): data profiles
and PSI, bundles read back from untrusted folders, the comparison's edge cases, the comment's
size limit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from smgha import gates
from smgha.review import bundle as bundles
from smgha.review import markdown
from smgha.review.bundle import Bundle, BundleError, read_bundle, write_bundle
from smgha.review.changes import definition_diff
from smgha.review.compare import compare
from smgha.review.profile import ProfileError, level, profile_csv, psi, shift

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
RULES = gates.parse_rules(["accuracy >= 0.6", "auc >= champion - 0.01"])


def _csv(rows: list[list[Any]], header: list[str]) -> bytes:
    lines = [",".join(header), *(",".join(str(c) for c in row) for row in rows)]
    return ("\n".join(lines) + "\n").encode()


def predictions(scores: list[float], labels: list[int], plans: list[str]) -> bytes:
    return _csv(
        [[y, s, p] for y, s, p in zip(labels, scores, plans, strict=True)],
        ["label", "score", "segment:plan"],
    )


def make_bundle(**overrides: Any) -> Bundle:
    values: dict[str, Any] = {
        "schema": bundles.SCHEMA,
        "pipeline_name": "churn",
        "model_package_group": "churn-models",
        "model_package_arn": "arn:aws:sagemaker:us-east-1:000000000000:model-package/churn-models/1",
        "execution_arn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/churn/execution/abc",
        "git_sha": "0123456789abcdef0123456789abcdef01234567",
        "git_ref": "refs/heads/main",
        "created_at": "2026-11-20T10:00:00+00:00",
        "approval_status": "Approved",
        "task": "binary_classification",
        "evaluation": {"binary_classification_metrics": {"accuracy": {"value": 0.8}, "auc": {"value": 0.85}}},
        "details": {"schema": 1, "task": "binary_classification", "threshold": 0.5, "test_rows_sha256": "a" * 64, "feature_importance": {}, "importance_type": "gain"},
        "data_profile": None,
        "data_profile_error": "not profiled in this test",
        "definition": None,
        "predictions_csv": None,
    }  # fmt: skip
    values.update(overrides)
    return Bundle(**values)


def metrics(accuracy: float, auc: float) -> dict[str, Any]:
    return {
        "binary_classification_metrics": {"accuracy": {"value": accuracy}, "auc": {"value": auc}}
    }


# ---- profile and PSI ------------------------------------------------------------------------


def test_psi_is_the_population_stability_index_of_the_shares() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi([0.3, 0.7], [0.3, 0.7]) == 0.0
    # A share of 0 is floored (1e-4), so that the logarithm is defined.
    assert psi([0.5, 0.5], [0.0, 1.0]) == pytest.approx(
        (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2)
    )
    assert [level(v) for v in (0.0, 0.099, 0.1, 0.249, 0.25)] == [
        "none",
        "none",
        "moderate",
        "moderate",
        "major",
    ]


def _data(
    seed: int, rows: int, offset: float = 0.0, plans: tuple[str, ...] = ("basic", "pro")
) -> bytes:
    rng = random.Random(seed)
    return _csv(
        [
            [
                round(rng.gauss(30 + offset, 10), 2),
                rng.choice(plans),
                "" if i % 50 == 0 else i % 100,
            ]
            for i in range(rows)
        ],
        ["tenure", "plan", "id"],
    )


def test_a_profile_keeps_deciles_and_top_values_and_the_shift_is_found() -> None:
    champion = profile_csv(_data(1, 2000))
    assert champion["rows"] == 2000
    tenure = champion["columns"]["tenure"]
    assert (
        tenure["kind"] == "numeric" and len(tenure["cuts"]) == 9 and sum(tenure["counts"]) == 2000
    )
    assert all(abs(c - 200) <= 2 for c in tenure["counts"])  # deciles: a tenth each (ties)
    assert champion["columns"]["plan"]["kind"] == "categorical"
    assert champion["columns"]["id"]["missing"] == 40

    assert all(s.psi == 0.0 for s in shift(champion, profile_csv(_data(1, 2000))))  # the same data
    same = {s.column: s for s in shift(champion, profile_csv(_data(2, 3000)))}
    assert all(s.level == "none" for s in same.values()), same
    moved = shift(champion, profile_csv(_data(3, 2000, offset=10.0, plans=("basic", "pro", "max"))))
    by_column = {s.column: s for s in moved}
    assert by_column["tenure"].level == "major" and by_column["plan"].level == "major"
    assert moved[0].psi == max(s.psi or 0 for s in moved)  # largest first


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a,b\n1,2\n3\n", "row 3 has 1 cells, the header 2"),
        (b"a,a\n1,2\n", "the first row must name every column, each once"),
        (b"", "the first row must name every column, each once"),
        (b"a\n\xff\n", "not UTF-8 text (invalid start byte at byte 2)"),
    ],
)
def test_data_that_cannot_be_profiled_says_why(data: bytes, message: str) -> None:
    with pytest.raises(ProfileError) as raised:
        profile_csv(data)
    assert str(raised.value) == message


def test_missing_cells_and_a_header_only_file() -> None:
    profile = profile_csv(b"x,y\n1,NA\n,b\n N/A ,null\n2.5,b\n")
    assert profile["columns"]["x"]["missing"] == 2 and profile["columns"]["x"]["kind"] == "numeric"
    assert profile["columns"]["y"] == {
        "kind": "categorical",
        "counts": {"b": 2},
        "other": 0,
        "missing": 2,
    }
    assert profile_csv(b"x\n") == {
        "rows": 0,
        "columns": {"x": {"kind": "categorical", "counts": {}, "other": 0, "missing": 0}},
        "sha256": hashlib.sha256(b"x\n").hexdigest(),
    }


def test_a_column_of_one_side_only_or_of_another_kind_is_noted_not_measured() -> None:
    old = profile_csv(_csv([[1, "a"], [2, "b"]], ["x", "y"]))
    new = profile_csv(_csv([["p", "a"], ["q", "b"]], ["x", "z"]))
    notes = {s.column: (s.psi, s.note) for s in shift(old, new)}
    assert notes == {
        "x": (None, "numeric in the champion's data, categorical now"),
        "y": (None, "only in the champion's data"),
        "z": (None, "only in the candidate's data"),
    }


# ---- a bundle read back ---------------------------------------------------------------------


NUMERIC = {
    "kind": "numeric",
    "cuts": [1.0],
    "counts": [1, 2],
    "quantiles": [0.0, 1.0, 2.0],
    "missing": 0,
}


def test_a_bundle_round_trips_and_every_bad_field_is_one_error_naming_it(tmp_path: Path) -> None:
    profile = profile_csv(_data(1, 100))
    definition = {
        "Parameters": [{"Name": "Eta", "Type": "Float", "DefaultValue": 0.2}],
        "Steps": [{"Name": "Prep", "Type": "Processing", "Arguments": {}}],
    }
    good = make_bundle(
        predictions_csv=predictions([0.9, 0.2], [1, 0], ["basic", "pro"]),
        data_profile=profile,
        definition=definition,
    )
    write_bundle(good, tmp_path / "good")
    assert read_bundle(tmp_path / "good") == good
    document = good.to_json()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"schema": "smgha-review-bundle/2"}, "bundle.json: schema: is 'smgha-review-bundle/2', not 'smgha-review-bundle/1'"),
        ({"git_sha": 12}, "bundle.json: git_sha: must be a string"),
        ({"extra": 1}, "bundle.json: extra: is not a field of a bundle"),
        ({"task": "ranking"}, "bundle.json: task: is 'ranking'"),
        ({"created_at": "2026-11-20T10:00:00"}, "bundle.json: created_at: has no time zone"),
        ({"evaluation": [1]}, "bundle.json: evaluation: must be a JSON object"),
        ({"details": {**document["details"], "test_rows_sha256": "xyz"}}, "details: test_rows_sha256: must be 64 lowercase hex"),
        ({"data_profile": {"rows": 3, "columns": {"x": {"kind": "numeric"}}}}, "data_profile.columns.x: is not a numeric or categorical column profile"),
        ({"data_profile": {"rows": 3, "columns": {"x": {"kind": "categorical", "counts": {"a": 3}, "other": 0}}}}, "data_profile.columns.x: is not a numeric"),
        ({"data_profile": {"rows": 3, "columns": {"x": {**NUMERIC, "counts": [1, 2, 3]}}}}, "data_profile.columns.x: is not a numeric"),
        ({"data_profile": {"rows": 3, "columns": {"x": {**NUMERIC, "quantiles": [3, 1]}}}}, "data_profile.columns.x: is not a numeric"),
        ({"data_profile": {"rows": -1, "columns": {}}}, "bundle.json: data_profile.rows: must be a count"),
        ({"definition": {"Steps": "Prep"}}, "bundle.json: definition: Steps and Parameters must be lists"),
        ({"definition": {"Steps": [{"Name": "C", "Type": "Condition", "Arguments": {"IfSteps": [{"Type": "Processing"}]}}]}}, "bundle.json: definition: every step must be an object with a Name"),
    ]  # fmt: skip
    for number, (change, message) in enumerate(cases):
        folder = tmp_path / f"bad{number}"
        folder.mkdir()
        (folder / "bundle.json").write_text(json.dumps({**document, **change}))
        with pytest.raises(BundleError) as raised:
            read_bundle(folder)
        assert message in str(raised.value)
    missing = {k: v for k, v in document.items() if k != "definition"}
    (tmp_path / "bad0" / "bundle.json").write_text(json.dumps(missing))
    with pytest.raises(BundleError, match="bundle.json: definition: is missing"):
        read_bundle(tmp_path / "bad0")
    (tmp_path / "bad0" / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError, match="bundle.json: is not JSON"):
        read_bundle(tmp_path / "bad0")
    (tmp_path / "bad0" / "bundle.json").write_text('{"evaluation": ' + "[" * 100_000)
    with pytest.raises(BundleError, match="bundle.json: is nested too deeply to read"):
        read_bundle(tmp_path / "bad0")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"label,score\n1,1.5\n", "predictions.csv: row 2: score 1.5 is not a probability"),
        (b"label,score\n2,0.5\n", "predictions.csv: row 2: label '2' is not 0 or 1"),
        (b"label,prediction\n1,0.5\n", "predictions.csv: score: the header has no column score"),
        (b"label,score\n1,high\n", "predictions.csv: row 2: score 'high' is not a number"),
        (b"label,score\n1,nan\n", "predictions.csv: row 2: score 'nan' is not a number"),
        (b"label,score\n1\n", "predictions.csv: row 2: has 1 cells, the header 2"),
        (b"label,score\n", "predictions.csv: has no rows"),
    ],
)
def test_unusable_predictions_make_the_bundle_unreadable(
    tmp_path: Path, content: bytes, message: str
) -> None:
    write_bundle(make_bundle(predictions_csv=content), tmp_path)
    with pytest.raises(BundleError) as raised:
        read_bundle(tmp_path)
    assert str(raised.value) == message or str(raised.value).startswith(message)


def test_a_bundle_file_over_its_size_cap_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_bundle(make_bundle(predictions_csv=b"label,score\n" + b"1,0.5\n" * 100), tmp_path)
    monkeypatch.setattr(bundles, "MAX_PREDICTIONS_BYTES", 500)
    with pytest.raises(
        BundleError,
        match="predictions.csv: is 612 bytes; a bundle's predictions.csv has at most 500",
    ):
        read_bundle(tmp_path)


# ---- the comparison -------------------------------------------------------------------------


def test_metrics_side_by_side_with_deltas_and_which_way_is_better() -> None:
    evaluation = {
        "regression_metrics": {
            "rmse": {"value": 2.0},
            "r2": {"value": 0.7},
            "latency": {"value": 5.0},
        }
    }
    theirs = {
        "regression_metrics": {
            "rmse": {"value": 1.5},
            "r2": {"value": 0.8},
            "latency": {"value": 4.0},
        }
    }
    rules = gates.parse_rules(["latency <= champion + 50%"])
    review = compare(
        make_bundle(task="regression", details=None, evaluation=evaluation),
        make_bundle(task="regression", details=None, evaluation=theirs),
        rules,
        now=NOW,
    )
    rows = {m.name: (m.delta, m.better, round(m.regression, 4)) for m in review.metrics}
    assert rows == {
        "rmse": (0.5, "lower", 0.3333),
        "r2": (pytest.approx(-0.1), "higher", 0.125),
        "latency": (1.0, "lower", 0.25),
    }
    assert review.verdict is not None and review.verdict.decision == "approved"  # 5 <= 6
    assert review.look_at[0].startswith("rmse is worse: 2 vs 1.5")  # the largest regression first


@pytest.mark.parametrize(
    ("champion", "error", "note"),
    [
        (None, "", "Champion not compared: there is none"),
        (
            None,
            "bundle.json: schema: is 'x'",
            "Champion not compared: its bundle is unreadable (bundle.json: schema: is 'x').",
        ),
        (
            make_bundle(pipeline_name="fraud"),
            "",
            "Champion not compared: it is from pipeline 'fraud', the candidate from 'churn'.",
        ),
        (
            make_bundle(created_at="2026-08-01T00:00:00+00:00"),
            "",
            "Champion not compared: it is stale, registered 122 days ago",
        ),
        (
            make_bundle(task="regression"),
            "",
            "Champion not compared: it is a regression, the candidate a binary_classification.",
        ),
    ],
)
def test_a_champion_that_cannot_be_compared_is_said_so_and_the_review_goes_on(
    champion: Bundle | None, error: str, note: str
) -> None:
    review = compare(
        make_bundle(evaluation=metrics(0.8, 0.7)), champion, RULES, champion_error=error, now=NOW
    )
    assert review.champion is None
    assert review.notes[0].startswith(note)
    # The gate, with no champion, lets the champion rules pass: the prediction says so.
    assert review.verdict is not None and review.verdict.decision == "approved"
    assert "evaluated with no champion" in review.notes[1]
    comment = markdown.comment(review)
    assert "with no champion to compare with" in comment and note.split("(")[0] in comment


def test_a_candidate_of_unknown_pipeline_is_compared_with_no_champion() -> None:
    review = compare(make_bundle(pipeline_name="", execution_arn=""), make_bundle(), RULES, now=NOW)
    assert review.champion is None
    assert review.notes[0].startswith("Champion not compared: the candidate's pipeline is unknown")


def test_the_verdict_is_the_gate_s_with_manual_approval_and_a_missing_metric() -> None:
    champion = make_bundle(evaluation=metrics(0.8, 0.9))
    rejected = compare(make_bundle(evaluation=metrics(0.8, 0.85)), champion, RULES, now=NOW)
    assert rejected.verdict is not None and rejected.verdict.decision == "rejected"
    assert (
        rejected.look_at[0]
        == 'Gate rule "auc >= champion - 0.01" fails: 0.85 < 0.89 (champion 0.9 - 0.01).'
    )
    pending = compare(
        make_bundle(evaluation=metrics(0.8, 0.95)), champion, RULES, manual_approval=True, now=NOW
    )
    assert pending.verdict is not None and pending.verdict.decision == "pending"
    stopped = compare(make_bundle(), champion, gates.parse_rules(["rmse <= 3"]), now=NOW)
    assert stopped.verdict is None and stopped.verdict_error.startswith(
        "input 'rules': the evaluation has no metric 'rmse'"
    )
    assert "The gate would stop" in markdown.comment(stopped)


def test_a_rule_on_the_serving_cost_is_left_to_the_gate_and_said_so() -> None:
    """The bundle has no serving cost: the review predicts the other rules and names the cost
    rule it leaves to register-and-gate, instead of stopping on a metric it cannot have."""
    champion = make_bundle(evaluation=metrics(0.8, 0.9))
    rules = gates.parse_rules(["hourly_cost <= champion + 20%", *[r.text for r in RULES]])
    review = compare(make_bundle(evaluation=metrics(0.8, 0.95)), champion, rules, now=NOW)
    assert review.verdict is not None and review.verdict.decision == "approved"
    assert [r.rule.text for r in review.verdict.results] == [r.text for r in RULES]
    assert any(
        note.startswith("Not predicted here: hourly_cost <= champion + 20%.")
        for note in review.notes
    ), review.notes


def _rows(count: int, right: float, rng: random.Random) -> tuple[list[float], list[int]]:
    """`count` rows of which a share `right` is classified right at 0.5."""
    labels = [rng.randint(0, 1) for _ in range(count)]
    scores = [
        (0.8 if y else 0.2) if i < right * count else (0.2 if y else 0.8)
        for i, y in enumerate(labels)
    ]
    return scores, labels


def _side(parts: dict[str, tuple[int, float]], seed: int) -> bytes:
    rng = random.Random(seed)
    scores: list[float] = []
    labels: list[int] = []
    plans: list[str] = []
    for plan, (count, right) in parts.items():
        s, y = _rows(count, right, rng)
        scores += s
        labels += y
        plans += [plan] * count
    return predictions(scores, labels, plans)


def test_a_segment_worse_while_the_overall_metric_improved_is_flagged_first() -> None:
    # Overall the candidate is better (0.92 vs 0.85 of 300 rows), but on "pro" it is worse.
    candidate = make_bundle(
        evaluation=metrics(0.92, 0.9),
        predictions_csv=_side({"basic": (200, 1.0), "pro": (100, 0.76), "tiny": (5, 0.0)}, 1),
    )
    champion = make_bundle(
        evaluation=metrics(0.85, 0.88),
        predictions_csv=_side({"basic": (200, 0.8), "pro": (100, 0.95), "tiny": (5, 1.0)}, 2),
    )
    review = compare(candidate, champion, RULES, now=NOW)
    assert review.same_test_rows
    segments = {(s.feature, s.value): s for s in review.segments}
    assert set(segments) == {("plan", "basic"), ("plan", "pro")}  # "tiny": fewer than 20 rows
    assert segments["plan", "pro"].worse and not segments["plan", "basic"].worse
    assert (segments["plan", "pro"].candidate, segments["plan", "pro"].champion) == (0.76, 0.95)
    assert (
        review.look_at[0]
        == "Segment plan = 'pro': accuracy 0.76 vs 0.95 while overall accuracy improved."
    )
    assert "| plan | pro | accuracy | 0.7600 ⚠️ worse | 0.9500 | 100 / 100 |" in markdown.comment(
        review
    )


def test_regression_segments_are_judged_by_rmse_with_a_relative_tolerance() -> None:
    def side(errors: dict[str, float]) -> bytes:
        rows = [
            [10.0, 10.0 + error * (1 if i % 2 else -1), plan]
            for plan, error in errors.items()
            for i in range(30)
        ]
        return _csv(rows, ["label", "prediction", "segment:region"])

    details = {
        "schema": 1,
        "task": "regression",
        "test_rows_sha256": "b" * 64,
        "feature_importance": {},
    }
    evaluation = {"regression_metrics": {"rmse": {"value": 1.0}}}
    candidate = make_bundle(
        task="regression",
        details=details,
        evaluation=evaluation,
        predictions_csv=side({"north": 1.04, "south": 1.2}),
    )
    champion = make_bundle(
        task="regression",
        details=details,
        evaluation=evaluation,
        predictions_csv=side({"north": 1.0, "south": 1.0}),
    )
    review = compare(candidate, champion, [], now=NOW)
    flagged = {s.value: (s.metric, round(s.candidate, 3), s.worse) for s in review.segments}
    assert flagged == {
        "south": ("rmse", 1.2, True),
        "north": ("rmse", 1.04, False),
    }  # 5 % tolerance


def test_other_test_rows_and_missing_predictions_are_said() -> None:
    scores = predictions([0.9, 0.1], [1, 0], ["a", "b"])
    details = {**(make_bundle().details or {}), "test_rows_sha256": "c" * 64}
    other = make_bundle(details=details, predictions_csv=scores)
    review = compare(make_bundle(predictions_csv=scores), other, [], now=NOW)
    assert not review.same_test_rows
    assert "Not the same test rows: their test files differ (test_rows_sha256)" in review.notes[0]
    bare = compare(make_bundle(), make_bundle(predictions_csv=b"label,score\n1,7\n"), [], now=NOW)
    assert bare.notes[0] == "The candidate has no predictions.csv: no curves or segments for it."
    assert bare.notes[1].startswith(
        "The champion's predictions are unusable (predictions.csv: row 2: score 7.0"
    )


def test_the_definition_diff_names_steps_code_and_parameter_defaults() -> None:
    def step(name: str, code: str, extra: int = 0) -> dict[str, Any]:
        inputs = [{"InputName": "code", "S3Input": {"S3Uri": f"s3://b/churn/code/{code}/run.py"}}]
        return {
            "Name": name,
            "Type": "Processing",
            "Arguments": {"ProcessingInputs": inputs, "X": extra},
        }

    old = {
        "Parameters": [{"Name": "Eta", "Type": "Float", "DefaultValue": 0.2}],
        "Steps": [step("Prep", "h1"), step("Eval", "h2"), step("Old", "h3")],
    }
    new = {
        "Parameters": [
            {"Name": "Eta", "Type": "Float", "DefaultValue": 0.3},
            {"Name": "Rows", "Type": "Integer"},
        ],
        "Steps": [step("Prep", "h1", 1), step("Eval", "h9"), step("New", "h4")],
    }
    diff = definition_diff(old, new)
    assert (diff.added, diff.removed, diff.changed, diff.code_changed) == (
        ["New"],
        ["Old"],
        ["Eval", "Prep"],
        ["Eval"],
    )
    assert diff.parameters == [("Eta", "0.2", "0.3"), ("Rows", "(none)", "(no default)")]
    review = compare(make_bundle(definition=new), make_bundle(definition=old), [], now=NOW)
    assert "Code changed in step(s): Eval." in review.look_at
    assert "- Parameter Eta: default `0.2` → `0.3`" in markdown.comment(review)


# ---- the comment ----------------------------------------------------------------------------


def test_the_comment_starts_with_the_marker_and_stays_under_github_s_limit() -> None:
    # 3,000 segment values: a table far longer than a comment may be.
    plans = [f"plan-{i // 20}" for i in range(60_000)]
    rows = predictions([0.9] * 60_000, [1] * 60_000, plans)
    review = compare(
        make_bundle(predictions_csv=rows), make_bundle(predictions_csv=rows), RULES, now=NOW
    )
    assert len(review.segments) == 3000
    comment = markdown.comment(review)
    assert comment.startswith("<!-- smgha-review: churn -->\n### Model review: churn\n")
    assert len(comment) <= 65_536 == markdown.COMMENT_MAX_CHARACTERS
    assert comment.rstrip().endswith(
        "the whole report is the `smgha-review` artifact's report.html and review.json."
    )
    assert "| accuracy |" in comment  # the verdict and the metrics come first, and stay
    assert markdown.summary(comment) == comment.split("\n", 1)[1]


def test_text_from_a_bundle_cannot_add_html_mentions_or_table_cells() -> None:
    hostile = "<img src=x onerror=alert(1)> @acme/admins | x"
    scores = predictions([0.9] * 40, [1] * 40, [hostile] * 40)
    review = compare(
        make_bundle(predictions_csv=scores), make_bundle(pipeline_name=hostile), [], now=NOW
    )
    review = dataclasses.replace(
        review,
        segments=compare(
            make_bundle(predictions_csv=scores), make_bundle(predictions_csv=scores), [], now=NOW
        ).segments,
    )
    comment = markdown.comment(review)
    assert "<img" not in comment and "@acme" not in comment
    assert "&lt;img src=x onerror=alert(1)&gt; &#64;acme/admins \\| x" in comment


# ---- the sagemaker backend (moto) -----------------------------------------------------------


def test_a_sagemaker_package_s_bundle_reads_its_statistics_predictions_and_details(
    sagemaker: Any, s3: Any, tmp_path: Path
) -> None:
    import io

    from smgha import cli

    s3.create_bucket(Bucket="models")
    evaluation = metrics(0.8, 0.9)
    details = {**(make_bundle().details or {})}
    for name, body in (
        ("evaluation.json", json.dumps(evaluation).encode()),
        ("predictions.csv", predictions([0.9, 0.2], [1, 0], ["basic", "pro"])),
        ("model-details.json", json.dumps(details).encode()),
    ):
        s3.put_object(Bucket="models", Key=f"churn/evaluation/{name}", Body=body)
    sagemaker.create_model_package_group(ModelPackageGroupName="churn-models")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="churn-models",
        InferenceSpecification={"Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://models/m.tar.gz"}], "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        ModelApprovalStatus="Approved",
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://models/churn/evaluation/evaluation.json"}}},
    )["ModelPackageArn"]  # fmt: skip
    out = io.StringIO()
    code = cli.main(["review", "bundle", "--backend", "sagemaker", "--region", "us-east-1", "--model-package-arn", arn, "--out", str(tmp_path)], stdout=out)  # fmt: skip
    assert code == 0, out.getvalue()
    bundle = read_bundle(tmp_path)
    assert (bundle.evaluation, bundle.details, bundle.approval_status) == (
        evaluation,
        details,
        "Approved",
    )
    assert bundle.predictions_csv == predictions([0.9, 0.2], [1, 0], ["basic", "pro"])
    assert dt.datetime.fromisoformat(bundle.created_at).utcoffset() == dt.timedelta(0)


def test_the_champions_profile_is_reused_for_the_very_same_bytes_of_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most pull requests change code, not data: the candidate's input data, byte for byte
    the champion's, takes the champion's profile (the same bytes make the same profile)
    instead of being profiled again; other bytes are profiled."""
    from smgha.backends.local import LocalBackend

    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    local = LocalBackend(region="us-east-1")
    uri = "s3://smgha-local/churn/data/churn.csv"
    monkeypatch.setattr(bundles, "input_data_uri", lambda *_args: (uri, ""))
    monkeypatch.setattr(local.pipelines, "list_steps", lambda _arn: [])
    execution = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/churn/execution/e1"
    data = b"tenure,plan\n" + b"".join(
        b"%d,%s\n" % (i, b"pro" if i % 3 else b"basic") for i in range(200)
    )
    local.objects.put_object(uri, data)
    champion = profile_csv(data)

    def profile_of_candidate() -> Any:
        found, why_not = bundles._data_profile(
            local, {"Steps": []}, execution, "InputDataUrl", champion
        )
        assert why_not == ""
        return found

    assert profile_of_candidate() is champion
    local.objects.put_object(uri, data + b"999,pro\n")
    again = profile_of_candidate()
    assert again is not champion and again["rows"] == champion["rows"] + 1
    assert shift(champion, again)  # compared as two profiles


def test_a_large_file_is_profiled_on_a_systematic_sample_with_its_true_row_count() -> None:
    """Over MAX_PROFILED_ROWS rows the columns are profiled on every k-th row: the row count
    stays the file's, two samples of one distribution show no shift (PSI far under 0.1), a
    real shift still shows, and a quoted file (a cell may hold a line break) samples too."""
    from smgha.review.profile import MAX_PROFILED_ROWS

    def data(seed: int, mean: float, rows: int = 3 * MAX_PROFILED_ROWS) -> bytes:
        rng = random.Random(seed)
        lines = [
            f"{rng.gauss(mean, 10):.2f},{rng.choice(['basic', 'pro', 'max'])}" for _ in range(rows)
        ]
        return ("tenure,plan\n" + "\n".join(lines) + "\n").encode()

    one, two = profile_csv(data(1, 30.0)), profile_csv(data(2, 30.0))
    assert one["rows"] == 3 * MAX_PROFILED_ROWS and one["sampled_rows"] == MAX_PROFILED_ROWS
    assert sum(one["columns"]["plan"]["counts"].values()) == MAX_PROFILED_ROWS
    assert all(item.psi is not None and item.psi < 0.01 for item in shift(one, two))
    moved = {item.column: item.psi for item in shift(one, profile_csv(data(3, 40.0)))}
    tenure, plan = moved["tenure"], moved["plan"]
    assert tenure is not None and plan is not None
    assert tenure >= 0.25 and plan < 0.01

    quoted = data(1, 30.0).replace(b"basic", b'"basic"')
    assert profile_csv(quoted)["rows"] == 3 * MAX_PROFILED_ROWS
    assert profile_csv(quoted)["sampled_rows"] == MAX_PROFILED_ROWS
    small = profile_csv(data(1, 30.0, rows=500))
    assert small["rows"] == 500 and "sampled_rows" not in small
