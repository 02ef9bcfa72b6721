"""What the reference model code writes for the model review (docs/review.md, "What your
model code writes"): ml/preprocess.py's segments.csv and features.txt beside test.csv, and
ml/evaluate.py's predictions.csv and model-details.json beside evaluation.json.

The scripts run as in tests/test_ml_scripts.py (subprocesses outside the repository, a real
XGBoost model trained with the reference settings); its module fixtures are reused here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.metrics import accuracy_score, roc_auc_score

from tests import test_ml_scripts
from tests.test_ml_scripts import (
    EVALUATE,
    FEATURES,
    PREPROCESS,
    load_report,
    load_script,
    read_split,
    run_script,
    write_model_archive,
)

# test_ml_scripts' module fixtures, used here by name (run once more for this module).
raw_frame = test_ml_scripts.raw_frame
raw_dir = test_ml_scripts.raw_dir
processed = test_ml_scripts.processed
booster = test_ml_scripts.booster
model_dir = test_ml_scripts.model_dir

# The generated data's categorical columns (ml/data.py), in file order.
CATEGORICAL = ["contract", "payment_method", "internet_service", "region", "paperless_billing"]


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def evaluate_into(model: Path, test_dir: Path, out: Path) -> Path:
    """Run evaluate.py on `test_dir`; return its output folder (asserting it succeeded)."""
    result = run_script(
        EVALUATE, "--model-dir", model, "--test-dir", test_dir, "--output-dir", out, cwd=out.parent
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def evaluated(
    tmp_path_factory: pytest.TempPathFactory, processed: tuple[Path, str], model_dir: Path
) -> Path:
    """The evaluation folder of evaluate.py on preprocess.py's whole test folder."""
    output_dir, _ = processed
    return evaluate_into(model_dir, output_dir / "test", tmp_path_factory.mktemp("ev") / "out")


# --- ml/preprocess.py -------------------------------------------------------------------------


def test_preprocess_writes_each_test_row_s_segments_and_the_feature_names(
    processed: tuple[Path, str], raw_frame: pd.DataFrame
) -> None:
    output_dir, _ = processed
    names = (output_dir / "test" / "features.txt").read_text().splitlines()
    assert len(names) == FEATURES and names[:2] == ["age", "tenure_months"]
    assert "payment_method=missing" in names and "region=north" in names

    segments = read_rows(output_dir / "test" / "segments.csv")
    test = read_split(output_dir, "test")
    assert segments[0] == CATEGORICAL
    assert len(segments) - 1 == len(test) == 750
    # Row by row, each segment value is the category whose one-hot column of test.csv is 1:
    # the same rows, in the same order, named as the preprocessing names them.
    for number, values in enumerate(segments[1:]):
        for column, value in zip(CATEGORICAL, values, strict=True):
            hot = [n for n in names if n.startswith(f"{column}=")]
            ones = [n for n in hot if test.iloc[number, 1 + names.index(n)] == 1]
            assert ones == [f"{column}={value}"], (number, column, value)
    # A payment method left empty in the raw data is the missing category, never empty.
    methods = [values[1] for values in segments[1:]]
    assert "missing" in methods and "" not in methods
    assert set(methods) <= set(raw_frame["payment_method"]) - {""} | {"missing"}


