"""The adversarial cases, generated: malformed inputs x the commands that read them, bad option values, unusable
output paths and corrupt bundles. Each case is one command line with `{name}` placeholders (inputs of `World`,
plus `{out}`: a fresh path, `{out_file}`: an existing file, `{readonly}`: a folder nobody can write) and the exit
code it must end with. The test runs each plain and with --json.
"""

from __future__ import annotations

from dataclasses import dataclass

OK, USAGE, DATA, BACKBONE, BUNDLE = 0, 2, 3, 4, 5


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    out: str | None = None  # the placeholder naming what the command writes: must not be half-written on failure
    xfail: str | None = None

    def __init__(self, id: str, args: str, code: int, out: str | None = None, xfail: str | None = None) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "args", tuple(args.split()))
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "out", out)
        object.__setattr__(self, "xfail", xfail)


# Datasets that no command can learn from or score: (input, exit code) for fit, evaluate, inspect, rank, study,
# expand. Predict reads unlabelled inputs, so some of these are fine for it: see PREDICT_CODES.
UNUSABLE_DATA = {
    "missing": DATA,
    "a_file": DATA,
    "dangling_link": DATA,
    "empty_csv": DATA,
    "blank_lines_csv": DATA,
    "header_only_csv": DATA,
    "no_header_csv": DATA,
    "one_column_csv": DATA,
    "no_label_csv": DATA,
    "nan_labels_csv": DATA,
    "single_class_csv": DATA,
    "huge_cell_csv": DATA,
    "unterminated_quote_csv": DATA,
    "mid_field_quote_csv": DATA,
    "ragged_all_csv": DATA,
    "binary_csv": DATA,
    "nul_csv": DATA,
    "latin1_csv": DATA,
    "utf16_csv": DATA,
    "wrong_separator_tsv": DATA,
    "bad_jsonl": DATA,
    "garbage_parquet": DATA,
    "xlsx": DATA,
    "txt_file": DATA,
    "csv_folder": DATA,
    "image": DATA,
    "empty_folder": DATA,
    "no_images_folder": DATA,
    "loose_images_folder": DATA,
    "one_class_folder": DATA,
    "garbage_images_folder": DATA,
    "empty_files_folder": DATA,
    "bomb_images_folder": DATA,
    "wide_images_folder": DATA,
    "wrong_extension_images": DATA,
    "text_as_png_folder": DATA,
    "image_model": DATA,  # a bundle passed as data
}
# Usable with a skip or a note: the run succeeds and says what it left out.
USABLE_DATA = {
    "ragged_first_row_csv": "texts",
    "bom_crlf_csv": "texts",
    "semicolon_csv": "texts",
    "mixed_good_and_wide_folder": "images",
    "symlink_loop_folder": "images",
}
# Predict takes unlabelled inputs: a table without labels is fine; a folder of bad images is "nothing usable".
PREDICT_CODES = {
    **UNUSABLE_DATA,
    "no_label_csv": OK,
    "nan_labels_csv": OK,
    "single_class_csv": OK,
    "one_column_csv": OK,
    "header_only_csv": DATA,
    "no_header_csv": OK,
    "txt_file": OK,
    "one_class_folder": OK,
    "loose_images_folder": OK,
    "truncated_images_folder": DATA,
    "image": OK,
    "image_model": DATA,
    "wrong_separator_tsv": OK,  # one column named "text,label": unlabelled texts
    "xlsx": DATA,  # not read as the text "data.xlsx"
}


def _model_for(data: str) -> str:
    image_like = data.endswith(("folder", "images", "image", "link")) or data in ("image_model", "a_file", "missing")
    return "image_model" if image_like else "text_model"


