"""Zero-shot on images with an image-text model: label prompts embedded by its text tower, matched to pictures.

A tiny random CLIP has no idea what "red" looks like, so the test first aligns its two projections on solid
colours and colour names (a few hundred steps on 2 x 32 x 16 weights). The mechanics are what is proven:
real accuracy needs real weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import headstart
from headstart.backbones import get_backbone
from headstart.backbones.hf_clip import PROMPT_TEMPLATES
from tests.backbones.tiny_hf import COLOURS, save_tiny_clip

RGB = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 40)}


def solid(colour: str, rng: np.random.Generator, size: int = 40) -> Image.Image:
    pixels = np.clip(np.array(RGB[colour]) + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def align(folder: Path, steps: int = 300) -> None:
    """Train only the two projections of the CLIP in `folder` so colour pictures match their colour's prompts."""
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(folder)  # eval mode: nothing random in the steps below
    tokenizer, processor = AutoTokenizer.from_pretrained(folder), AutoImageProcessor.from_pretrained(folder)
    rng = np.random.default_rng(0)
    pictures = [solid(c, rng) for c in COLOURS for _ in range(4)]
    targets = torch.tensor([i for i in range(len(COLOURS)) for _ in range(4)])
    pixels = torch.from_numpy(np.asarray(processor(pictures, return_tensors="np")["pixel_values"]))
    prompts = [t.format(c) for t in PROMPT_TEMPLATES for c in COLOURS]
    text = tokenizer(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():  # the towers stay as they are: their pooled outputs are computed once
        seen = model.vision_model(pixel_values=pixels).pooler_output
        read = model.text_model(input_ids=text["input_ids"], attention_mask=text["attention_mask"]).pooler_output
    trained = [*model.visual_projection.parameters(), *model.text_projection.parameters()]
    optimiser = torch.optim.Adam(trained, lr=0.02)
    scale = model.logit_scale.detach().exp()
    for _ in range(steps):
        images = torch.nn.functional.normalize(model.visual_projection(seen), dim=-1)
        texts = torch.nn.functional.normalize(model.text_projection(read), dim=-1)
        logits = (scale * images @ texts.T).reshape(len(pictures), len(PROMPT_TEMPLATES), len(COLOURS)).mean(dim=1)
        loss = torch.nn.functional.cross_entropy(logits, targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.save_pretrained(folder)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = save_tiny_clip(tmp_path_factory.mktemp("clip") / "aligned")
    align(folder)
    return folder


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("colours") / "pictures"
    rng = np.random.default_rng(1)
    for colour in COLOURS:
        (root / colour).mkdir(parents=True)
        for n in range(6):
            solid(colour, rng, size=int(rng.integers(32, 64))).save(root / colour / f"{n}.png")
    return root


def test_labels_are_matched_to_pictures_through_the_text_tower(
    clip_folder: Path, colours: Path, tmp_path: Path
) -> None:
    result = headstart.fit(
        str(colours), backbone=f"hf:{clip_folder}", strategy="zero-shot", out=str(tmp_path / "zs"), progress=False
    )
    assert result.metrics["accuracy"] == 1.0
    manifest = json.loads((Path(result.bundle) / "manifest.json").read_text())
    assert manifest["strategy"]["mode"] == "image-text"
    assert manifest["strategy"]["prompts"]["red"] == [t.format("red") for t in PROMPT_TEMPLATES]
    assert manifest["head"]["kind"] == "label-similarity"
    backbone = get_backbone(f"hf:{clip_folder}")
    assert manifest["head"]["temperature"] == pytest.approx(backbone.text_encoder.temperature)
    predictor = headstart.load(result.bundle)
    pictures = sorted(str(p) for p in (colours / "yellow").iterdir())[:2]
    assert predictor.predict(pictures) == ["yellow", "yellow"]


def test_prompt_templates_are_an_option_recorded_with_the_prompts(
    clip_folder: Path, colours: Path, tmp_path: Path
) -> None:
    """--prompt-template replaces the default templates in zero-shot and in linear's text prior."""
    mine = ["a picture of a {}.", "an image of an {}."]
    result = headstart.fit(
        str(colours), backbone=f"hf:{clip_folder}", strategy="zero-shot", prompt_templates=mine,
        out=str(tmp_path / "zs"), progress=False,
    )  # fmt: skip
    manifest = json.loads((Path(result.bundle) / "manifest.json").read_text())
    assert manifest["strategy"]["prompt_templates"] == mine and manifest["config"]["prompt_templates"] == mine
    assert manifest["strategy"]["prompts"]["blue"] == ["a picture of a blue.", "an image of an blue."]
    assert result.metrics["accuracy"] == 1.0
    default = headstart.load(headstart.fit(
        str(colours), backbone=f"hf:{clip_folder}", strategy="zero-shot", out=str(tmp_path / "d"), progress=False
    ).bundle)  # fmt: skip
    picture = [sorted(str(p) for p in (colours / "red").iterdir())[0]]
    assert not np.allclose(headstart.load(result.bundle).predict_proba(picture), default.predict_proba(picture))
    linear = headstart.fit(
        str(colours), backbone=f"hf:{clip_folder}", strategy="linear", labels_per_class=1, prompt_templates=mine[0],
        out=str(tmp_path / "lin"), progress=False,
    )  # fmt: skip
    prior = json.loads((Path(linear.bundle) / "manifest.json").read_text())["strategy"]["text_prior"]
    assert prior["prompt_templates"] == mine[:1] and prior["prompts"]["red"] == ["a picture of a red."]


def test_a_permuted_label_text_moves_the_prediction(clip_folder: Path, colours: Path, tmp_path: Path) -> None:
    """Descriptions are embedded as written: calling the red pictures 'blue' makes them predicted as that label."""
    described = tmp_path / "descriptions.json"
    described.write_text(json.dumps({"red": "a photo of a blue .", "blue": "a photo of a red ."}))
    result = headstart.fit(
        str(colours), backbone=f"hf:{clip_folder}", strategy="zero-shot", label_descriptions=str(described),
        out=str(tmp_path / "zs"), progress=False,
    )  # fmt: skip
    predictor = headstart.load(result.bundle)
    red = sorted(str(p) for p in (colours / "red").iterdir())[:3]
    assert predictor.predict(red) == ["blue"] * 3


def test_an_image_model_without_a_text_tower_maps_labels_onto_its_source_head(tmp_path: Path, colours: Path) -> None:
    """A checkpoint's classifier (`id2label`) is the ImageNet-style zero-shot: "red" matches its class "red fox"."""
    from tests.backbones.tiny_hf import save_tiny

    folder = save_tiny("vit", tmp_path / "vit")
    assert get_backbone(f"hf:{folder}").text_encoder is None
    result = headstart.fit(
        str(colours), backbone=f"hf:{folder}", strategy="zero-shot", text_backbone="test-text",
        out=str(tmp_path / "m"), progress=False,
    )  # fmt: skip
    manifest = json.loads((Path(result.bundle) / "manifest.json").read_text())
    assert manifest["strategy"]["mode"] == "source-mapping"
    assert [m["class"] for m in manifest["head"]["mapping"]["red"]] == ["red fox"]


def test_linear_at_one_label_per_class_adds_the_label_prompts_as_examples(
    clip_folder: Path, colours: Path, tmp_path: Path
) -> None:
    """The text prior: each class's prompt embedding is one more training example when labels are very few."""
    result = headstart.fit(
        str(colours), backbone=f"hf:{clip_folder}", strategy="linear", labels_per_class=1,
        out=str(tmp_path / "lin"), progress=False,
    )  # fmt: skip
    strategy = json.loads((Path(result.bundle) / "manifest.json").read_text())["strategy"]
    assert sorted(strategy["text_prior"]["prompts"]) == sorted(COLOURS) and strategy["text_prior"]["used"]
    assert any("added as one training example per class (text prior" in note for note in result.notes)
    assert result.metrics["accuracy"] == 1.0


def test_the_text_prior_is_left_out_when_the_prompts_do_not_match_the_labelled_pictures(
    colours: Path, tmp_path: Path
) -> None:
    """An unaligned text tower's prompts classify the labelled pictures no better than chance: no prior, a note."""
    raw = save_tiny_clip(tmp_path / "raw")  # towers never trained together
    result = headstart.fit(
        str(colours), backbone=f"hf:{raw}", strategy="linear", labels_per_class=1, out=str(tmp_path / "lin"),
        progress=False,
    )  # fmt: skip
    prior = json.loads((Path(result.bundle) / "manifest.json").read_text())["strategy"]["text_prior"]
    assert prior["used"] is False and prior["p_value"] >= 0.1
    assert any(note.startswith("linear: text prior not used: the label prompts classify") for note in result.notes)


def test_the_prior_is_used_only_when_the_prompts_classify_the_labelled_items_better_than_chance(
    clip_folder: Path,
) -> None:
    from headstart.strategies.text_prior import text_prior

    backbone = get_backbone(f"hf:{clip_folder}")
    colours = np.array(sorted(COLOURS))
    rows = text_prior(backbone, np.ones((4, backbone.feature_dim)), colours)
    assert rows is not None
    matching = text_prior(backbone, rows.rows, colours)  # each labelled item is its own prompt: 4 of 4 right
    assert matching is not None and matching.correct == 4 and matching.aligned
    shuffled = text_prior(backbone, rows.rows[[1, 2, 3, 0]], colours)  # every item looks like another colour
    assert shuffled is not None and shuffled.correct == 0 and not shuffled.aligned
    assert shuffled.p_value == pytest.approx(1.0) and matching.p_value == pytest.approx(0.25**4)


def test_the_text_prior_rows_are_the_zero_shot_classifier(clip_folder: Path) -> None:
    from headstart.strategies.text_prior import MAX_PER_CLASS, text_prior
    from headstart.strategies.zero_shot import image_text_label_vectors

    backbone = get_backbone(f"hf:{clip_folder}")
    features = np.ones((2, backbone.feature_dim), np.float32) * 3.0
    prior = text_prior(backbone, features, np.array(["red", "blue"]))
    assert prior is not None and list(prior.labels) == ["blue", "red"]
    unit = image_text_label_vectors(
        backbone.text_encoder, [[t.format(c) for t in PROMPT_TEMPLATES] for c in ("blue", "red")]
    )
    np.testing.assert_allclose(prior.rows / np.linalg.norm(prior.rows, axis=1, keepdims=True), unit, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(prior.rows, axis=1), np.linalg.norm(features[0]), rtol=1e-5)
    enough = np.array(["red", "blue"] * (MAX_PER_CLASS + 1))
    assert text_prior(backbone, np.ones((len(enough), backbone.feature_dim)), enough) is None
    assert text_prior(get_backbone("test-cnn"), features, np.array(["red", "blue"])) is None
