"""The reference model project's own tests: model-build's test job runs them
(`test-command: python -m pytest -q ml/tests`), and so does this repository's suite."""

from ml import data


def test_generated_data_is_deterministic_and_labelled():
    first = data.generate(rows=200, seed=7)
    assert len(first) == 200
    assert set(first[data.LABEL].unique()) <= {0, 1}
    assert first.equals(data.generate(rows=200, seed=7))