def data_cases() -> list[Case]:
    cases: list[Case] = []
    for data, code in UNUSABLE_DATA.items():
        model = _model_for(data)
        cases += [
            Case(f"fit-{data}", f"fit {{{data}}} --backbone {'test-cnn' if model == 'image_model' else 'test-text'} "
                 "--out {out}", code, out="out"),
            Case(f"evaluate-{data}", f"evaluate {{{model}}} {{{data}}}", code),
            Case(f"inspect-{data}", f"inspect {{{data}}}", code),
        ]  # fmt: skip
    for data in ("missing", "empty_csv", "binary_csv", "unterminated_quote_csv", "ragged_all_csv", "single_class_csv",
                 "empty_folder", "garbage_images_folder", "wide_images_folder", "bomb_images_folder", "a_file"):  # fmt: skip
        model = _model_for(data)
        backbone = "test-cnn" if model == "image_model" else "test-text"
        code = USAGE if data == "single_class_csv" else UNUSABLE_DATA[data]  # a new class alone is what expand adds
        cases += [
            Case(f"rank-{data}", f"rank {{{data}}} --backbones {backbone}", UNUSABLE_DATA[data]),
            Case(f"study-{data}", f"study {{{data}}} --backbone {backbone} --strategies linear --budgets 2 --seeds 1 "
                 "--out {out} --no-energy", UNUSABLE_DATA[data], out="out"),
            Case(f"expand-{data}", f"expand {{{model}}} {{{data}}} --out {{out}}", code, out="out"),
        ]  # fmt: skip
    cases += [
        Case("expand-single_class_csv-existing", "expand {text_model} {single_class_csv} --out {out}", USAGE,
             out="out"),  # its one class is already in the bundle: nothing to add without --update
        Case("expand-truncated_images_folder", "expand {image_model} {truncated_images_folder} --out {out}", DATA,
             out="out"),  # issue 19 item 10: ValueError 'b' is not in list
        Case("expand-one-class-unreadable", "expand {image_model} {mixed_good_and_wide_folder} --out {out} --update",
             OK, out="out"),
    ]  # fmt: skip
    for data, code in PREDICT_CODES.items():
        model = _model_for(data)
        cases.append(Case(f"predict-{data}", f"predict {{{model}}} {{{data}}}", code))
    for data, good in USABLE_DATA.items():
        backbone = "test-cnn" if good == "images" else "test-text"
        cases += [
            Case(f"fit-{data}", f"fit {{{data}}} --backbone {backbone} --out {{out}}", OK, out="out"),
            Case(f"inspect-{data}", f"inspect {{{data}}}", OK),
        ]
    return cases


