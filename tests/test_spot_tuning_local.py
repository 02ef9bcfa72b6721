"""ml.sklearn_pipeline:get_spot_tuning_pipeline run end to end on the local backend (issue 20):
the same definition as on SageMaker, every trial a spot training job whose checkpoints stay its
own. (Apart from tests/test_spot_tuning.py: its `offline` fixture refuses every socket.)"""

from __future__ import annotations

import io
import json

import joblib
import pytest

from smgha.backends.local import LocalBackend
from smgha.stages import build_pipeline
from tests.stage_helpers import run_main
from tests.test_local_faults import local  # noqa: F401 (a fixture)
from tests.test_local_tuning import read_described, read_trial
from tests.test_sklearn_local import GITHUB

MAX_ITER = 60  # two checkpoints a trial (train.py's CHECKPOINT_EVERY is 50), and quick


@pytest.mark.slow
def test_the_spot_tuning_pipeline_runs_every_trial_on_spot_with_checkpoints_of_its_own(
    local: LocalBackend,  # noqa: F811 (the fixture)
    churn_csv: bytes,
) -> None:
    local.objects.put_object("s3://smgha-local/churn/data/churn.csv", churn_csv)
    inputs = {
        "backend": "local",
        "definition": "ml.sklearn_pipeline:get_spot_tuning_pipeline",
        "pipeline-name": "churn-spot-tuning",
        "parameters": json.dumps({"MaxIter": MAX_ITER}),
    }
    result = run_main(build_pipeline.main, inputs, **GITHUB)
    assert result.code == 0, result.log
    assert result.outputs["status"] == "Succeeded"
    execution = result.outputs["execution-arn"]
    execution_id = execution.rsplit("/", 1)[-1]
    checkpoints = f"s3://smgha-local/churn/checkpoints/{execution_id}/TuneModel"

    summaries = read_described(local, execution, "TuneModel")["TrainingJobSummaries"]
    assert len(summaries) == 6 and all(s["TrainingJobStatus"] == "Completed" for s in summaries)
    for summary in summaries:
        name = summary["TrainingJobName"]
        trial = read_trial(local, execution, name, "TuneModel")
        assert trial["EnableManagedSpotTraining"] is True
        assert trial["StoppingCondition"] == {
            "MaxRuntimeInSeconds": 3600,
            "MaxWaitTimeInSeconds": 7200,
        }
        # Every trial gets the definition's one S3Uri (the stricter reading: tuning.py) ...
        assert trial["CheckpointConfig"]["S3Uri"] == checkpoints
        # ... and its checkpoint is in its own folder: its own model, with its own tuned values.
        saved = joblib.load(
            io.BytesIO(local.objects.read_object(f"{checkpoints}/{name}/model.joblib"))
        )
        tuned = summary["TunedHyperParameters"]
        assert saved.n_iter_ == MAX_ITER
        assert saved.max_depth == int(tuned["max_depth"])
        assert saved.learning_rate == float(tuned["learning_rate"])
        # Billed as run: nothing is discounted locally (spot_training.py).
        assert trial["BillableTimeInSeconds"] == trial["TrainingTimeInSeconds"] >= 1
    # Nothing else was written under the prefix: one folder per trial, one file in each.
    names = {s["TrainingJobName"] for s in summaries}
    found = {key for _, key in local.objects.objects(checkpoints + "/")}
    assert found == {f"{name}/model.joblib" for name in names}
