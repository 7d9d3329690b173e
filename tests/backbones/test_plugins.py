"""Plugins: a package's entry points add a backbone, a modality and a task kind (a dist-info on sys.path)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import headstart
from headstart import plugins
from headstart.backbones import registry
from headstart.cli.main import app
from headstart.data.modalities import get_modality, unregister_modality
from headstart.tasks import get_task
from headstart.tasks.base import unregister_task

PLUGIN = """
import numpy as np
import torch
from torch import nn

import headstart
from headstart.backbones.staged import ImageStagedBackbone, StagedNet, describe, eval_frozen
from headstart.data.modalities import Modality
from headstart.tasks.kinds import Classification

INFO = headstart.BackboneInfo(name="acme-cnn", modality="image", params=224, feature_dim=8, input_size=16,
                              license="MIT", description="Acme's tiny CNN", source="acme-headstart 0.1")


class Conv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)

    def forward(self, state):
        return {"feature_map": torch.relu(self.conv(state["image"]))}


class AcmeCNN(ImageStagedBackbone):
    name, feature_dim, input_size, license = "acme-cnn", 8, 16, "MIT"

    def __init__(self) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self._net = eval_frozen(StagedNet(["conv"], [Conv()]))
        self._info = INFO

    def preprocess(self, images):
        rows = [np.asarray(im.convert("RGB").resize((16, 16)), np.float32).transpose(2, 0, 1) / 255 for im in images]
        return {"image": np.stack(rows) if rows else np.zeros((0, 3, 16, 16), np.float32)}

    def preprocess_config(self):
        return describe(kind="image", size=16, resize="stretch", scale="0-1", layout="NCHW")


class AcmeVectors(Modality):
    name, noun = "acme-vectors", "row"


class AcmeOrdinal(Classification):
    name = "acme-ordinal"
    description = "ordered levels, from a plugin"
    supports = frozenset()


def register_backbones():
    headstart.register_backbone("acme-cnn", AcmeCNN, INFO)


def register_modality():
    headstart.register_modality(AcmeVectors())


def register_task():
    headstart.register_task(AcmeOrdinal())
"""


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`acme-headstart` 0.1 'installed' on sys.path: a module and its dist-info with entry points."""
    site = tmp_path / "site"
    (site / "acme_headstart-0.1.dist-info").mkdir(parents=True)
    (site / "acme_headstart.py").write_text(PLUGIN)
    (site / "acme_headstart-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-headstart\nVersion: 0.1\n"
    )
    (site / "acme_headstart-0.1.dist-info" / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [headstart.backbones]
            acme-cnn = acme_headstart:register_backbones
            broken = acme_missing_module:register

            [headstart.modalities]
            acme-vectors = acme_headstart:register_modality

            [headstart.tasks]
            acme-ordinal = acme_headstart:register_task
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugins, "_SCANNED", set())
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    yield site
    unregister_modality("acme-vectors")
    unregister_task("acme-ordinal")


def test_a_plugin_backbone_is_listed_and_fits(acme: Path, image_folder: Path, tmp_path: Path) -> None:
    with pytest.warns(plugins.PluginWarning, match="broken.*acme_missing_module"):
        listed = CliRunner().invoke(app, ["models", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.stdout)["backbones"]}
    assert rows["acme-cnn"]["description"] == "Acme's tiny CNN"
    result = headstart.fit(str(image_folder), backbone="acme-cnn", out=str(tmp_path / "m"), progress=False)
    assert headstart.load(result.bundle).backbone.name == "acme-cnn"
    assert plugins.loaded_plugins()["headstart.backbones:acme-cnn"] == "acme_headstart:register_backbones"


def test_a_plugin_backbone_resolves_by_name_before_any_listing(acme: Path) -> None:
    with pytest.warns(plugins.PluginWarning, match="broken"):
        assert registry.get_backbone("acme-cnn").stages == ["conv"]


def test_plugin_modalities_and_task_kinds_register_the_same_way(acme: Path) -> None:
    assert get_modality("acme-vectors").noun == "row"
    assert get_task("acme-ordinal").description == "ordered levels, from a plugin"


def test_an_unknown_name_still_fails_after_the_plugins_are_read(acme: Path) -> None:
    with pytest.warns(plugins.PluginWarning):
        with pytest.raises(
            headstart.errors.BackboneError, match="unknown backbone 'acme-cnm'; did you mean 'acme-cnn'"
        ):
            registry.get_backbone("acme-cnm")
