"""A fields bundle as an export folder: the learned line tagger as ONNX (line features -> line class
probabilities), the frozen text encoder as ONNX when the extractor embeds lines, the OCR models of the installed
`rapidocr-onnxruntime` wheel with the bundle's OCR settings, the extractor's arrays (npz) and settings (JSON), a
JSON sidecar and a card (README.md) saying how to chain them. Every ONNX file is checked against the bundle on
generated documents before the folder is written; the rules extractor, with nothing learned, is refused.

What stays in Python (not in ONNX): reading the lines' layout and flags, TF-IDF, the regex date/amount parsers
and the span decoding; the card names the headstart functions that do them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.backbones.base import Backbone
from headstart.data.documents import OcrLine
from headstart.errors import BackboneError, StrategyError
from headstart.ocr import OCR_PACKAGE, OcrSettings
from headstart.runtime import OPSET, atomic_onnx, check_export_parity, export_onnx, open_session
from headstart.strategies.fields.extractor import FieldExtractor, LineEmbedder
from headstart.strategies.fields.flags import FLAG_NAMES
from headstart.strategies.fields.layout import LAYOUT_NAMES
from headstart.strategies.fields.line_features import describe, line_matrix
from headstart.strategies.fields.line_text import EmbeddedLines, TfidfLines
from headstart.strategies.fields.saved import TFIDF_SETTINGS, LinearScorer
from headstart.strategies.fields.tagged import TaggedExtractor
from headstart.tasks.fields import FIELDS

if TYPE_CHECKING:
    import onnx

SIDECAR = "fields-export.json"
SIDECAR_FORMAT = "headstart-fields-export"
TAGGER_FILE = "tagger.onnx"
ENCODER_FILE = "encoder.onnx"
TOKENIZER_DIR = "encoder.tokenizer"
STATE_FILE = "extractor.npz"
SETTINGS_FILE = "extractor.json"
OCR_DIR = "ocr"
CHARACTERS_FILE = "ocr/characters.txt"
CARD = "README.md"
TAGGER_ATOL = 1e-5  # float32 ONNX vs the extractor's float64 probabilities
ENCODER_ATOL = 1e-3  # as the classification export: a transformer in float32 through two runtimes
TAGGER_INPUT, TAGGER_OUTPUT = "line_features", "line_probabilities"
OCR_MODELS = {"detection": "det", "angle": "cls", "recognition": "rec"}  # part -> RapidOCR config section

CHECK_DOCUMENTS: tuple[tuple[str, ...], ...] = (
    ("ACME TRADING SDN BHD", "NO 12, JALAN MAJU 3", "TEL: 03-1234 5678", "DATE: 25/12/2018 11:41", "TOTAL RM 45.60"),
    ("KEDAI MURNI", "LOT 7 TAMAN SERI", "INVOICE 0042", "2019-03-01", "ITEM A 2 x 3.50 7.00", "ROUNDING 0.01"),
    ("Thank you, please come again", "GST ID: 000123456789", "CASH 50.00", "CHANGE 4.40", ""),
    ("single line 1.00",),
)


@dataclass
class FolderExport:
    """What a fields export wrote (relative to `folder`) and how closely each ONNX file matches the bundle."""

    folder: Path
    files: list[str]
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)  # part -> max_abs_diff, n, atol

    @property
    def sidecar(self) -> Path:
        return self.folder / SIDECAR


@dataclass(frozen=True)
class EncoderExport:
    """A line encoder other than the backbone's frozen stages (a fine-tuned one): the torch module to export
    (tokenized lines -> one embedding per line, as the bundle's LineEmbedder) and what the sidecar says of it."""

    module: Any
    described: dict[str, Any]


def check_documents() -> list[list[OcrLine]]:
    """Generated documents (a column of lines, one line to the right) exercising every feature group."""
    documents = []
    for texts in CHECK_DOCUMENTS:
        lines = []
        for i, text in enumerate(texts):
            x, y = (220.0, 10.0 + 20 * (i - 1)) if i == len(texts) - 1 and i > 0 else (10.0, 10.0 + 20 * i)
            lines.append(OcrLine(text, (x, y, x + 190, y, x + 190, y + 16, x, y + 16)))
        documents.append(lines)
    return documents


def export_fields(
    extractor: FieldExtractor,
    *,
    folder: Path,
    ocr: OcrSettings,
    backbone: Backbone | None,
    embed: LineEmbedder | None,
    bundle_info: dict[str, Any],
    encoder: EncoderExport | None = None,
) -> FolderExport:
    """Write the export folder for a fitted extractor (see the module docstring); refuses extractors with no
    learned linear tagger. The line encoder is `encoder` when given (a fine-tuned one), else the backbone's frozen
    stages. `folder` is replaced; the caller checks it may be."""
    if not isinstance(extractor, TaggedExtractor) or extractor.scorer is None:
        raise StrategyError(
            f"the {extractor.kind!r} field extractor has no learned part to export as ONNX",
            expected="a bundle fitted with --strategy linear or --strategy baseline (a learned line tagger)",
            fix="serve this bundle with `headstart serve`, or refit with --strategy baseline to export it",
        )
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / OCR_DIR).mkdir(parents=True)
    try:
        documents = check_documents()
        result = FolderExport(folder=folder, files=[])
        encoded_by = None
        if isinstance(extractor.text, EmbeddedLines):
            if backbone is None or embed is None:
                raise StrategyError("the linear field extractor embeds lines, but the bundle has no backbone",
                                    fix="the bundle was edited: train it again with `headstart fit`")  # fmt: skip
            texts = [line.text.strip() for doc in documents for line in doc if line.text.strip()]
            result.checks["encoder"] = _export_encoder(backbone, embed, texts, tmp, encoder)
            result.files += [ENCODER_FILE, *_tokenizer(backbone, tmp)]
            encoded_by = backbone
        result.checks["tagger"] = _export_tagger(extractor, embed, documents, tmp / TAGGER_FILE)
        result.files.append(TAGGER_FILE)
        result.files += _write_state(extractor, tmp)
        ocr_files = _copy_ocr_models(tmp)
        result.files += ocr_files.values()
        sidecar = _sidecar(extractor, ocr, encoded_by, result, ocr_files, bundle_info)
        if sidecar["encoder"] is not None and encoder is not None:
            sidecar["encoder"].update(encoder.described)
        (tmp / SIDECAR).write_text(json.dumps(sidecar, indent=2, default=str) + "\n", encoding="utf-8")
        result.files.append(SIDECAR)
        (tmp / CARD).write_text(card(sidecar), encoding="utf-8")
        result.files.append(CARD)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return result


