"""The reference model project that a team forks: customer churn with SageMaker XGBoost.

`data.py` generates a deterministic synthetic data set, `preprocess.py` and `evaluate.py` are
the pipeline's processing scripts. The two scripts run standalone inside SageMaker containers,
so they must not import this package or each other.
"""
