"""smgha: composite GitHub Actions and a toolkit for SageMaker MLOps."""

__version__ = "1.0.0"
