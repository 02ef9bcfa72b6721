"""The consumer repository's own test (run by model-build's test job)."""

from ml import data


def test_generated_data_is_deterministic_and_labelled():
    first = data.generate(rows=200, seed=7)
    assert len(first) == 200
    assert set(first[data.LABEL].unique()) <= {0, 1}
    assert first.equals(data.generate(rows=200, seed=7))
