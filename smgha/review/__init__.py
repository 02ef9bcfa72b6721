"""The model review: candidate versus champion (docs/review.md)."""
