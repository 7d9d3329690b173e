"""The torch stages of recurrent audio encoders: one LSTM layer per stage, then the projection."""

from __future__ import annotations

import torch
from torch import nn

from headstart.backbones.audio_staged import WindowSummary
from headstart.backbones.base import State


class LSTMStage(nn.Module):
    """One LSTM layer run over every window of every recording (windows folded into the batch).

    `summary` keeps one vector per window instead of every frame: `"last"` the final frame's output (the last
    layer's hidden state, what GE2E's projection reads), `"last+mean"` that and the mean over the window's 160
    frames, concatenated (2 x dim); a cut after it caches (N, windows, dim or 2 x dim). Padding windows come out as zeros (so every export reads the mask, and
    cached activations of padding are exact zeros).
    """

    def __init__(
        self, key_in: str, input_size: int, hidden_size: int, summary: WindowSummary | None = None
    ) -> None:
        super().__init__()
        self.key_in, self.summary = key_in, summary
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=1, batch_first=True)

    def forward(self, state: State) -> State:
        x = state[self.key_in]  # (N, windows, frames, features)
        n, w, t, c = x.shape
        out, _ = self.lstm(x.reshape(n * w, t, c))
        mask = state["attention_mask"].to(out.dtype)
        if self.summary == "last":
            hidden = out[:, -1].reshape(n, w, -1) * mask[:, :, None]
        elif self.summary == "last+mean":
            hidden = torch.cat([out[:, -1], out.mean(dim=1)], dim=-1).reshape(n, w, -1) * mask[:, :, None]
        else:
            hidden = out.reshape(n, w, t, -1) * mask[:, :, None, None]
        return {"hidden": hidden, "attention_mask": state["attention_mask"]}


class Projection(nn.Module):
    """Linear -> ReLU -> L2 normalisation of each window's embedding (GE2E's d-vector of a partial utterance).

    With `keep_mean` the input is a window's final frame and frame mean side by side (`"last+mean"`): the final
    frame is projected, and the L2-normalised mean is concatenated after the d-vector (`dim_out + dim_in` wide),
    keeping what GE2E's projection of the final frame leaves out."""

    def __init__(self, dim_in: int, dim_out: int, keep_mean: bool = False) -> None:
        super().__init__()
        self.dim_in, self.keep_mean = dim_in, keep_mean
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, state: State) -> State:
        h = state["hidden"]
        e = torch.relu(self.linear(h[..., : self.dim_in]))
        e = e / e.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        if self.keep_mean:
            mean = h[..., self.dim_in :]
            e = torch.cat([e, mean / mean.norm(dim=-1, keepdim=True).clamp(min=1e-12)], dim=-1)
        return {"hidden": e, "attention_mask": state["attention_mask"]}


def recurrent_stages(
    n_mels: int, hidden: int, layers: int, dim: int, summary: WindowSummary = "last"
) -> tuple[list[str], list[nn.Module]]:
    """Names and modules of `layers` LSTM stages (the last summarising each window) then the projection."""
    names = [f"lstm{i + 1}" for i in range(layers)] + ["projection"]
    stages: list[nn.Module] = [
        LSTMStage(
            "mel" if i == 0 else "hidden", n_mels if i == 0 else hidden, hidden, summary if i == layers - 1 else None
        )
        for i in range(layers)
    ]
    return names, [*stages, Projection(hidden, dim, keep_mean=summary == "last+mean")]
