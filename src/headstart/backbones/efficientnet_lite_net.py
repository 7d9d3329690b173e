"""The EfficientNet-Lite torch network as headstart stages: built only when a network must run or export."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from headstart.backbones.base import State
from headstart.backbones.stage_net import StagedNet
from headstart.backbones.staged import eval_frozen
from headstart.errors import BackboneError


class _Stem(nn.Module):
    def __init__(self, conv: nn.Module, bn: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn, self.act = conv, bn, act

    def forward(self, state: State) -> State:
        return {"feature_map": self.act(self.bn(self.conv(state["image"])))}


class _Blocks(nn.Module):
    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, state: State) -> State:
        x = state["feature_map"]
        for block in self.blocks:
            x = block(x)  # drop-connect is off: eval mode and no rate passed
        return {"feature_map": x}


class _Head(_Stem):
    def forward(self, state: State) -> State:
        return {"feature_map": self.act(self.bn(self.conv(state["feature_map"])))}


def group_blocks(blocks: Sequence[nn.Module]) -> list[list[nn.Module]]:
    """Split MBConv blocks into EfficientNet stages: a new stage starts where the output width changes."""
    groups: list[list[nn.Module]] = []
    previous = None
    for block in blocks:
        args: Any = block._block_args  # efficientnet_lite_pytorch's MBConvBlock: untyped
        out = args.output_filters
        if out != previous:
            groups.append([])
            previous = out
        groups[-1].append(block)
    return groups


def build_network(variant: str, size: int, weights: Path) -> tuple[StagedNet, nn.Linear]:
    """The frozen staged body (`stem`, `blocks1`.., `head`) and the ImageNet classifier of `variant` at `size`."""
    from efficientnet_lite_pytorch import EfficientNet

    # Static "same" padding is computed for the input side, so build for `size`; load the state dict
    # ourselves (strict, weights_only) instead of from_pretrained, which prints and can download.
    with contextlib.redirect_stdout(io.StringIO()):
        net = EfficientNet.from_name(variant, image_size=size)
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    eval_frozen(net)
    if not all(isinstance(b._swish, nn.ReLU6) for b in net._blocks):
        raise BackboneError(f"{variant} did not build with ReLU6 activations")  # export relies on it
    groups = group_blocks(list(net._blocks))
    names = ["stem"] + [f"blocks{i + 1}" for i in range(len(groups))] + ["head"]
    stages: list[nn.Module] = [_Stem(net._conv_stem, net._bn0, net._swish)]
    stages += [_Blocks(g) for g in groups]
    stages.append(_Head(net._conv_head, net._bn1, net._swish))
    head = net._fc
    if not isinstance(head, nn.Linear):
        raise BackboneError(f"{variant}'s classifier is not a linear layer")  # the source head maps it
    return eval_frozen(StagedNet(names, stages)), head