def test_preprocess_without_categorical_columns_writes_no_segments(tmp_path: Path) -> None:
    preprocess = load_script(PREPROCESS)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=60), "churned": [0, 1] * 30})
    (tmp_path / "in").mkdir()
    frame.to_csv(tmp_path / "in" / "d.csv", index=False)
    assert (
        preprocess.main(["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path)]) == 0
    )
    assert sorted(p.name for p in (tmp_path / "test").iterdir()) == ["features.txt", "test.csv"]
    assert (tmp_path / "test" / "features.txt").read_text() == "x\n"


# --- ml/evaluate.py: the built-in XGBoost model -----------------------------------------------


def test_predictions_are_each_test_row_s_label_score_and_segments_in_order(
    evaluated: Path, processed: tuple[Path, str], booster: xgboost.Booster
) -> None:
    output_dir, _ = processed
    rows = read_rows(evaluated / "predictions.csv")
    assert rows[0] == ["label", "score", *(f"segment:{c}" for c in CATEGORICAL)]
    test = read_split(output_dir, "test").to_numpy()
    labels = [int(row[0]) for row in rows[1:]]
    scores = np.array([float(row[1]) for row in rows[1:]], dtype=np.float32)
    assert labels == test[:, 0].astype(int).tolist()
    # Each score reads back as exactly the model's float32 probability.
    expected = booster.predict(xgboost.DMatrix(test[:, 1:].astype(np.float32)))
    assert scores.tolist() == expected.tolist()
    assert [row[2:] for row in rows[1:]] == read_rows(output_dir / "test" / "segments.csv")[1:]
    # The metrics recomputed from the file are evaluation.json's.
    metrics = load_report(evaluated)["binary_classification_metrics"]
    assert round(roc_auc_score(labels, scores), 6) == metrics["auc"]["value"]
    assert round(accuracy_score(labels, scores >= 0.5), 6) == metrics["accuracy"]["value"]


def test_model_details_name_the_booster_s_gain_per_feature(
    evaluated: Path, processed: tuple[Path, str], booster: xgboost.Booster
) -> None:
    output_dir, _ = processed
    details = json.loads((evaluated / "model-details.json").read_text())
    test_bytes = (output_dir / "test" / "test.csv").read_bytes()
    assert {k: v for k, v in details.items() if k != "feature_importance"} == {
        "schema": 1,
        "task": "binary_classification",
        "threshold": 0.5,
        "test_rows_sha256": hashlib.sha256(test_bytes).hexdigest(),
        "importance_type": "gain",
    }
    names = (output_dir / "test" / "features.txt").read_text().splitlines()
    importance = details["feature_importance"]
    assert list(importance) == names  # every feature, in column order
    gain = booster.get_score(importance_type="gain")
    assert importance == {name: gain.get(f"f{i}", 0.0) for i, name in enumerate(names)}
    assert all(value >= 0 for value in importance.values()) and importance["tenure_months"] > 0


def test_a_feature_no_split_uses_has_zero_gain() -> None:
    evaluate = load_script(EVALUATE)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    x[:, 2] = 1.0  # constant: no split can use it
    labels = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)
    trained = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(x, label=labels), 5
    )
    values, kind = evaluate.xgboost_importance(trained, ["a", "b", "c"])
    assert kind == "gain" and list(values) == ["a", "b", "c"]
    assert values["a"] > 0 and values["c"] == 0.0


def test_without_the_preprocessing_s_files_features_are_f0_to_fn_and_there_are_no_segments(
    tmp_path: Path, evaluated: Path, processed: tuple[Path, str], model_dir: Path
) -> None:
    """Older preprocessing code wrote test.csv alone: evaluate.py still writes every file,
    and evaluation.json is byte for byte the same."""
    output_dir, _ = processed
    (tmp_path / "test").mkdir()
    shutil.copy(output_dir / "test" / "test.csv", tmp_path / "test" / "test.csv")
    alone = evaluate_into(model_dir, tmp_path / "test", tmp_path / "out")

    assert (alone / "evaluation.json").read_bytes() == (evaluated / "evaluation.json").read_bytes()
    rows = read_rows(alone / "predictions.csv")
    assert rows[0] == ["label", "score"]
    assert [row[:2] for row in read_rows(evaluated / "predictions.csv")] == rows
    details = json.loads((alone / "model-details.json").read_text())
    assert list(details["feature_importance"]) == [f"f{i}" for i in range(FEATURES)]


