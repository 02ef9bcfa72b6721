"""Serve the churn model of train.py: the inference script of the PyTorch inference container.

The container (aws/sagemaker-pytorch-inference-toolkit) imports this module from
/opt/ml/model/code and calls model_fn once; every request then goes through its default
handlers, which suit this model as they are:

- input_fn: text/csv (one customer per line, the features in train.py's order, no label)
  or application/json (a list of rows) becomes a float tensor;
- predict_fn: the model in eval mode under torch.no_grad(): one churn probability per row;
- output_fn: with Accept text/csv, one probability per line (as the XGBoost container
  answers); application/json, a list of one-element lists.

Define input_fn, predict_fn or output_fn here to change any of them. train.py imports
ChurnModel from here, so training and serving share one definition of the network.
"""

from __future__ import annotations

import os

import torch
from torch import nn

MODEL_FILE = "model.pth"


class ChurnModel(nn.Module):
    """Feature scaling, one hidden layer, and the churn probability (a sigmoid) as output."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, hidden_units: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.layers = nn.Sequential(
            nn.Linear(mean.shape[0], hidden_units), nn.ReLU(), nn.Linear(hidden_units, 1)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.layers((features - self.mean) / self.std))


def model_fn(model_dir: str) -> ChurnModel:
    """The network train.py saved, on the CPU (it is small); its sizes come from the weights."""
    state = torch.load(os.path.join(model_dir, MODEL_FILE), map_location="cpu", weights_only=True)
    hidden_units, features = state["layers.0.weight"].shape
    model = ChurnModel(torch.zeros(features), torch.ones(features), hidden_units)
    model.load_state_dict(state)
    model.eval()
    return model
