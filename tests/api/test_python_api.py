"""The Python API as a notebook user meets it: inputs in, one output per input, clear errors, short reprs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

import headstart
from headstart import api
from headstart.bundle import BadInputError
from headstart.cli.main import app
from headstart.config import EvaluateConfig, ExpandConfig, FitConfig, PredictConfig, RankConfig, StudyConfig, validated
from headstart.errors import BadItemError, UsageError
from tests.conftest import make_image_folder, make_text_csv

QUIET = {"track": False, "progress": False}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("data") / "images")


@pytest.fixture(scope="module")
def image_fit(images: Path, tmp_path_factory: pytest.TempPathFactory) -> api.FitResult:
    out = tmp_path_factory.mktemp("bundles") / "image-model"
    return headstart.fit(images, backbone="test-cnn", out=str(out), **QUIET)


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_text_csv(tmp_path_factory.mktemp("data") / "texts.csv")


@pytest.fixture(scope="module")
def text_bundle(texts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "text-model"
    return headstart.fit(texts, backbone="test-text", out=str(out), **QUIET).bundle


def _green(images: Path) -> list[str]:
    return sorted(str(p) for p in (images / "green").glob("*.png"))


def _bad_images(folder: Path, images: Path) -> dict[str, str]:
    """An empty file (refused at its header) and a truncated PNG (whose header reads but whose pixels do not)."""
    folder.mkdir(exist_ok=True)
    empty, truncated = folder / "empty.png", folder / "truncated.png"
    empty.write_bytes(b"")
    whole = Path(_green(images)[0]).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    return {"empty": str(empty), "truncated": str(truncated)}


# 1. one output per input: a bad input raises, naming it, instead of being dropped


@pytest.mark.parametrize("kind", ["empty", "truncated"])
def test_a_bad_image_raises_naming_its_position_instead_of_being_dropped(
    kind: str, image_fit: api.FitResult, images: Path, tmp_path: Path
) -> None:
    model = headstart.load(image_fit.bundle)
    good = _green(images)[:2]
    bad = _bad_images(tmp_path, images)[kind]
    inputs = [good[0], bad, good[1]]
    for method in (model.predict, model.predict_proba, model.embed):
        with pytest.raises(BadItemError, match=re.escape(f"input 2 ({bad!r})")) as err:
            method(inputs)
        assert isinstance(err.value, BadInputError) and err.value.reason
        assert "headstart.predict(bundle, inputs)" in (err.value.fix or "")
    assert len(model.predict(good)) == 2 and model.predict_proba(good).shape == (2, 3)


def test_an_empty_text_raises_naming_its_position(text_bundle: Path) -> None:
    model = headstart.load(text_bundle)
    inputs = ["the team won the match", "", "spicy curry with rice", "   "]
    with pytest.raises(BadInputError, match="input 2: empty text"):
        model.predict(inputs)
    with pytest.raises(BadInputError, match="input 2: empty text"):
        model.predict_proba(inputs)
    assert model.predict([inputs[0], inputs[2]]) == ["sport", "food"]
    skipping = headstart.predict(text_bundle, inputs, progress=False)  # the function that skips and lists
    assert [p.input for p in skipping.predictions] == [inputs[0], inputs[2]] and len(skipping.skipped) == 2


# 2. one str or Path is one input, not its characters


def test_a_single_text_is_one_input(text_bundle: Path) -> None:
    model = headstart.load(text_bundle)
    assert model.predict("the team won the match") == ["sport"]
    assert model.predict_proba("spicy curry with rice").shape == (1, 2)
    result = headstart.predict(text_bundle, "the team won the match", progress=False)
    assert [p.input for p in result.predictions] == ["the team won the match"]


def test_a_path_or_a_list_of_paths_is_accepted(image_fit: api.FitResult, images: Path) -> None:
    model = headstart.load(image_fit.bundle)
    first = Path(_green(images)[0])
    assert model.predict(first) == ["green"] and model.predict(str(first)) == ["green"]
    assert model.predict([first, Path(_green(images)[1])]) == ["green", "green"]
    assert model.predict_proba(first).shape == (1, 3)
    result = headstart.predict(image_fit.bundle, first, progress=False)
    assert len(result.predictions) == 1 and result.predictions[0].label == "green"
    assert len(headstart.predict(image_fit.bundle, (first,), progress=False).predictions) == 1


def test_a_pandas_series_of_texts_is_a_list_of_inputs(text_bundle: Path) -> None:
    column = pd.Series(["the team won the match", "spicy curry with rice"])
    assert headstart.load(text_bundle).predict(column) == ["sport", "food"]
    assert headstart.load(text_bundle).predict(column.to_numpy()) == ["sport", "food"]


# 3. data that is not a path gets a UsageError saying how to pass it


def test_a_dataframe_as_data_says_to_save_it_first(texts: Path, text_bundle: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(texts)
    calls = {
        "fit": lambda: headstart.fit(frame, out=str(tmp_path / "m"), **QUIET),
        "evaluate": lambda: headstart.evaluate(text_bundle, frame, progress=False),
        "inspect": lambda: headstart.inspect(frame),
        "rank": lambda: headstart.rank(frame, **QUIET),
        "study": lambda: headstart.study(frame, out=str(tmp_path / "s"), **QUIET),
        "expand": lambda: headstart.expand(text_bundle, frame, out=str(tmp_path / "e"), **QUIET),
    }
    for name, call in calls.items():
        with pytest.raises(UsageError, match=f"headstart.{name}\\(\\) got a pandas DataFrame as data") as err:
            call()
        assert "df.to_csv('data.csv', index=False)" in (err.value.fix or "")
    assert not (tmp_path / "m").exists()
    with pytest.raises(UsageError, match="got None as data"):
        headstart.fit(None)


def test_an_image_model_predicts_pil_images_like_their_files(image_fit: api.FitResult, images: Path) -> None:
    model = headstart.load(image_fit.bundle)
    files = _green(images)[:2] + sorted(str(p) for p in (images / "red").glob("*.png"))[:1]
    pictures = [Image.open(files[0]), files[1], Image.open(files[2]).convert("RGBA")]
    assert model.predict(pictures) == ["green", "green", "red"]
    np.testing.assert_allclose(model.predict_proba(pictures), model.predict_proba(files), rtol=1e-5, atol=1e-6)
    assert model.predict(Image.open(files[0])) == ["green"]


def test_non_text_non_path_inputs_to_predict_are_refused_clearly(
    image_fit: api.FitResult, text_bundle: Path, images: Path
) -> None:
    picture = Image.open(_green(images)[0])
    with pytest.raises(UsageError, match="input 2 is a PIL image") as err:
        headstart.load(text_bundle).predict(["the team won the match", picture])
    assert "save it as a file" in (err.value.fix or "")
    model = headstart.load(image_fit.bundle)
    with pytest.raises(UsageError, match="inputs are a numpy array") as err:
        model.predict_proba(np.zeros((8, 8, 3), dtype=np.uint8))
    assert "PIL.Image.fromarray" in (err.value.fix or "")
    with pytest.raises(UsageError, match="input 1 is None"):
        headstart.predict(image_fit.bundle, [None], progress=False)  # type: ignore[list-item]
    with pytest.raises(UsageError, match="input 2 is an int"):
        model.predict([_green(images)[0], 3])


def test_a_dataframe_given_to_predict_names_the_column_to_pass(texts: Path, text_bundle: Path) -> None:
    with pytest.raises(UsageError, match="inputs are a pandas DataFrame") as err:
        headstart.load(text_bundle).predict(pd.read_csv(texts))
    assert "df['text'].tolist()" in (err.value.fix or "")


# 4. discoverability


def test_the_main_functions_document_their_options() -> None:
    for option in ("data", "out", "strategy", "backbone", "labels_per_class", "test_size", "seed", "max_epochs"):
        assert f"{option}:" in (headstart.fit.__doc__ or "") or f"{option}," in (headstart.fit.__doc__ or "")
    for option in ("time_budget", "threads", "progress", "track", "headstart.config.FitConfig"):
        assert option in (headstart.fit.__doc__ or "")
    assert "EvaluateConfig" in (headstart.evaluate.__doc__ or "") and ".accuracy" in (headstart.evaluate.__doc__ or "")
    assert "top_k" in (headstart.predict.__doc__ or "") and "on_bad" in (headstart.predict.__doc__ or "")
    assert "predict_proba" in (headstart.load.__doc__ or "")


def test_export_serve_and_create_app_are_on_the_package_and_helpers_are_not() -> None:
    from headstart.server import app, process

    assert (
        headstart.export is api.export and headstart.serve is process.serve and headstart.create_app is app.create_app
    )
    names = dir(headstart)
    assert {"export", "serve", "create_app", "fit"} <= set(names)
    assert not {"sys", "types", "Any", "annotations", "_API", "_Package"} & set(names)


GATE = {"metric", "margin", "class_tolerance", "model_name", "allow_missing_classes", "allow_training_data"}


@pytest.mark.parametrize(
    ("function", "model", "own"),
    [
        (api.fit, FitConfig, set()),
        (api.evaluate, EvaluateConfig, set()),
        (api.predict, PredictConfig, {"out"}),
        (api.rank, RankConfig, set()),
        (api.expand, ExpandConfig, set()),
        (api.study, StudyConfig, {"on_event"}),
        (api.promote, EvaluateConfig, GATE),
    ],
)
def test_the_facade_takes_every_config_field_as_a_keyword_with_the_config_default(function, model, own) -> None:
    """One declaration per option: a field added to a config without its keyword (or a default that drifts) fails."""
    import inspect as python_inspect

    keywords = {
        name: p.default for name, p in python_inspect.signature(function).parameters.items() if p.kind == p.KEYWORD_ONLY
    }
    assert set(keywords) - own == set(model.model_fields)
    for name, field in model.model_fields.items():
        if field.is_required():
            assert keywords[name] is python_inspect.Parameter.empty, name
        elif name == "separator" and model is EvaluateConfig:
            assert keywords[name] is None  # None: the separator the bundle was fitted with
        else:
            assert keywords[name] == field.get_default(call_default_factory=True), name


def test_serve_and_create_app_take_every_service_option() -> None:
    import inspect as python_inspect

    from headstart.server import ServeOptions
    from headstart.server.schemas import ServeConfig

    assert set(ServeOptions.__annotations__) == set(ServeConfig.model_fields)
    process = {"host", "port", "workers", "log_level", "on_ready"}
    for function, own in ((headstart.serve, process), (headstart.create_app, {"on_ready"})):
        parameters = python_inspect.signature(function).parameters
        assert {n for n, p in parameters.items() if p.kind == p.KEYWORD_ONLY} == own
        assert "ServeOptions" in str(parameters["options"].annotation)  # every service option, typed


def test_no_module_is_named_like_a_public_function() -> None:
    """Importing `headstart.<name>` would set that attribute to the module and hide the function of that name."""
    import importlib.util
    import pkgutil

    modules = {info.name for info in pkgutil.iter_modules(headstart.__path__)}
    assert modules & set(headstart.__all__) == set()
    assert importlib.util.find_spec("headstart.commands") is not None and "commands" in modules
    code = (
        "import importlib, pkgutil, headstart\n"
        "for info in pkgutil.walk_packages(headstart.__path__, 'headstart.'):\n"
        "    if info.name != 'headstart.__main__':  # that one runs the CLI\n"
        "        importlib.import_module(info.name)\n"
        "assert all(callable(getattr(headstart, n)) for n in headstart.__all__ if n != '__version__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = "import headstart, sys; dir(headstart); print(sorted({'torch', 'sklearn', 'pandas'} & set(sys.modules)))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "[]"


# 5. errors from Python speak Python


def test_a_mistyped_keyword_gets_the_close_option(texts: Path) -> None:
    with pytest.raises(UsageError) as err:
        headstart.fit(texts, labels_per_clas=5, **QUIET)
    assert err.value.what == "unknown option 'labels_per_clas'; did you mean 'labels_per_class'?"
    assert err.value.fix == "pass labels_per_class= instead"
    with pytest.raises(UsageError) as unknown:
        headstart.fit(texts, qqqq=1, **QUIET)
    assert unknown.value.what == "unknown option 'qqqq'"  # nothing close: no guess
    assert "help(headstart.fit)" in (unknown.value.fix or "")


def test_python_errors_name_keywords_and_cli_errors_name_flags(texts: Path) -> None:
    with pytest.raises(UsageError) as err:
        headstart.fit(texts, test_size=20, **QUIET)
    assert err.value.fix == "pass test_size=0.2 for 20% (a fraction from 0 to 1)"
    with pytest.raises(UsageError) as err:
        headstart.fit(texts, seed=-1, **QUIET)
    assert err.value.fix == "correct seed= (see help(headstart.fit))"
    cli = CliRunner().invoke(app, ["fit", str(texts), "--test-size", "20", "--no-track", "--json"])
    assert cli.exit_code == 2 and '"fix": "pass --test-size 0.2 for 20%' in cli.stdout


def test_durations_are_accepted_as_strings_from_python() -> None:
    assert FitConfig(time_budget="10m").time_budget == 600.0
    assert FitConfig(time_budget=90).time_budget == 90.0
    study = StudyConfig(max_time="1h", time_limit_per_fit="90s", time_budget="1.5m")
    assert (study.max_time, study.time_limit_per_fit, study.time_budget) == (3600.0, 90.0, 90.0)
    with pytest.raises(UsageError, match="invalid value for time_budget: 'soon'") as err:
        validated(FitConfig, time_budget="soon")
    assert "10m" in (err.value.expected or "") and not (err.value.expected or "").startswith("Value error")


# 6. printing results


def test_results_and_the_predictor_print_short_summaries(
    image_fit: api.FitResult, images: Path, tmp_path: Path
) -> None:
    shown = repr(image_fit)
    assert len(shown) < 300 and str(image_fit.bundle) in shown and "'linear'" in shown and "test-cnn" in shown
    assert re.search(r"accuracy=\d\.\d{3} macro_f1=\d\.\d{3}", shown) and "train=" in shown and "test=" in shown
    evaluated = headstart.evaluate(image_fit.bundle, images, progress=False)
    assert evaluated.accuracy == evaluated.report.accuracy and evaluated.macro_f1 == evaluated.report.macro_f1
    assert re.search(r"^EvaluateResult\(bundle=.*accuracy=\d\.\d{3} .*n=\d+", repr(evaluated))
    assert len(repr(evaluated)) < 300
    predicted = headstart.predict(image_fit.bundle, _green(images), progress=False)
    assert re.search(
        r"^PredictResult\(classification, 12 predictions \{.*: green \(\d\.\d{3}\), .*…\}\)$", repr(predicted)
    )
    model = headstart.load(image_fit.bundle)
    assert repr(model) == (
        f"<Predictor {str(image_fit.bundle)!r}: classification, image, labels [blue, green, red], "
        "backbone test-cnn, strategy linear>"
    )


def test_prompt_templates_are_checked_when_fit_is_called(images: Path, tmp_path: Path) -> None:
    """One template may be a plain string; each needs "{}" once (where the label goes), else a UsageError."""
    from headstart.config import FitConfig, validated

    assert validated(FitConfig, prompt_templates="a photo of a {}.").prompt_templates == ["a photo of a {}."]
    with pytest.raises(UsageError, match="invalid value for prompt_templates") as err:
        headstart.fit(images, backbone="test-cnn", prompt_templates=["a photo"], out=str(tmp_path / "m"))
    assert 'e.g. "a photo of a {}."' in (err.value.expected or "") and "prompt_templates=" in (err.value.fix or "")
    assert not (tmp_path / "m").exists()