# -- the tagger -------------------------------------------------------------------------------------------------


def tagger_graph(scorer: LinearScorer, n_features: int, n_classes: int) -> onnx.ModelProto:
    """MatMul + Add + Softmax over the scorer's classes, then a 0/1 MatMul placing them in the `n_classes`
    columns (a class the tagger never saw gets 0). Two classes (one decision column s) become logits [0, s]: the
    softmax of those is scikit-learn's [1 - sigmoid(s), sigmoid(s)]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    coef, intercept = scorer.coef, scorer.intercept
    if len(scorer.classes) == 2:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    elif len(scorer.classes) == 1:
        coef, intercept = np.zeros((1, n_features)), np.zeros(1)
    placement = np.zeros((len(scorer.classes), n_classes), dtype=np.float32)
    for row, name in enumerate(scorer.classes):
        placement[row, int(name)] = 1.0
    weights = [
        numpy_helper.from_array(np.ascontiguousarray(coef.T, dtype=np.float32), "weight"),
        numpy_helper.from_array(intercept.astype(np.float32), "bias"),
        numpy_helper.from_array(placement, "placement"),
    ]
    nodes = [
        helper.make_node("MatMul", [TAGGER_INPUT, "weight"], ["scores"]),
        helper.make_node("Add", ["scores", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["class_probabilities"], axis=-1),
        helper.make_node("MatMul", ["class_probabilities", "placement"], [TAGGER_OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "headstart-fields-tagger",
        [helper.make_tensor_value_info(TAGGER_INPUT, TensorProto.FLOAT, ["lines", n_features])],
        [helper.make_tensor_value_info(TAGGER_OUTPUT, TensorProto.FLOAT, ["lines", n_classes])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="headstart")
    model.ir_version = 8  # readable by every onnxruntime that knows opset 18
    onnx.checker.check_model(model)
    return model


def _export_tagger(
    extractor: TaggedExtractor, embed: LineEmbedder | None, documents: Sequence[Sequence[OcrLine]], path: Path
) -> dict[str, Any]:
    assert extractor.scorer is not None
    import onnx

    x = line_features(extractor, documents, embed)
    want = np.vstack(extractor.line_probabilities(documents, embed))
    n_classes = len(extractor.field_names) + 1
    with atomic_onnx(path) as tmp:
        onnx.save(tagger_graph(extractor.scorer, x.shape[1], n_classes), str(tmp))
        got = open_session(tmp, threads=1).run(None, {TAGGER_INPUT: x})[0]
        diff = check_export_parity("line tagger", got, want, TAGGER_ATOL, f"{len(documents)} generated documents")
    return {"max_abs_diff": diff, "n_documents": len(documents), "n_lines": int(x.shape[0]), "atol": TAGGER_ATOL,
            "reference": "TaggedExtractor.line_probabilities", "n_features": int(x.shape[1])}  # fmt: skip


def line_features(
    extractor: TaggedExtractor, documents: Sequence[Sequence[OcrLine]], embed: LineEmbedder | None
) -> np.ndarray:
    """The tagger's ONNX input for `documents`: the extractor's own line matrix, dense float32."""
    x = line_matrix([describe(lines) for lines in documents], extractor.text, embed)
    return np.ascontiguousarray(x if isinstance(x, np.ndarray) else x.toarray(), dtype=np.float32)


# -- the encoder ------------------------------------------------------------------------------------------------


def _export_encoder(
    backbone: Backbone, embed: LineEmbedder, texts: list[str], folder: Path, encoder: EncoderExport | None
) -> dict[str, Any]:
    """The line encoder as ONNX, checked on `texts` against the bundle's line embedder: `encoder`'s module, or
    the backbone's frozen stages + pool."""
    from headstart.runtime_modules import Prefix  # torch, loaded when a model is exported

    module = encoder.module if encoder is not None else Prefix(backbone, len(backbone.stages), True)
    path = folder / ENCODER_FILE
    with atomic_onnx(path) as tmp:
        export_onnx(module.eval(), backbone, tmp, "embeddings", {0: "lines"})
        inputs = backbone.preprocess(list(texts))
        session = open_session(tmp, threads=1)
        got = session.run(None, {n: np.ascontiguousarray(inputs[n]) for n in backbone.input_names})[0]
        want = np.asarray(embed(texts), dtype=np.float32)
        diff = check_export_parity("text encoder", got, want, ENCODER_ATOL, f"{len(texts)} generated lines")
    return {"max_abs_diff": diff, "n_lines": len(texts), "atol": ENCODER_ATOL, "reference": "the bundle's LineEmbedder"}


