"""smgha: composite GitHub Actions and a toolkit for SageMaker MLOps."""

__version__ = "0.1.0"