def option_cases() -> list[Case]:
    fit = "fit {images} --backbone test-cnn --out {out}"
    study = "study {texts} --backbone test-text --strategies linear --budgets 2 --seeds 1 --out {out} --no-energy"
    rows = [
        ("fit-test-size-1.5", f"{fit} --test-size 1.5", USAGE),
        ("fit-test-size-negative", f"{fit} --test-size -0.2", USAGE),
        ("fit-test-size-zero", f"{fit} --test-size 0", USAGE),
        ("fit-seed-negative", f"{fit} --seed -1", USAGE),
        ("fit-unknown-strategy", f"{fit} --strategy magic", USAGE),
        ("fit-partial-bad-k", f"{fit} --strategy partial:x", USAGE),
        ("fit-partial-negative-k", f"{fit} --strategy partial:-3", USAGE),
        ("fit-unknown-backbone", "fit {images} --backbone no-such-net --out {out}", BACKBONE),
        ("fit-text-backbone-on-images", "fit {images} --backbone test-text --out {out}", BACKBONE),
        ("fit-bad-size-suffix", "fit {images} --backbone efficientnet-lite0@-5 --out {out}", BACKBONE),
        ("fit-bad-time-budget", f"{fit} --time-budget soon", USAGE),
        ("fit-negative-time-budget", f"{fit} --time-budget -5s", USAGE),
        ("fit-zero-batch", f"{fit} --batch-size 0", USAGE),
        ("fit-zero-labels-per-class", f"{fit} --labels-per-class 0", USAGE),
        ("fit-on-bad-maybe", f"{fit} --on-bad maybe", USAGE),
        ("fit-unknown-task", f"{fit} --task clustering", USAGE),
        ("fit-zero-epochs", f"{fit} --max-epochs 0", USAGE),
        ("fit-negative-threads", f"{fit} --threads -1", USAGE),
        ("fit-unknown-head", f"{fit} --head forest", USAGE),
        ("fit-unknown-option", f"{fit} --frobnicate", USAGE),
        ("fit-unknown-column", "fit {texts} --backbone test-text --text-column nope --out {out}", DATA),
        ("fit-unknown-label-column", "fit {texts} --backbone test-text --label-column nope --out {out}", DATA),
        ("fit-unknown-engine", f"{fit} --engine spark", USAGE),
        ("study-bad-budgets", study.replace("--budgets 2", "--budgets two"), USAGE),
        ("study-zero-budget", study.replace("--budgets 2", "--budgets 0"), USAGE),
        ("study-zero-seeds", study.replace("--seeds 1", "--seeds 0"), USAGE),
        ("study-unknown-strategy", study.replace("--strategies linear", "--strategies linear,magic"), USAGE),
        ("study-bad-max-time", f"{study} --max-time forever", USAGE),
        ("study-unknown-country", f"{study} --country XYZ", USAGE),
        ("rank-unknown-backbone", "rank {images} --backbones no-such-net", BACKBONE),
        ("rank-unknown-metric", "rank {images} --backbones test-cnn --metric vibes", USAGE),
        ("rank-bad-cuts", "rank {images} --backbones test-cnn --cuts sideways", USAGE),
        ("predict-top-k-zero", "predict {image_model} {image} --top-k 0", USAGE),
        ("predict-top-k-negative", "predict {image_model} {image} --top-k -1", USAGE),
        ("predict-out-unknown-format", "predict {image_model} {image} --out {out}.xyz", USAGE),
        ("predict-text-to-image-model", "predict {image_model} {texts}", DATA),
        ("predict-no-inputs", "predict {image_model}", USAGE),
        ("evaluate-unknown-split", "evaluate {image_model} {images} --split sideways", USAGE),
        ("evaluate-wrong-modality", "evaluate {image_model} {texts}", DATA),
        ("expand-negative-memory", "expand {image_model} {images} --out {out} --memory -1", USAGE),
        ("expand-test-size-2", "expand {image_model} {images} --out {out} --test-size 2", USAGE),
        ("expand-same-classes", "expand {image_model} {images} --out {out}", USAGE),
        ("expand-out-is-parent", "expand {image_model} {images} --out {image_model}", USAGE),
        ("export-unknown-format", "export {image_model} --format tflite --out {out}.onnx", USAGE),
        ("export-not-onnx", "export {image_model} --out {out}.txt", USAGE),
        ("serve-negative-port", "serve {image_model} --port -1", USAGE),
        ("serve-zero-pixels", "serve {image_model} --port 0 --max-image-pixels 0", USAGE),
        ("serve-zero-audio-seconds", "serve {image_model} --port 0 --max-audio-seconds 0", USAGE),
        ("serve-zero-workers", "serve {image_model} --port 0 --workers 0", USAGE),
        ("serve-unknown-precision", "serve {image_model} --port 0 --precision fp8", USAGE),
        ("runs-zero-limit", "runs --limit 0", USAGE),
        ("runs-show-unknown", "runs show 0123456789abcdef", USAGE),
        ("reproduce-unknown-run", "reproduce 0123456789abcdef", USAGE),
        ("promote-missing-over", "promote {image_model} --on {images}", USAGE),
        ("promote-unknown-metric", "promote {image_model} --over {image_model} --on {images} --metric vibes", USAGE),
        ("promote-same-bundle", "promote {image_model} --over {image_model} --on {images}", USAGE),
        ("promote-bad-data", "promote {image_model} --over {image_model_b} --on {garbage_images_folder}", DATA),
        ("promote-missing-data", "promote {image_model} --over {image_model_b} --on {missing}", DATA),
        ("promote-text-data", "promote {image_model} --over {image_model_b} --on {texts}", DATA),
        ("unknown-command", "frobnicate", USAGE),
    ]
    return [Case(i, a, c, out="out" if "{out}" in a else None) for i, a, c in rows]


