"""The reference model's scripts, end to end and without mocks.

`ml/data.py` generates the data, `ml/preprocess.py` and `ml/evaluate.py` run as subprocesses
from a directory outside the repository (as SageMaker runs them: standalone files, paths from
the arguments), and a real XGBoost model is trained in between with the settings of the
reference pipeline. A few edge cases call the scripts' functions in-process to stay fast.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tarfile
import warnings
from collections import Counter
from pathlib import Path
from types import ModuleType

import joblib
import numpy as np
import pandas as pd
import pytest
import xgboost

REPO = Path(__file__).resolve().parents[1]
PREPROCESS = REPO / "ml" / "preprocess.py"
EVALUATE = REPO / "ml" / "evaluate.py"

# `ml` is the fork's model project, not an installed package: make it importable however
# pytest was started.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from ml import data  # noqa: E402

# What preprocess.py makes of the generated columns: 7 numeric, 3 missing indicators (age,
# total_charges, days_since_last_login) and one-hot blocks for contract (3), payment_method
# (4 + "missing"), internet_service (3), region (5) and paperless_billing (2).
FEATURES = 28
# The reference pipeline's training settings (see the XGBoost hyperparameters there).
TRAIN_PARAMS = {"objective": "binary:logistic", "max_depth": 5, "eta": 0.2, "verbosity": 0}
TRAIN_ROUNDS = 100


def run_script(script: Path, *args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `script` with this interpreter, as the container would, and capture its output."""
    command = [sys.executable, str(script), *(str(arg) for arg in args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def load_script(path: Path) -> ModuleType:
    """Import a standalone script as a module, to call its functions in-process."""
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first, as `import` would: dataclasses look their module up while defined.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_split(output_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(output_dir / name / f"{name}.csv", header=None)


def write_model_archive(model_dir: Path, raw: bytes) -> Path:
    """`model_dir/model.tar.gz` with `raw` as its `xgboost-model`, as SageMaker training packs it."""
    model_dir.mkdir(parents=True, exist_ok=True)
    archive = model_dir / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member = tarfile.TarInfo("xgboost-model")
        member.size = len(raw)
        tar.addfile(member, io.BytesIO(raw))
    return archive


def load_report(output_dir: Path) -> dict:
    """evaluation.json, parsed strictly: a bare NaN or Infinity would raise."""

    def reject(constant: str) -> None:
        raise ValueError(f"evaluation.json holds {constant}")

    text = (output_dir / "evaluation.json").read_text()
    return json.loads(text, parse_constant=reject)


@pytest.fixture(scope="module")
def raw_frame() -> pd.DataFrame:
    return data.generate()


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory: pytest.TempPathFactory, raw_frame: pd.DataFrame) -> Path:
    directory = tmp_path_factory.mktemp("raw")
    data.write_csv(raw_frame, directory / "churn.csv")
    return directory


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory, raw_dir: Path) -> tuple[Path, str]:
    """The output directory of preprocess.py on the default data set, and its log."""
    output_dir = tmp_path_factory.mktemp("processed")
    result = run_script(
        PREPROCESS, "--input-dir", raw_dir, "--output-dir", output_dir, cwd=output_dir
    )
    assert result.returncode == 0, result.stderr
    return output_dir, result.stdout


@pytest.fixture(scope="module")
def booster(processed: tuple[Path, str]) -> xgboost.Booster:
    """A real model, trained on the train split and watched on validation as SageMaker does."""
    output_dir, _ = processed
    train = read_split(output_dir, "train").to_numpy()
    validation = read_split(output_dir, "validation").to_numpy()
    return xgboost.train(
        TRAIN_PARAMS,
        xgboost.DMatrix(train[:, 1:], label=train[:, 0]),
        num_boost_round=TRAIN_ROUNDS,
        evals=[(xgboost.DMatrix(validation[:, 1:], label=validation[:, 0]), "validation")],
        verbose_eval=False,
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, booster: xgboost.Booster) -> Path:
    """model.tar.gz holding the booster saved with `save_model`, as current containers do."""
    directory = tmp_path_factory.mktemp("model")
    saved = directory / "xgboost-model"
    with warnings.catch_warnings():
        # No file extension, like the container's file: xgboost warns it picks UBJSON.
        warnings.simplefilter("ignore", UserWarning)
        booster.save_model(str(saved))
    write_model_archive(directory, saved.read_bytes())
    saved.unlink()
    return directory


@pytest.fixture(scope="module")
def evaluation(
    tmp_path_factory: pytest.TempPathFactory, processed: tuple[Path, str], model_dir: Path
) -> tuple[dict, str]:
    """evaluation.json of evaluate.py on the test split, and its log."""
    output_dir, _ = processed
    evaluation_dir = tmp_path_factory.mktemp("evaluation") / "out"
    result = run_script(
        EVALUATE,
        "--model-dir",
        model_dir,
        "--test-dir",
        output_dir / "test",
        "--output-dir",
        evaluation_dir,
        cwd=evaluation_dir.parent,
    )
    assert result.returncode == 0, result.stderr
    return load_report(evaluation_dir), result.stdout


# --- ml/data.py -------------------------------------------------------------------------------


def test_generator_is_deterministic(tmp_path: Path) -> None:
    first = data.write_csv(data.generate(rows=1000, seed=3), tmp_path / "first.csv")
    second = data.write_csv(data.generate(rows=1000, seed=3), tmp_path / "second.csv")
    other = data.write_csv(data.generate(rows=1000, seed=4), tmp_path / "other.csv")
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_generator_cli_writes_the_same_bytes(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "dir" / "churn.csv"
    command = [sys.executable, "-m", "ml.data", "--rows", "500", "--seed", "11", "--out", str(out)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and str(out) in result.stdout
    expected = data.write_csv(data.generate(rows=500, seed=11), tmp_path / "expected.csv")
    assert out.read_bytes() == expected.read_bytes()
    assert out.read_text().splitlines()[0] == ",".join(data.COLUMNS)


def test_generator_schema(raw_frame: pd.DataFrame) -> None:
    frame = raw_frame
    assert list(frame.columns) == list(data.COLUMNS)
    assert len(frame) == 5000
    assert frame["customer_id"].is_unique
    assert frame["customer_id"].str.match(r"^C\d{8}$").all()
    assert set(frame["contract"]) == set(data.CONTRACTS)
    assert set(frame["payment_method"]) == set(data.PAYMENT_METHODS) | {""}
    assert set(frame["internet_service"]) == set(data.INTERNET_SERVICES)
    assert set(frame["region"]) == set(data.REGIONS)
    assert set(frame["paperless_billing"]) == {"yes", "no"}
    assert frame["churned"].dtype == np.int64
    assert set(frame["churned"]) == {0, 1}
    assert frame["tenure_months"].between(1, 72).all()
    assert frame["age"].dropna().between(18, 85).all()
    assert (frame["support_calls"] >= 0).all() and (frame["num_products"] >= 1).all()
    # Total charges are what the tenure at the monthly rate would bill, give or take noise.
    ratio = frame["total_charges"] / (frame["tenure_months"] * frame["monthly_charges"])
    assert ratio.dropna().between(0.7, 1.3).all()
    assert abs(ratio.median() - 1.0) < 0.02


def test_generator_leaves_gaps(raw_frame: pd.DataFrame) -> None:
    for column in ("total_charges", "age", "days_since_last_login"):
        share = raw_frame[column].isna().mean()
        assert 0.01 < share < 0.08, (column, share)
    share = (raw_frame["payment_method"] == "").mean()
    assert 0.01 < share < 0.08
    # Only those: no other column has a gap, and a missing payment method is an empty string.
    gappy = ["total_charges", "age", "days_since_last_login"]
    assert not raw_frame.drop(columns=gappy).isna().any().any()


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_generator_churn_rate(seed: int) -> None:
    rate = data.generate(seed=seed)["churned"].mean()
    assert 0.20 <= rate <= 0.27


# --- ml/preprocess.py -------------------------------------------------------------------------


def test_preprocess_writes_three_headerless_label_first_csvs(processed: tuple[Path, str]) -> None:
    output_dir, log = processed
    files = sorted(
        p.relative_to(output_dir).as_posix() for p in output_dir.rglob("*") if p.is_file()
    )
    # Beside test.csv, what the model review reads (tests/test_ml_review_files.py); the
    # training channels' folders hold their CSV alone.
    assert files == [
        "test/features.txt", "test/segments.csv", "test/test.csv",
        "train/train.csv", "validation/validation.csv",
    ]  # fmt: skip
    for name in ("train", "validation", "test"):
        frame = read_split(output_dir, name)
        # Read without a header, every column parses as a number: there is no header row.
        assert all(pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes), name
        assert frame.shape[1] == 1 + FEATURES, name
        assert not frame.isna().any().any(), name
        assert set(frame[0]) == {0, 1}, name
    assert f"{FEATURES} features" in log
    assert "churn rate" in log


def test_preprocess_split_is_a_stratified_partition(
    raw_frame: pd.DataFrame, processed: tuple[Path, str]
) -> None:
    output_dir, _ = processed
    splits = {name: read_split(output_dir, name) for name in ("train", "validation", "test")}
    assert sum(len(frame) for frame in splits.values()) == len(raw_frame)
    assert [len(splits[name]) for name in ("train", "validation", "test")] == [3500, 750, 750]

    overall = raw_frame["churned"].mean()
    for name, frame in splits.items():
        assert abs(frame[0].mean() - overall) < 0.01, name

    # Columns with no gaps pass through unchanged (feature order is the file's numeric
    # columns first), so every raw row must turn up in exactly one split.
    kept = ["churned", "tenure_months", "monthly_charges", "support_calls", "num_products"]
    positions = [0, 2, 3, 5, 6]

    def rows(frame: pd.DataFrame) -> Counter:
        return Counter(map(tuple, frame.round(2).to_numpy().tolist()))

    written = sum((rows(frame[positions]) for frame in splits.values()), Counter())
    assert written == rows(raw_frame[kept].astype(float))


def test_preprocess_fails_clearly_without_csv(tmp_path: Path) -> None:
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    (input_dir / "README.txt").write_text("not data\n")
    output_dir = tmp_path / "output"
    result = run_script(
        PREPROCESS, "--input-dir", input_dir, "--output-dir", output_dir, cwd=tmp_path
    )
    assert result.returncode != 0
    assert "no *.csv file" in result.stderr and str(input_dir) in result.stderr
    assert not output_dir.exists()


def test_preprocess_fails_clearly_without_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preprocess = load_script(PREPROCESS)
    data.write_csv(data.generate(rows=50).drop(columns=["churned"]), tmp_path / "x.csv")
    with pytest.raises(SystemExit) as exit_info:
        preprocess.main(["--input-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")])
    assert exit_info.value.code == 1
    assert "no label column 'churned'" in capsys.readouterr().err


def test_cleaning_is_learned_from_train_only() -> None:
    preprocess = load_script(PREPROCESS)
    train = pd.DataFrame(
        {"x": [1.0, 2.0, np.nan, 10.0], "color": ["red", "blue", None, ""], "churned": [0, 1, 0, 1]}
    )
    test = pd.DataFrame({"x": [np.nan, 100.0], "color": ["green", "red"], "churned": [1, 0]})
    cleaning = preprocess.fit_cleaning(train)
    assert cleaning.feature_names() == [
        "x",
        "x_missing",
        "color=blue",
        "color=missing",
        "color=red",
    ]
    out = preprocess.apply_cleaning(test, cleaning)
    assert list(out.columns) == ["churned", *cleaning.feature_names()]
    # The train median (2.0), never the test's own; an unseen colour is all zeros.
    assert out.iloc[0].tolist() == [1, 2.0, 1, 0, 0, 0]
    assert out.iloc[1].tolist() == [0, 100.0, 0, 0, 0, 1]


# --- ml/evaluate.py ---------------------------------------------------------------------------


def test_evaluate_writes_model_quality_report(
    evaluation: tuple[dict, str], processed: tuple[Path, str]
) -> None:
    report, log = evaluation
    assert list(report) == ["binary_classification_metrics"]
    metrics = report["binary_classification_metrics"]
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "auc", "confusion_matrix"}
    for name in ("accuracy", "precision", "recall", "f1", "auc"):
        assert metrics[name]["standard_deviation"] == "NaN"
        assert isinstance(metrics[name]["value"], float)
        assert 0.0 <= metrics[name]["value"] <= 1.0
    assert metrics["accuracy"]["value"] > 0.8
    assert metrics["auc"]["value"] > 0.85

    matrix = metrics["confusion_matrix"]
    assert set(matrix) == {"0", "1"} and all(set(row) == {"0", "1"} for row in matrix.values())
    output_dir, _ = processed
    test_rows = len(read_split(output_dir, "test"))
    assert sum(count for row in matrix.values() for count in row.values()) == test_rows
    correct = matrix["0"]["0"] + matrix["1"]["1"]
    assert metrics["accuracy"]["value"] == pytest.approx(correct / test_rows, abs=1e-6)
    assert "accuracy:" in log and "auc:" in log


def test_evaluate_reads_a_pickled_booster(
    tmp_path: Path,
    booster: xgboost.Booster,
    processed: tuple[Path, str],
    evaluation: tuple[dict, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    evaluate = load_script(EVALUATE)
    model_dir = tmp_path / "model"
    write_model_archive(model_dir, pickle.dumps(booster))
    output_dir, _ = processed
    argv = ["--model-dir", str(model_dir), "--test-dir", str(output_dir / "test")]
    assert evaluate.main([*argv, "--output-dir", str(tmp_path / "evaluation")]) == 0
    assert "pickled booster" in capsys.readouterr().out
    assert load_report(tmp_path / "evaluation") == evaluation[0]


def test_evaluate_writes_null_auc_for_a_single_class(
    tmp_path: Path, model_dir: Path, processed: tuple[Path, str]
) -> None:
    output_dir, _ = processed
    test = read_split(output_dir, "test")
    only_stayers = test[test[0] == 0]
    (tmp_path / "test").mkdir()
    only_stayers.to_csv(tmp_path / "test" / "test.csv", header=False, index=False)
    result = run_script(
        EVALUATE,
        "--model-dir",
        model_dir,
        "--test-dir",
        tmp_path / "test",
        "--output-dir",
        tmp_path / "evaluation",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "writing null" in result.stdout
    metrics = load_report(tmp_path / "evaluation")["binary_classification_metrics"]
    assert metrics["auc"]["value"] is None
    assert metrics["confusion_matrix"]["1"] == {"0": 0, "1": 0}
    assert sum(metrics["confusion_matrix"]["0"].values()) == len(only_stayers)


# --- ml/sklearn_model/ (the scikit-learn reference model) ---------------------------------------

SKLEARN_TRAIN = REPO / "ml" / "sklearn_model" / "train.py"


def test_the_sklearn_train_script_runs_under_the_toolkit_contract_and_the_archive_serves_itself(
    tmp_path: Path, processed: tuple[Path, str]
) -> None:
    """train.py reads its channels and model folder from the toolkit's variables and its
    hyperparameters from --name value arguments; the model folder it leaves holds the model
    and the inference script; evaluate.py scores that archive, inference.py serves it."""
    output_dir, _ = processed
    model = tmp_path / "model"
    model.mkdir()
    environment = {
        **os.environ,
        "SM_CHANNEL_TRAIN": str(output_dir / "train"),
        "SM_CHANNEL_VALIDATION": str(output_dir / "validation"),
        "SM_MODEL_DIR": str(model),
    }
    command = [sys.executable, str(SKLEARN_TRAIN), "--max_iter", "50", "--max_depth", "3"]
    result = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^validation:auc=0\.\d+$", result.stdout, re.MULTILINE), result.stdout
    assert sorted(p.relative_to(model).as_posix() for p in model.rglob("*.*")) == [
        "code/inference.py", "model.joblib"
    ]  # fmt: skip
    estimator = joblib.load(model / "model.joblib")
    assert (estimator.max_iter, estimator.max_depth) == (50, 3)

    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "model.tar.gz", "w:gz") as archive:
        archive.add(model, arcname=".")
    evaluation_dir = tmp_path / "evaluation"
    scored = run_script(
        EVALUATE, "--model-dir", archive_dir, "--test-dir", output_dir / "test",
        "--output-dir", evaluation_dir, cwd=tmp_path,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    assert "model: scikit-learn HistGradientBoostingClassifier" in scored.stdout
    metrics = load_report(evaluation_dir)["binary_classification_metrics"]
    assert metrics["accuracy"]["value"] > 0.8 and metrics["auc"]["value"] > 0.85

    inference = load_script(model / "code" / "inference.py")
    served = inference.model_fn(str(model))
    test = read_split(output_dir, "test").to_numpy()
    one = inference.predict_fn(test[0, 1:], served)  # a single row, as one CSV line decodes
    many = inference.predict_fn(test[:, 1:], served)
    assert one.shape == (1,) and many.shape == (len(test),)
    assert ((many >= 0) & (many <= 1)).all()
    assert many[0] == pytest.approx(one[0])
