"""SageMaker processing step: raw churn CSVs in, train/validation/test CSVs for XGBoost out.

This file runs as `python3 preprocess.py` inside the SageMaker scikit-learn container, so it
is a standalone script: pandas and scikit-learn only, no import of `ml` or any other
project module, and every path comes from the command line (the defaults are the container's
mount points).

The rows are split (stratified on the label) *before* anything is learned from them, and all
cleaning statistics (medians, categories) come from the train split alone, so validation and
test measure the model on data it has truly never seen. Outputs are what the built-in
SageMaker XGBoost algorithm reads: headerless CSVs with the label in the first column.
Beside test.csv it writes what the model review (smgha review, docs/review.md) reads through
ml/evaluate.py: `segments.csv` (each test row's categorical values, to compare models per
segment) and `features.txt` (the feature names, to name the model's feature importance).

    python3 preprocess.py --input-dir data/ --output-dir out/
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pandas as pd
from sklearn.model_selection import train_test_split

LABEL = "churned"
# Identifiers carry no signal a model should learn; they are dropped before anything else.
ID_COLUMNS = ("customer_id",)
# The category that stands for a missing (or empty) categorical value.
MISSING = "missing"
SPLITS = ("train", "validation", "test")
# Written into the test split's folder only, beside test.csv, for ml/evaluate.py. Nothing
# else reads that folder as a whole: the evaluation step is the test prefix's one reader
# (its S3Prefix input takes every object under the prefix: "Amazon SageMaker uses all
# objects with the specified key name prefix", docs.aws.amazon.com/sagemaker/latest/
# APIReference/API_ProcessingS3Input.html; evaluate.py opens test.csv by name); the
# training channels (train/, validation/), whose containers read every file of a channel,
# never see these files. docs/review.md lists every reader checked.
SEGMENTS_FILE = "segments.csv"
FEATURES_FILE = "features.txt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input-dir",
        default="/opt/ml/processing/input",
        help="directory holding the raw *.csv files (all are read, in name order)",
    )
    parser.add_argument(
        "--output-dir",
        default="/opt/ml/processing",
        help="writes train/train.csv, validation/validation.csv and test/test.csv under it",
    )
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42, help="seed of the split")
    args = parser.parse_args(argv)
    for name in ("validation_fraction", "test_fraction"):
        value = getattr(args, name)
        if not 0.0 < value < 1.0:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1, got {value}")
    if args.validation_fraction + args.test_fraction >= 1.0:
        parser.error("--validation-fraction plus --test-fraction must leave rows to train on")
    return args


def fail(message: str) -> NoReturn:
    """Stop with `message` on stderr and exit status 1 (the processing job then fails)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def read_input(input_dir: Path) -> pd.DataFrame:
    """Every `*.csv` of `input_dir`, in name order, as one frame with a clean 0/1 label.

    All files must have the same columns: a silent union would fill the gaps with NaN and
    hide a broken export.
    """
    if not input_dir.is_dir():
        fail(f"input directory {input_dir} does not exist")
    paths = sorted(input_dir.glob("*.csv"))
    if not paths:
        fail(f"no *.csv file in {input_dir}")

    frames: list[pd.DataFrame] = []
    for path in paths:
        with open(path, newline="") as handle:
            frame = pd.read_csv(handle)
        if LABEL not in frame.columns:
            fail(f"{path} has no label column '{LABEL}' (columns: {', '.join(frame.columns)})")
        if frames and list(frame.columns) != list(frames[0].columns):
            fail(f"{path} has other columns than {paths[0]}")
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)

    labels = data[LABEL]
    if labels.isna().any() or not labels.isin([0, 1]).all():
        bad = sorted({str(value) for value in labels[~labels.isin([0, 1])].unique()})
        fail(f"label column '{LABEL}' must hold only 0 and 1, found {', '.join(bad)}")
    data[LABEL] = labels.astype(int)
    print(f"read {len(data)} rows x {data.shape[1]} columns from {len(paths)} file(s)")
    return data.drop(columns=[c for c in ID_COLUMNS if c in data.columns])


def split(
    data: pd.DataFrame, validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, pd.DataFrame]:
    """Partition the rows into train, validation and test, stratified on the label.

    Stratification keeps the churn rate the same in all three; it needs at least two rows of
    each class, so a tiny or single-class input falls back to a plain random split.
    """
    stratify = data[LABEL].value_counts().min() >= 2
    rest, test = train_test_split(
        data,
        test_size=test_fraction,
        random_state=seed,
        stratify=data[LABEL] if stratify else None,
    )
    # The validation fraction is of all rows, so rescale it to what is left after the test.
    train, validation = train_test_split(
        rest,
        test_size=validation_fraction / (1.0 - test_fraction),
        random_state=seed,
        stratify=rest[LABEL] if stratify else None,
    )
    if not stratify:
        print("a class has fewer than 2 rows: split without stratification")
    return {"train": train, "validation": validation, "test": test}


