"""The torch stages of recurrent audio encoders: one LSTM layer per stage, then the projection."""

from __future__ import annotations

import torch
from torch import nn

from headstart.backbones.base import State


class LSTMStage(nn.Module):
    """One LSTM layer run over every window of every recording (windows folded into the batch).

    `last_only` keeps only the final frame's output (the last layer's hidden state, what the projection reads),
    so a cut after it caches (N, windows, dim) rather than every frame. Padding windows come out as zeros (so
    every export reads the mask, and cached activations of padding are exact zeros).
    """

    def __init__(self, key_in: str, input_size: int, hidden_size: int, last_only: bool = False) -> None:
        super().__init__()
        self.key_in, self.last_only = key_in, last_only
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=1, batch_first=True)

    def forward(self, state: State) -> State:
        x = state[self.key_in]  # (N, windows, frames, features)
        n, w, t, c = x.shape
        out, _ = self.lstm(x.reshape(n * w, t, c))
        mask = state["attention_mask"].to(out.dtype)
        if self.last_only:
            hidden = out[:, -1].reshape(n, w, -1) * mask[:, :, None]
        else:
            hidden = out.reshape(n, w, t, -1) * mask[:, :, None, None]
        return {"hidden": hidden, "attention_mask": state["attention_mask"]}


class Projection(nn.Module):
    """Linear -> ReLU -> L2 normalisation of each window's embedding (GE2E's d-vector of a partial utterance)."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, state: State) -> State:
        e = torch.relu(self.linear(state["hidden"]))
        e = e / e.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return {"hidden": e, "attention_mask": state["attention_mask"]}


def recurrent_stages(n_mels: int, hidden: int, layers: int, dim: int) -> tuple[list[str], list[nn.Module]]:
    """Names and modules of `layers` LSTM stages then the projection."""
    names = [f"lstm{i + 1}" for i in range(layers)] + ["projection"]
    stages: list[nn.Module] = [
        LSTMStage("mel" if i == 0 else "hidden", n_mels if i == 0 else hidden, hidden, last_only=i == layers - 1)
        for i in range(layers)
    ]
    return names, [*stages, Projection(hidden, dim)]