@pytest.mark.parametrize(
    ("file", "content", "problem"),
    [
        ("features.txt", "a\nb\n", "names 2 features and test.csv has 28"),
        ("segments.csv", "region\nnorth\n", "has 1 rows and test.csv has 750"),
    ],
)
def test_a_stale_preprocessing_file_fails_the_evaluation_naming_it(
    tmp_path: Path,
    processed: tuple[Path, str],
    model_dir: Path,
    file: str,
    content: str,
    problem: str,
) -> None:
    output_dir, _ = processed
    (tmp_path / "test").mkdir()
    shutil.copy(output_dir / "test" / "test.csv", tmp_path / "test" / "test.csv")
    (tmp_path / "test" / file).write_text(content)
    result = run_script(
        EVALUATE, "--model-dir", model_dir, "--test-dir", tmp_path / "test",
        "--output-dir", tmp_path / "out", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert str(tmp_path / "test" / file) in result.stderr and problem in result.stderr
    assert "same preprocessing run" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing written, evaluation.json included


def test_segment_values_stay_the_preprocessing_s_text(tmp_path: Path) -> None:
    """A category that looks like a number ("01"), like pandas' spelling of a gap ("NA",
    which the raw file held as " NA": not a gap to read_csv, stripped by the cleaning) or
    is not ASCII is written and read back as the text it is (UTF-8)."""
    preprocess, evaluate = load_script(PREPROCESS), load_script(EVALUATE)
    rng = np.random.default_rng(5)
    x = rng.normal(size=120)
    plan = np.array(["01", " NA", "Zürich"])[np.arange(120) % 3]
    plan[::17] = ""
    frame = pd.DataFrame({"x": x, "plan": plan, "churned": (x > 0).astype(int)})
    (tmp_path / "in").mkdir()
    frame.to_csv(tmp_path / "in" / "d.csv", index=False)
    assert (
        preprocess.main(["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path)]) == 0
    )
    train = read_split(tmp_path, "train").to_numpy()
    trained = xgboost.train({"max_depth": 2}, xgboost.DMatrix(train[:, 1:], label=train[:, 0]), 3)
    write_model_archive(tmp_path / "model", bytes(trained.save_raw("ubj")))
    argv = ["--model-dir", str(tmp_path / "model"), "--test-dir", str(tmp_path / "test")]
    assert evaluate.main([*argv, "--output-dir", str(tmp_path / "out")]) == 0

    rows = read_rows(tmp_path / "out" / "predictions.csv")
    assert rows[0] == ["label", "score", "segment:plan"]
    written = [row[2] for row in rows[1:]]
    assert {"01", "NA", "Zürich"} <= set(written) <= {"01", "NA", "Zürich", "missing"}
    assert written == [row[0] for row in read_rows(tmp_path / "test" / "segments.csv")[1:]]


# --- ml/evaluate.py: scikit-learn models --------------------------------------------------------


def test_a_scikit_learn_model_s_importance_is_its_own_or_none() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    evaluate = load_script(EVALUATE)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 2))
    labels = (x[:, 0] > 0).astype(int)
    names = ["strong", "noise"]

    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, labels)
    values, kind = evaluate.sklearn_importance(forest, names)
    assert kind == "impurity" and values == dict(
        zip(names, forest.feature_importances_, strict=True)
    )
    linear = LogisticRegression().fit(x * [1, -1], labels)
    values, kind = evaluate.sklearn_importance(linear, names)
    assert kind == "coefficient" and values["strong"] == pytest.approx(abs(linear.coef_[0, 0]))
    assert values["strong"] > values["noise"] >= 0
    boosted = HistGradientBoostingClassifier(max_iter=3).fit(x, labels)
    assert evaluate.sklearn_importance(boosted, names) == ({}, "none")


def test_the_scikit_learn_reference_model_writes_details_without_importance(
    tmp_path: Path, processed: tuple[Path, str]
) -> None:
    """ml/sklearn_model/train.py's HistGradientBoostingClassifier has no importance of its
    own: model-details.json says so with {} and the predictions are still written."""
    import joblib
    from sklearn.ensemble import HistGradientBoostingClassifier

    output_dir, _ = processed
    train = read_split(output_dir, "train").to_numpy()
    estimator = HistGradientBoostingClassifier(max_iter=10).fit(train[:, 1:], train[:, 0])
    (tmp_path / "model").mkdir()
    joblib.dump(estimator, tmp_path / "model.joblib")
    with tarfile.open(tmp_path / "model" / "model.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "model.joblib", arcname="model.joblib")
    out = evaluate_into(tmp_path / "model", output_dir / "test", tmp_path / "out")

    details = json.loads((out / "model-details.json").read_text())
    assert (details["feature_importance"], details["importance_type"]) == ({}, "none")
    assert details["task"] == "binary_classification"
    rows = read_rows(out / "predictions.csv")
    test = read_split(output_dir, "test").to_numpy()
    probabilities = estimator.predict_proba(test[:, 1:].astype(np.float32))[:, 1]
    assert [float(row[1]) for row in rows[1:]] == probabilities.tolist()


@pytest.mark.parametrize(
    ("scores", "problem"),
    [
        (
            [0.2, float("nan"), 0.9, float("inf")],
            "not a number (NaN or infinite) for 2 of 4 test rows, the first being row 2",
        ),
        ([[0.2, 0.8]], "does not predict one probability per row"),
        ([0.2, 1.5], "does not predict probabilities"),
    ],
)
def test_scores_that_are_not_probabilities_fail_the_evaluation_with_one_error(
    capsys: pytest.CaptureFixture[str], scores: list[object], problem: str
) -> None:
    """A NaN score used to end in a traceback from scikit-learn's metrics."""
    evaluate = load_script(EVALUATE)
    with pytest.raises(SystemExit) as stopped:
        evaluate.check_probabilities(np.asarray(scores))
    assert stopped.value.code == 1
    assert problem in capsys.readouterr().err
    evaluate.check_probabilities(np.asarray([0.0, 0.5, 1.0]))  # probabilities pass