def output_cases() -> list[Case]:
    rows = [
        ("fit-out-is-file", "fit {images} --backbone test-cnn --out {out_file}", BUNDLE),
        ("fit-out-readonly", "fit {images} --backbone test-cnn --out {readonly}/model", USAGE),
        ("fit-out-under-file", "fit {images} --backbone test-cnn --out {out_file}/model", USAGE),
        ("fit-out-is-data", "fit {images} --backbone test-cnn --out {images}", BUNDLE),
        ("expand-out-is-file", "expand {image_model} {mixed_good_and_wide_folder} --update --out {out_file}", BUNDLE),
        ("expand-out-readonly", "expand {image_model} {mixed_good_and_wide_folder} --update --out {readonly}/m", USAGE),
        ("export-out-readonly", "export {image_model} --out {readonly}/model.onnx", USAGE),
        ("export-out-under-file", "export {image_model} --out {out_file}/model.onnx", USAGE),
        ("export-out-is-data-file", "export {image_model} --out {texts}", USAGE),
        ("predict-out-readonly", "predict {image_model} {image} --out {readonly}/p.csv", USAGE),
        ("predict-out-is-folder", "predict {image_model} {image} --out {readonly}", USAGE),
        ("predict-out-is-input", "predict {text_model} {texts} --out {texts}", USAGE),
        ("predict-out-under-file", "predict {image_model} {image} --out {out_file}/p.csv", USAGE),
        ("study-out-is-file", "study {texts} --backbone test-text --strategies linear --budgets 2 --seeds 1 "
         "--no-energy --out {out_file}", USAGE),
        ("study-out-readonly", "study {texts} --backbone test-text --strategies linear --budgets 2 --seeds 1 "
         "--no-energy --out {readonly}/s", USAGE),
    ]  # fmt: skip
    return [Case(i, a, c, out="readonly" if "{readonly}" in a else "out_file") for i, a, c in rows]


CORRUPT_BUNDLES = {
    "missing": None,
    "a_file": None,
    "empty_bundle_folder": None,
    "images": None,  # a data folder passed as a bundle
    "invalid_json_bundle": None,
    "list_manifest_bundle": None,
    "files_as_list_bundle": None,
    "labels_as_string_bundle": None,
    "no_strategy_bundle": None,
    "outside_path_bundle": None,
    "pickle_weights_bundle": None,
    "weights_dir_bundle": None,
    "truncated_weights_bundle": None,
    "unknown_backbone_bundle": None,
}


def bundle_cases() -> list[Case]:
    cases = []
    for bundle, xfail in CORRUPT_BUNDLES.items():
        code = BUNDLE  # a backbone the bundle names but this machine lacks is the bundle's problem here too
        cases += [
            Case(f"predict-bundle-{bundle}", f"predict {{{bundle}}} {{image}}", code, xfail=xfail),
            Case(f"evaluate-bundle-{bundle}", f"evaluate {{{bundle}}} {{images}}", code, xfail=xfail),
            Case(f"export-bundle-{bundle}", f"export {{{bundle}}} --out {{out}}.onnx", code, out="out", xfail=xfail),
            Case(f"expand-bundle-{bundle}", f"expand {{{bundle}}} {{mixed_good_and_wide_folder}} --update --out {{out}}",
                 code, out="out", xfail=xfail),
            Case(f"serve-bundle-{bundle}", f"serve {{{bundle}}} --port 0", code, xfail=xfail),
            Case(f"promote-bundle-{bundle}", f"promote {{{bundle}}} --over {{image_model}} --on {{images}}", code,
                 xfail=xfail),
            Case(f"promote-over-bundle-{bundle}", f"promote {{image_model}} --over {{{bundle}}} --on {{images}} "
                 "--allow-training-data", code, xfail=xfail),
        ]  # fmt: skip
    return cases


ALL_CASES = [*data_cases(), *option_cases(), *output_cases(), *bundle_cases()]
