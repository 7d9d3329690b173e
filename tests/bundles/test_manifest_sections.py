"""Each strategy types its own manifest sections (`Strategy.manifest_section`, `head_section`): `read_manifest`
validates them, the fixture bundles of an earlier release read into them, and manifest.json keeps its keys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from headstart.bundle import load
from headstart.errors import BundleError
from headstart.manifest import HeadSection, StrategySection, parse_manifest, read_manifest
from headstart.strategies import all_strategies, get_strategy
from headstart.strategies.base import Strategy
from headstart.strategies.baseline import BaselineSection
from headstart.strategies.feature_model import FeatureSection, LinearHeadSection
from headstart.strategies.fields.strategy import FieldsHeadSection, FieldsSection
from headstart.strategies.finetune import FinetunedHeadSection, GradientSection
from headstart.strategies.zero_shot import ZeroShotHeadSection, ZeroShotSection

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bundles"
BUNDLES = sorted(p.parent for p in FIXTURES.glob("*/manifest.json"))
EXPECTED = {  # strategy name -> (strategy section, head section)
    "linear": (FeatureSection, LinearHeadSection),
    "baseline": (BaselineSection, LinearHeadSection),
    "zero-shot": (ZeroShotSection, ZeroShotHeadSection),
    "partial": (GradientSection, FinetunedHeadSection),
    "full": (GradientSection, FinetunedHeadSection),
    "scratch": (GradientSection, FinetunedHeadSection),
    "contrastive": (GradientSection, FinetunedHeadSection),
    "rules": (FieldsSection, FieldsHeadSection),
}


def test_every_registered_strategy_declares_its_sections() -> None:
    declared = {s.name: (s.manifest_section, s.head_section) for s in all_strategies() if s.name != "auto"}
    assert declared == EXPECTED
    for name in ("fields-linear", "fields-baseline"):  # what `linear` and `baseline` are on documents
        assert (get_strategy(name).manifest_section, get_strategy(name).head_section) == EXPECTED["rules"]


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_an_older_bundle_reads_into_its_strategys_sections_with_the_same_entries(bundle: Path) -> None:
    raw = json.loads((bundle / "manifest.json").read_text())
    manifest = read_manifest(bundle)
    strategy, head = EXPECTED[manifest.strategy.name]
    assert type(manifest.strategy) is strategy and type(manifest.head) is head
    written = manifest.to_dict()
    for section, model in (("strategy", strategy), ("head", head)):
        assert {k: v for k, v in written[section].items() if k in raw[section]} == raw[section]
        assert set(written[section]) - set(raw[section]) <= model.written  # only the common fields are added


def test_a_fine_tuned_bundle_reads_its_cut_and_objective_typed() -> None:
    manifest = read_manifest(FIXTURES / "image-regression-partial1")
    section = GradientSection.of(manifest.strategy)
    assert section.cut == 2 and section.objective["name"] == "mse" and section.trainable_stages == ["conv3"]


def _edited(tmp_path: Path, name: str, edit: dict[str, object]) -> Path:
    folder = tmp_path / name
    shutil.copytree(FIXTURES / name, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for key, value in edit.items():
        section, _, field = key.partition(".")
        if value is None:
            del manifest[section][field]
        else:
            manifest[section][field] = value
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("text-classification-partial1", {"strategy.cut": None}, "strategy: cut: Field required"),
        ("text-classification-partial1", {"strategy.cut": "two"}, "strategy: cut: Input should be a valid integer"),
        ("text-classification-linear", {"head.C": "strong"}, "head: C: Input should be a valid number"),
        ("text-classification-zero-shot", {"head.label_texts": ["a"]}, "head: label_texts: Input should be"),
    ],
)
def test_a_strategys_own_entries_are_checked_before_loading(
    tmp_path: Path, name: str, edit: dict[str, object], message: str
) -> None:
    folder = _edited(tmp_path, name, edit)
    with pytest.raises(BundleError, match=message) as caught:
        load(folder)
    assert caught.value.exit_code == 5


def test_entries_a_newer_headstart_adds_are_kept() -> None:
    raw = json.loads((FIXTURES / "text-classification-linear" / "manifest.json").read_text())
    raw["strategy"]["newer"] = {"x": 1}
    raw["head"]["C"] = 2  # a whole number is a valid C
    manifest = parse_manifest(raw)
    assert manifest.to_dict()["strategy"]["newer"] == {"x": 1} and LinearHeadSection.of(manifest.head).C == 2.0


def test_a_new_strategy_class_declares_its_sections_by_naming_itself() -> None:
    class RowsSection(StrategySection):
        rows: int

    class RowsHead(HeadSection):
        width: float

    class RowsStrategy(Strategy):
        name = "rows-for-a-test"
        manifest_section = RowsSection
        head_section = RowsHead

        def fit(self, inputs):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def load(self, manifest, tensors, backbone):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    raw = json.loads((FIXTURES / "text-classification-linear" / "manifest.json").read_text())
    raw["strategy"] = {"name": "rows-for-a-test", "rows": 3}
    raw["head"] = {"type": "rows", "width": 0.5}
    manifest = parse_manifest(raw)
    assert isinstance(manifest.strategy, RowsSection) and manifest.strategy.rows == 3
    assert isinstance(manifest.head, RowsHead) and manifest.head.width == 0.5
    raw["strategy"] = {"name": "rows-for-a-test"}
    with pytest.raises(BundleError, match="strategy: rows: Field required"):
        parse_manifest(raw)
    assert get_strategy("linear").manifest_section is FeatureSection  # the built-ins are untouched
