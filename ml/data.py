"""A synthetic, deterministic customer-churn data set for the reference model.

The reference pipeline needs data that behaves like the real thing (mixed types, missing
values, class imbalance, a signal that is learnable but not trivially so) without shipping
a data file or downloading one at run time. Everything here is drawn from a single
`numpy.random.default_rng(seed)` in a fixed order, so the same `rows` and `seed` always give
the same frame and, written with `write_csv`, the same bytes.

    python -m ml.data --rows 5000 --seed 7 --out data/churn.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

LABEL = "churned"

CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = ("electronic-check", "mailed-check", "bank-transfer", "credit-card")
INTERNET_SERVICES = ("dsl", "fiber", "none")
REGIONS = ("north", "south", "east", "west", "central")

# Column order of the generated frame (and of the CSV header).
COLUMNS = (
    "customer_id",
    "age",
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "num_products",
    "days_since_last_login",
    "contract",
    "payment_method",
    "internet_service",
    "region",
    "paperless_billing",
    LABEL,
)

# Intercept and overall strength of the churn logit, tuned together (with the weights in
# `_churn_logit`) so that about 23% of customers churn and gradient-boosted trees reach roughly
# 0.86 accuracy. A larger `_SIGNAL` makes the problem easier, a smaller one noisier.
_INTERCEPT = -1.5
_SIGNAL = 1.25


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _churn_logit(
    *,
    age: np.ndarray,
    tenure: np.ndarray,
    monthly: np.ndarray,
    support_calls: np.ndarray,
    num_products: np.ndarray,
    days_since_login: np.ndarray,
    contract: np.ndarray,
    payment: np.ndarray,
    internet: np.ndarray,
    region: np.ndarray,
    paperless: np.ndarray,
) -> np.ndarray:
    """The log-odds of churning, from the *true* (not yet blanked) feature values.

    Mostly additive, so a linear model does reasonably, but with thresholds and interactions
    (short-tenure month-to-month customers, fiber customers who keep calling support, the
    engagement cliff after a month without logging in) so that trees do a little better.
    """
    month_to_month = contract == "month-to-month"
    one_year = contract == "one-year"
    fiber = internet == "fiber"
    score = (
        1.9 * month_to_month
        + 0.7 * one_year
        - 0.9 * np.log1p(tenure)
        + 0.35 * support_calls
        + 1.0 * (support_calls >= 4)
        + 0.025 * (monthly - 65.0)
        + 0.6 * fiber
        + 0.7 * (payment == "electronic-check")
        + 1.2 * (month_to_month & (tenure <= 6))
        + 0.9 * (fiber & (support_calls >= 3))
        + 1.3 * (days_since_login > 30)
        + 0.02 * np.minimum(days_since_login, 60.0)
        - 0.35 * (num_products - 1)
        + 0.4 * (age < 25)
        - 0.3 * (age > 65)
        + 0.2 * (paperless == "yes")
        + 0.15 * (region == "south")
    )
    return _SIGNAL * (_INTERCEPT + score)


def generate(rows: int = 5000, seed: int = 7) -> pd.DataFrame:
    """Return `rows` synthetic customers with a `churned` label, deterministically from `seed`.

    Features are drawn first (with realistic dependencies: contract drives tenure, internet
    service and products drive charges), the label is drawn from a logistic function of the
    true values, and only then are a few percent of `age`, `total_charges`,
    `days_since_last_login` and `payment_method` blanked, so preprocessing has real gaps to fill.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    rng = np.random.default_rng(seed)
    n = rows

    age = np.clip(np.round(rng.normal(45.0, 15.0, n)), 18, 85).astype(np.int64)
    contract = rng.choice(np.array(CONTRACTS), size=n, p=[0.52, 0.24, 0.24])

    # Longer contracts mean longer-standing customers; tenure is whole months in [1, 72].
    tenure_mean = np.select(
        [contract == "month-to-month", contract == "one-year"], [16.0, 34.0], default=50.0
    )
    tenure = np.clip(np.ceil(rng.gamma(2.0, tenure_mean / 2.0)), 1, 72).astype(np.int64)

    internet = rng.choice(np.array(INTERNET_SERVICES), size=n, p=[0.36, 0.44, 0.20])
    num_products = np.clip(1 + rng.poisson(1.1, n) + (internet != "none"), 1, 6).astype(np.int64)

    base_charge = np.select([internet == "fiber", internet == "dsl"], [70.0, 45.0], default=20.0)
    monthly = base_charge + 6.5 * (num_products - 1) + rng.normal(0.0, 6.0, n)
    monthly = np.round(np.clip(monthly, 18.0, 150.0), 2)

    # What was billed over the tenure, give or take discounts and price changes.
    total = np.round(tenure * monthly * rng.lognormal(0.0, 0.06, n), 2)

    support_rate = 0.8 + 0.9 * (internet == "fiber") + 0.25 * (num_products >= 4)
    support_calls = rng.poisson(support_rate).astype(np.int64)

    # A quarter of customers are disengaged and log in rarely.
    disengaged = rng.random(n) < 0.25
    days_since_login = np.where(
        disengaged, rng.exponential(40.0, n), rng.exponential(7.0, n)
    ).astype(np.int64)
    days_since_login = np.minimum(days_since_login, 365)

    # Electronic checks are more common among month-to-month customers.
    echeck_p = np.where(contract == "month-to-month", 0.45, 0.2)
    other = rng.choice(np.array(PAYMENT_METHODS[1:]), size=n)
    payment = np.where(rng.random(n) < echeck_p, PAYMENT_METHODS[0], other)

    region = rng.choice(np.array(REGIONS), size=n, p=[0.22, 0.24, 0.2, 0.2, 0.14])
    paperless = np.where(rng.random(n) < np.where(age < 50, 0.7, 0.45), "yes", "no")

    logit = _churn_logit(
        age=age,
        tenure=tenure,
        monthly=monthly,
        support_calls=support_calls,
        num_products=num_products,
        days_since_login=days_since_login,
        contract=contract,
        payment=payment,
        internet=internet,
        region=region,
        paperless=paperless,
    )
    churned = (rng.random(n) < _sigmoid(logit)).astype(np.int64)

    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:08d}" for i in range(1, n + 1)],
            "age": pd.array(age, dtype="Int64"),
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support_calls,
            "num_products": num_products,
            "days_since_last_login": pd.array(days_since_login, dtype="Int64"),
            "contract": contract,
            "payment_method": payment,
            "internet_service": internet,
            "region": region,
            "paperless_billing": paperless,
            LABEL: churned,
        },
        columns=list(COLUMNS),
    )

    # Gaps, after the label so they hide information rather than change it. Total charges
    # are missing mostly for brand-new customers (not billed yet), as in real billing exports.
    new_customer = tenure <= 2
    blank_total = rng.random(n) < np.where(new_customer, 0.25, 0.02)
    frame.loc[blank_total, "total_charges"] = np.nan
    frame.loc[rng.random(n) < 0.04, "age"] = pd.NA
    frame.loc[rng.random(n) < 0.03, "days_since_last_login"] = pd.NA
    frame.loc[rng.random(n) < 0.02, "payment_method"] = ""
    return frame


def write_csv(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write `frame` as a CSV with a header, creating parent directories.

    Missing values become empty fields and charges keep exactly two decimals, so the bytes
    depend only on the values (and the same seed gives the same file).
    """
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.2f", lineterminator="\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.data", description="Generate the synthetic churn data set as a CSV."
    )
    parser.add_argument("--rows", type=int, default=5000, help="number of customers (5000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    parser.add_argument("--out", required=True, help="CSV file to write")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")

    frame = generate(rows=args.rows, seed=args.seed)
    path = write_csv(frame, args.out)
    rate = frame[LABEL].mean()
    print(f"wrote {len(frame)} rows (seed {args.seed}, churn rate {rate:.1%}) to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
