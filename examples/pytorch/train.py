"""Train a small neural network on the churn data: a SageMaker script-mode entry script for
the PyTorch training container (examples/pytorch/README.md shows how to run it).

The training toolkit runs `python train.py --epochs 5 ...` with the job's hyperparameters as
arguments and the SM_* variables set: SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION hold the
channels (ml/preprocess.py's splits: header-less CSV, the label in the first column),
SM_MODEL_DIR is packed into model.tar.gz when the script ends.

The network (ChurnModel) is defined once, in inference.py beside this script: its weights
and feature scaling are saved as model.pth, and inference.py is copied into the model's
code/ folder, from where the PyTorch inference container imports it
(/opt/ml/model/code/inference.py) to rebuild the network in model_fn.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil

import numpy as np
import torch
from inference import MODEL_FILE, ChurnModel
from torch import nn


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden_units", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=0.01)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def read_channel(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every CSV file of the channel: (features, labels as a column)."""
    directory = os.environ[f"SM_CHANNEL_{name.upper()}"]
    files = sorted(glob.glob(os.path.join(directory, "*.csv")))
    if not files:
        raise SystemExit(f"no CSV file in the {name} channel ({directory})")
    data = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2, dtype=np.float32) for f in files])
    return torch.from_numpy(data[:, 1:]), torch.from_numpy(data[:, :1])


def auc(labels: torch.Tensor, scores: torch.Tensor) -> float:
    """The area under the ROC curve: how often a churner scores above a stayer (ties half)."""
    positive = scores[labels == 1]
    negative = scores[labels == 0]
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    above = (positive[:, None] > negative[None, :]).float().mean()
    ties = (positive[:, None] == negative[None, :]).float().mean()
    return float(above + ties / 2)


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    features, labels = read_channel("train")
    val_features, val_labels = read_channel("validation")
    std = features.std(dim=0)
    model = ChurnModel(features.mean(dim=0), torch.where(std > 0, std, 1.0), args.hidden_units)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    loss_of = nn.BCELoss()

    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(features))
        total = 0.0
        for start in range(0, len(features), args.batch_size):
            batch = order[start : start + args.batch_size]
            optimiser.zero_grad()
            loss = loss_of(model(features[batch]), labels[batch])
            loss.backward()
            optimiser.step()
            total += float(loss) * len(batch)
        model.eval()
        with torch.no_grad():
            scores = model(val_features)
            val_loss = float(loss_of(scores, val_labels))
        # The job's MetricDefinitions read these lines (the last value is the final metric).
        print(
            f"epoch={epoch} train:loss={total / len(features):.5f} "
            f"validation:loss={val_loss:.5f} validation:auc={auc(val_labels, scores):.5f}",
            flush=True,
        )

    model_dir = os.environ["SM_MODEL_DIR"]
    torch.save(model.state_dict(), os.path.join(model_dir, MODEL_FILE))
    code_dir = os.path.join(model_dir, "code")
    os.makedirs(code_dir, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    shutil.copy(os.path.join(here, "inference.py"), os.path.join(code_dir, "inference.py"))


if __name__ == "__main__":
    main()