def _tokenizer(backbone: Backbone, folder: Path) -> list[str]:
    """The encoder's tokenizer files (another runtime loads them with transformers.AutoTokenizer)."""
    target = folder / TOKENIZER_DIR
    target.mkdir()
    if not backbone.save_preprocessor(target):
        target.rmdir()
        return []
    return [f"{TOKENIZER_DIR}/{p.name}" for p in sorted(target.iterdir())]


# -- arrays, OCR ------------------------------------------------------------------------------------------------


def _write_state(extractor: FieldExtractor, folder: Path) -> list[str]:
    """The extractor's arrays (npz: no pickle, `np.load(..., allow_pickle=False)`) and settings (JSON)."""
    arrays, settings = extractor.state()
    named: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}  # Any: savez's own keywords are typed
    np.savez(folder / STATE_FILE, **named)
    (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return [STATE_FILE, SETTINGS_FILE]


def ocr_package() -> tuple[Path, dict[str, Any], str]:
    """The installed OCR package's folder, its settings (config.yaml) and version; BackboneError when missing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        import rapidocr_onnxruntime
        import yaml

        root = Path(rapidocr_onnxruntime.__file__).parent
        config = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
        return root, config, version(OCR_PACKAGE)
    except (ImportError, OSError, PackageNotFoundError):
        raise BackboneError(
            f"the OCR models cannot be exported: the {OCR_PACKAGE} package is not installed",
            expected="its wheel, which ships the PP-OCRv4 detection and recognition ONNX models",
            fix="pip install 'headstart[documents]', then export again",
        ) from None


def _copy_ocr_models(folder: Path) -> dict[str, str]:
    """The detection, angle and recognition models into `folder/ocr/`, and the recogniser's characters:
    part -> file relative to `folder`."""
    root, config, _ = ocr_package()
    files = {}
    for part, section in OCR_MODELS.items():
        source = root / config[section.capitalize()]["model_path"]
        shutil.copy2(source, folder / OCR_DIR / source.name)
        files[part] = f"{OCR_DIR}/{source.name}"
    meta = open_session(folder / files["recognition"], threads=1).get_modelmeta().custom_metadata_map
    characters = str(meta.get("character", "")).splitlines()
    if characters:  # the CTC classes are: blank, these characters in order, then a space
        (folder / CHARACTERS_FILE).write_text("\n".join(characters) + "\n", encoding="utf-8")
        files["characters"] = CHARACTERS_FILE
    return files


# -- sidecar and card -------------------------------------------------------------------------------------------


def feature_groups(extractor: TaggedExtractor, n_features: int) -> list[dict[str, Any]]:
    """The tagger input's column groups, in order, with their widths and where headstart computes them."""
    n_layout, n_flags = len(LAYOUT_NAMES), len(FLAG_NAMES)
    text_width = (n_features - n_layout - n_flags - 4 * (n_flags + 1)) // 4
    if isinstance(extractor.text, TfidfLines):
        text = "TF-IDF of the line (every digit -> 0, then char_wb 2-4-grams: vocabulary `text.vocabulary` in "
        text += f"{SETTINGS_FILE}, idf `tfidf.idf` in {STATE_FILE}; headstart: line_text.TfidfLines.transform)"
    else:
        text = f"the encoder's embedding of the stripped line ({ENCODER_FILE}; a blank line is all zeros)"
    groups = [
        ("layout", n_layout, "line geometry on its page: " + ", ".join(LAYOUT_NAMES),
         "headstart.strategies.fields.layout.layout_features"),
        ("flags", n_flags, "typed cues of the line's text: " + ", ".join(FLAG_NAMES),
         "headstart.strategies.fields.flags.flag_features"),
    ]  # fmt: skip
    for near in ("left", "above", "right", "below"):
        groups.append((f"{near}.flags", n_flags + 1, f"the {near} neighbour's flags, then 1 if it exists (else 0s)",
                       "headstart.strategies.fields.layout.neighbours + line_features._pick"))  # fmt: skip
    groups.append(("text", text_width, text, "headstart.strategies.fields.line_features.line_matrix"))
    for near in ("left", "above", "right"):
        groups.append((f"{near}.text", text_width, f"the {near} neighbour's text columns (0s when it has none)",
                       "headstart.strategies.fields.line_features.line_matrix"))  # fmt: skip
    out, start = [], 0
    for name, width, what, where in groups:
        out.append({"name": name, "columns": [start, start + width], "what": what, "headstart": where})
        start += width
    return out


def _sidecar(
    extractor: TaggedExtractor,
    ocr: OcrSettings,
    encoder: Backbone | None,
    result: FolderExport,
    ocr_files: dict[str, str],
    bundle_info: dict[str, Any],
) -> dict[str, Any]:
    _, package_config, package_version = ocr_package()
    n_features = int(result.checks["tagger"]["n_features"])
    tokenizer = [f for f in result.files if f.startswith(TOKENIZER_DIR)]
    return {
        "format": SIDECAR_FORMAT,
        "format_version": 1,
        "task": FIELDS.name,
        "fields": extractor.field_names,
        "line_classes": ["none", *extractor.field_names],
        "field_kinds": dict(zip(extractor.field_names, extractor.kinds, strict=True)),
        "extractor": extractor.kind,
        "ocr": {
            "package": OCR_PACKAGE,
            "version": package_version,
            "models": {part: ocr_files[part] for part in OCR_MODELS},
            "characters": ocr_files.get("characters", "in the recognition model's metadata"),
            "settings": asdict(ocr),
            "package_settings": {k: package_config[k] for k in ("Det", "Cls", "Rec") if k in package_config},
            "headstart": "headstart.ocr.ocr_page (headstart.ocr.engine.OcrEngine.read: detection, page "
            "orientation, recognition with SpacedDecoder; lines top to bottom)",
        },
        "encoder": None if encoder is None else {
            "onnx_file": ENCODER_FILE,
            "backbone": encoder.name,
            "weights_sha256": encoder.weights_sha256,
            "inputs": list(encoder.input_names),
            "output": {"name": "embeddings", "shape": ["lines", encoder.feature_dim]},
            "preprocessing": dict(encoder.preprocess_config()),
            "tokenizer_dir": TOKENIZER_DIR if tokenizer else None,
        },  # fmt: skip
        "tagger": {
            "onnx_file": TAGGER_FILE,
            "input": {"name": TAGGER_INPUT, "dtype": "float32", "shape": ["lines", n_features]},
            "output": {"name": TAGGER_OUTPUT, "dtype": "float32", "shape": ["lines", len(extractor.field_names) + 1]},
            "feature_groups": feature_groups(extractor, n_features),
        },
        "tfidf": None if not isinstance(extractor.text, TfidfLines) else {
            "settings": {k: (list(v) if isinstance(v, tuple) else str(v) if k == "dtype" else v)
                         for k, v in TFIDF_SETTINGS.items()},
            "vocabulary": f"{SETTINGS_FILE}: text.vocabulary (n-gram -> column)",
            "idf": f"{STATE_FILE}: tfidf.idf",
            "before": "every digit replaced by 0 (headstart.strategies.fields.line_text.tfidf_text)",
        },  # fmt: skip
        "state": {"arrays": STATE_FILE, "settings": SETTINGS_FILE},
        "not_in_onnx": NOT_IN_ONNX,
        "parity": result.checks,
        "files": sorted([*result.files, SIDECAR, CARD]),
        "bundle": bundle_info,
        "opset": OPSET,
    }


NOT_IN_ONNX = {
    "line reading order and neighbours": "headstart.strategies.fields.layout (same_row, neighbours)",
    "line flags (regex dates, amounts, currency...)": "headstart.strategies.fields.flags.text_flags",
    "date and amount parsers": "headstart.data.field_align (dates_in, parse_date, amounts_in, parse_amount)",
    "typed candidates (dates, amounts) of a document": "headstart.strategies.fields.candidates.candidates",
    "span decoding (one value per field, typed fields first-best, text fields joined in reading order)":
        "headstart.strategies.fields.decode (TypedDecoder.decode, TextDecoder.decode), in the order of "
        "headstart.strategies.fields.tagged.TaggedExtractor.extract",
}  # fmt: skip


def card(sidecar: dict[str, Any]) -> str:
    """The README.md of the export folder: what each file is and how to chain them."""
    tagger, encoder, ocr = sidecar["tagger"], sidecar["encoder"], sidecar["ocr"]
    lines = [
        f"# headstart fields export ({sidecar['extractor']} extractor)",
        "",
        f"Fields: {', '.join(sidecar['fields'])}. Line classes (tagger output columns): "
        f"{', '.join(sidecar['line_classes'])}.",
        "",
        "## Files",
        "",
    ]
    described = {
        TAGGER_FILE: f"the line tagger: `{TAGGER_INPUT}` (lines, {tagger['input']['shape'][1]}) float32 -> "
        f"`{TAGGER_OUTPUT}` (lines, {len(sidecar['line_classes'])})",
        ENCODER_FILE: ("the text encoder, its last layers fine-tuned on the training lines" if encoder and
                       encoder.get("fine_tuned") else "the frozen text encoder")
        + " (tokenized lines -> one embedding per line)",
        STATE_FILE: "the extractor's arrays (numpy npz, no pickle: `np.load(path, allow_pickle=False)`)",
        SETTINGS_FILE: "the extractor's settings: fields, kinds, tagger classes, TF-IDF vocabulary, decoders",
        SIDECAR: "everything below, machine-readable (feature columns, OCR settings, parity)",
        CARD: "this card",
        CHARACTERS_FILE: "the recogniser's characters (CTC classes: blank, these in order, then space)",
    }
    for name in sidecar["files"]:
        what = described.get(name)
        if what is None and name.startswith(TOKENIZER_DIR):
            what = "tokenizer file (`transformers.AutoTokenizer.from_pretrained` on the folder)"
        if what is None and name.startswith(OCR_DIR):
            part = next((p for p, f in ocr["models"].items() if f == name), "OCR")
            what = f"OCR {part} model (from {ocr['package']} {ocr['version']})"
        lines.append(f"- `{name}`: {what}")
    step = 1
    lines += ["", "## How to chain them", ""]
    settings = ", ".join(f"{k}={v}" for k, v in ocr["settings"].items())
    lines.append(f"{step}. **OCR -> lines.** Run RapidOCR's models ({ocr['package']} {ocr['version']}): "
                 f"`{ocr['models']['detection']}` finds the text boxes, `{ocr['models']['angle']}` says which lines "
                 f"(and so which pages) are upside down or on their side, `{ocr['models']['recognition']}` reads "
                 "each box; the recogniser's outputs are decoded greedily, with a space inserted where the space "
                 "symbol's probability reaches `space_threshold` between two characters, and lines scored below "
                 f"`text_score` are dropped. The bundle's OCR settings (they override the package's defaults, "
                 f"`ocr.package_settings` in the sidecar): {settings}. headstart: `{ocr['headstart']}`. "
                 "Documents whose OCR lines are given skip this step.")  # fmt: skip
    step += 1
    lines.append(f"{step}. **Line features** (Python, not ONNX): one row per line, columns in this order:")
    for group in tagger["feature_groups"]:
        lines.append(f"   - `{group['name']}` columns {group['columns'][0]}-{group['columns'][1] - 1}: {group['what']} "
                     f"(`{group['headstart']}`)")  # fmt: skip
    if encoder is not None:
        step += 1
        tokenizer = encoder["tokenizer_dir"] or "the sidecar's encoder.preprocessing"
        lines.append(f"{step}. **Encoder.** Tokenize each stripped line (`{tokenizer}`), run "
                     f"`{ENCODER_FILE}` (inputs {', '.join(encoder['inputs'])}) -> `embeddings` (lines, "
                     f"{encoder['output']['shape'][1]}); a blank line's row is zeros. These rows fill the `text` "
                     f"columns; the neighbours' rows fill `left.text`, `above.text`, `right.text`.")  # fmt: skip
    step += 1
    lines.append(f"{step}. **Tagger.** Run `{TAGGER_FILE}` on the whole matrix -> each line's probability of "
                 "each class (column 0: no field, then the fields in order).")  # fmt: skip
    step += 1
    lines.append(f"{step}. **Span decoding** (Python, not ONNX): one value per field from the column of its "
                 "class, with the decoders' arrays and settings in the state files.")  # fmt: skip
    lines += ["", "## Not in ONNX (headstart functions that do it)", ""]
    lines += [f"- {what}: `{where}`" for what, where in sidecar["not_in_onnx"].items()]
    lines += ["", "## Parity (checked before writing, on generated documents)", ""]
    for part, check in sidecar["parity"].items():
        lines.append(f"- {part}: max |diff| {check['max_abs_diff']:.2e} (limit {check['atol']:g}) vs "
                     f"{check['reference']}")  # fmt: skip
    return "\n".join(lines) + "\n"