@dataclass
class Cleaning:
    """What is learned from the train split and then applied unchanged to every split."""

    numeric: list[str]
    categorical: list[str]
    medians: dict[str, float] = field(default_factory=dict)
    # Numeric columns with gaps in train get a 0/1 "was missing" feature: a gap can mean
    # something (no total charges yet = a brand-new customer).
    indicators: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)

    def feature_names(self) -> list[str]:
        names = list(self.numeric)
        names += [f"{column}_missing" for column in self.indicators]
        for column in self.categorical:
            names += [f"{column}={category}" for category in self.categories[column]]
        return names


def feature_types(data: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns, in file order, from the parsed dtypes.

    Booleans are treated as categories; everything that is not a number is one.
    """
    numeric, categorical = [], []
    for column in data.columns:
        if column == LABEL:
            continue
        dtype = data[column].dtype
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            numeric.append(column)
        else:
            categorical.append(column)
    return numeric, categorical


def categorical_values(values: pd.Series) -> pd.Series:
    """`values` as stripped strings, with NaN and empty strings replaced by `MISSING`."""
    text = values.astype(object).where(values.notna(), MISSING).astype(str).str.strip()
    return text.where(text != "", MISSING)


def fit_cleaning(train: pd.DataFrame) -> Cleaning:
    """Learn medians, missing indicators and one-hot categories from the train split only."""
    numeric, categorical = feature_types(train)
    cleaning = Cleaning(numeric=numeric, categorical=categorical)
    for column in numeric:
        median = train[column].median()
        if pd.isna(median):
            print(f"column {column} is empty in train: imputing 0")
            median = 0.0
        cleaning.medians[column] = float(median)
        if train[column].isna().any():
            cleaning.indicators.append(column)
    for column in categorical:
        cleaning.categories[column] = sorted(categorical_values(train[column]).unique())
    return cleaning


def apply_cleaning(frame: pd.DataFrame, cleaning: Cleaning) -> pd.DataFrame:
    """The model's view of `frame`: the label first, then the features, all numeric, no NaN.

    A category the train split never had becomes all zeros in its one-hot block, which is
    what a tree model can handle without having seen it.
    """
    columns: dict[str, pd.Series] = {LABEL: frame[LABEL].astype(int)}
    for column in cleaning.numeric:
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        columns[column] = values.fillna(cleaning.medians[column])
    for column in cleaning.indicators:
        columns[f"{column}_missing"] = frame[column].isna().astype(int)
    for column in cleaning.categorical:
        values = categorical_values(frame[column])
        for category in cleaning.categories[column]:
            columns[f"{column}={category}"] = (values == category).astype(int)
    return pd.DataFrame(columns, index=frame.index)


def write_split(frame: pd.DataFrame, output_dir: Path, name: str) -> Path:
    """Write `<output_dir>/<name>/<name>.csv`, headerless, as SageMaker XGBoost reads it."""
    path = output_dir / name / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        frame.to_csv(handle, header=False, index=False)
    return path


def segments(frame: pd.DataFrame, cleaning: Cleaning) -> pd.DataFrame:
    """Each row's categorical values, as the cleaning reads them (stripped strings, a gap as
    MISSING), one column per categorical feature, in the rows' order."""
    return pd.DataFrame(
        {column: categorical_values(frame[column]) for column in cleaning.categorical},
        index=frame.index,
    )


def write_review_files(test: pd.DataFrame, cleaning: Cleaning, output_dir: Path) -> None:
    """`test/segments.csv` (with a header, same rows as test.csv) and `test/features.txt` (one
    feature name per line, in test.csv's column order after the label)."""
    folder = output_dir / "test"
    if cleaning.categorical:
        with open(folder / SEGMENTS_FILE, "w", encoding="utf-8", newline="") as handle:
            segments(test, cleaning).to_csv(handle, index=False)
    else:
        print(f"no categorical column: no {SEGMENTS_FILE}")
    # A line break inside a category would split one name over two lines: a space instead.
    names = [" ".join(name.splitlines()) for name in cleaning.feature_names()]
    with open(folder / FEATURES_FILE, "w", encoding="utf-8", newline="") as handle:
        handle.write("".join(f"{name}\n" for name in names))
    print(f"wrote {folder / FEATURES_FILE} and the segments of {len(cleaning.categorical)} columns")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = read_input(Path(args.input_dir))
    splits = split(data, args.validation_fraction, args.test_fraction, args.seed)

    cleaning = fit_cleaning(splits["train"])
    names = cleaning.feature_names()
    print(f"{len(names)} features: {', '.join(names)}")

    output_dir = Path(args.output_dir)
    for name in SPLITS:
        frame = apply_cleaning(splits[name], cleaning)
        path = write_split(frame, output_dir, name)
        rate = frame[LABEL].mean() if len(frame) else float("nan")
        print(f"{name}: {len(frame)} rows, churn rate {rate:.3f} -> {path}")
    write_review_files(splits["test"], cleaning, output_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
