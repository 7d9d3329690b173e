"""Training never loses work or contradicts itself: Ctrl-C, --resume, early stopping without validation,
interrupted feature extraction, and options the chosen strategy ignores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from typer.testing import CliRunner

from headstart import api
from headstart.backbones import get_backbone
from headstart.cli.main import app
from headstart.config import FitConfig
from headstart.data import load_dataset
from headstart.errors import BadItemError, UsageError
from headstart.feature_store import FeatureStore
from headstart.features import extract_features, feature_space_description, item_digests
from headstart.interrupts import Interrupted
from headstart.strategies import get_strategy
from headstart.strategies import options as fit_options
from headstart.train import checkpoint_path
from headstart.train.trainer import Trainer
from tests.conftest import make_image_folder

runner = CliRunner()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """36 images: too few to hold out a validation split (fit trains on all of them)."""
    return make_image_folder(tmp_path / "images", per_class=12, size=32)


def fit_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "fit", str(data), "--backbone", "test-cnn", "--strategy", "partial:1", "--views", "1", "--max-epochs", "5",
        "--out", str(out), "--no-track", "--json", *extra,
    ]  # fmt: skip


def interrupt_at_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """Ctrl-C during the first training step of `epoch` (0-based: `epoch` epochs are complete and checkpointed)."""
    step = Trainer._step

    def interrupted_step(self: Trainer, state: Any, target: Any) -> float:
        if self.state.epoch == epoch:
            raise KeyboardInterrupt
        return step(self, state, target)

    monkeypatch.setattr(Trainer, "_step", interrupted_step)


def fit(data: Path, out: Path, **options: Any) -> api.FitResult:
    defaults: dict[str, Any] = {
        "backbone": "test-cnn", "strategy": "partial:1", "views": 1, "max_epochs": 5, "track": False,
        "progress": False,
    }  # fmt: skip
    return api.fit(data, out=str(out), **{**defaults, **options})


# -- #7 early stopping without a validation split ---------------------------------------------------------------


def test_without_validation_the_whole_schedule_runs_and_the_last_epoch_is_kept(images: Path, tmp_path: Path) -> None:
    """A learning rate too small to learn leaves a noisy training loss: early stopping on it used to end the run
    after a few epochs and restore the best training-loss epoch, though the note promised the full schedule."""
    result = fit(images, tmp_path / "m", max_epochs=20, lr=1e-9)
    manifest = api.load(result.bundle).manifest.to_dict()
    assert len(manifest["history"]) == 20
    assert manifest["strategy"]["epochs_run"] == 20
    assert manifest["strategy"]["best_epoch"] is None and manifest["strategy"]["stop_reason"] is None
    note = next(n for n in result.notes if n.startswith("no validation split"))
    assert "too few to hold out" in note and "no early stopping" in note
    assert not any("full schedule" in n or n.startswith("early stopping") for n in result.notes)


def test_without_validation_an_explicit_patience_stops_on_the_training_loss(images: Path, tmp_path: Path) -> None:
    result = fit(images, tmp_path / "m", max_epochs=20, lr=1e-9, patience=2)
    manifest = api.load(result.bundle).manifest.to_dict()
    assert len(manifest["history"]) < 20
    assert manifest["strategy"]["stop_reason"] == "early stopping: no improvement in training loss for 2 epochs"
    assert any("early stopping on the training loss, as --patience 2 asks" in n for n in result.notes)


def test_a_time_budget_without_validation_does_not_claim_the_full_schedule(images: Path, tmp_path: Path) -> None:
    result = fit(images, tmp_path / "m", max_epochs=50, time_budget=0.001)
    assert "time budget of 0s reached" in result.notes
    assert api.load(result.bundle).manifest.strategy.get("epochs_run") == 1
    assert not any("full schedule" in n for n in result.notes)


# -- #8 Ctrl-C and --resume ----------------------------------------------------------------------------------------


def test_ctrl_c_says_where_the_checkpoint_is_and_prints_one_json_document(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m"
    interrupt_at_epoch(monkeypatch, 2)
    result = runner.invoke(app, fit_args(images, out))
    assert result.exit_code == 130
    document = json.loads(result.stdout)  # exactly one document on stdout
    checkpoint = checkpoint_path(out)
    assert document["error"] == "Interrupted"
    assert document["message"] == "interrupted during epoch 3 of 5"
    assert document["checkpoint"] == str(checkpoint) and document["checkpoint_epoch"] == 2
    assert "--resume" in document["fix"]
    stderr = " ".join(result.stderr.split())  # Rich wraps long lines
    assert f"the checkpoint of epoch 2 is kept at {checkpoint}; rerun the same command with --resume" in stderr
    assert checkpoint.is_file() and not out.exists()


def test_ctrl_c_in_the_first_epoch_says_there_is_nothing_to_resume(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_at_epoch(monkeypatch, 0)
    with pytest.raises(KeyboardInterrupt) as info:
        fit(images, tmp_path / "m")
    assert isinstance(info.value, Interrupted)
    assert info.value.fix is not None and "no checkpoint was written yet" in info.value.fix
    assert "checkpoint" not in info.value.details


def test_rerunning_without_resume_refuses_to_overwrite_the_checkpoint(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m"
    interrupt_at_epoch(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):  # an Interrupted (a KeyboardInterrupt subclass)
        fit(images, out)
    checkpoint = checkpoint_path(out)
    before = checkpoint.read_bytes()
    monkeypatch.undo()
    result = runner.invoke(app, fit_args(images, out))
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["error"] == "UsageError"
    assert error["message"].startswith(f"a checkpoint of epoch 3 exists for {out}")
    assert error["fix"] == f"pass --resume to continue, or delete {checkpoint} to start over"
    assert checkpoint.read_bytes() == before  # untouched: nothing trained


def test_resume_ignores_options_that_cannot_change_the_result_and_ends_bit_identical(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = fit(images, tmp_path / "reference")
    out = tmp_path / "m"
    interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):  # an Interrupted (a KeyboardInterrupt subclass)
        fit(images, out)
    monkeypatch.undo()
    changed = {"on_bad": "fail", "progress": True, "head": "svm", "engine": "local", "memory_mb": 64.0}
    resumed = fit(images, out, resume=True, **changed)
    assert "resumed from the checkpoint of epoch 2" in resumed.notes
    assert not checkpoint_path(out).exists()
    expected, actual = load_file(str(reference.bundle / "head.safetensors")), load_file(str(out / "head.safetensors"))
    assert expected.keys() == actual.keys()
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)


def test_resume_with_a_changed_option_names_it(images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "m"
    interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):  # an Interrupted (a KeyboardInterrupt subclass)
        fit(images, out)
    monkeypatch.undo()
    checkpoint = checkpoint_path(out)
    before = checkpoint.read_bytes()
    result = fit(images, out, resume=True, max_epochs=3, lr=0.002)
    note = next(n for n in result.notes if n.startswith("--resume:"))
    assert "the checkpoint of epoch 2 is from a different run configuration" in note
    assert "lr default -> 0.002, max_epochs 5 -> 3" in note and "started over from epoch 1" in note
    assert not any(n.startswith("resumed from") for n in result.notes)
    assert api.load(result.bundle).manifest.strategy.get("epochs_run") == 3
    aside = checkpoint.with_name(checkpoint.name + ".previous")  # the other run's work is kept, and said where
    assert f"kept that checkpoint as {aside}" in note and aside.read_bytes() == before
    assert not checkpoint.exists()  # this run's own checkpoint is dropped once it finishes


def test_resume_without_a_checkpoint_says_it_started_from_epoch_1(images: Path, tmp_path: Path) -> None:
    result = fit(images, tmp_path / "m", resume=True, max_epochs=2)
    assert f"--resume: no checkpoint found at {checkpoint_path(tmp_path / 'm')}; started from epoch 1" in result.notes


def test_a_checkpoint_records_its_options(images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "m"
    interrupt_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):  # an Interrupted (a KeyboardInterrupt subclass)
        fit(images, out, threads=1)
    saved = torch.load(checkpoint_path(out), weights_only=True)
    assert saved["options"]["max_epochs"] == 5 and saved["options"]["strategy"] == "partial:1"
    assert len(saved["options"]["data"]) > 0  # the training data's fingerprint
    ignored = {"threads", "track", "on_bad", "engine", "ray_address", "progress", "resume", "memory", "head"}
    assert not ignored & set(saved["options"])


# -- #13 an interrupted extraction keeps what it computed ----------------------------------------------------------


class RaisingRunner:
    """The frozen network's pooled features, then `error` at call number `fail_at` (1-based)."""

    def __init__(self, fail_at: int, error: BaseException) -> None:
        from headstart.runtime import FrozenRunner

        self.inner = FrozenRunner(get_backbone("test-cnn"), stop=None, pooled=True)
        self.calls, self.fail_at, self.error = 0, fail_at, error

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.error
        return self.inner(inputs)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), BadItemError("x.png", "broken")])
def test_an_interrupted_extraction_keeps_the_rows_it_computed(
    images: Path, tmp_path: Path, error: BaseException
) -> None:
    dataset = load_dataset(str(images))
    backbone, store = get_backbone("test-cnn"), FeatureStore(tmp_path / "features")
    with pytest.raises(type(error)) as info:
        extract_features(backbone, dataset, store=store, runner=RaisingRunner(3, error), batch_size=8, progress=False)
    space = store.space(feature_space_description(backbone))
    assert len(space) == 16  # two batches of 8 computed before the third failed
    if isinstance(error, KeyboardInterrupt):
        assert isinstance(info.value, Interrupted) and info.value.details["features_cached"] == 16
    again = extract_features(backbone, dataset, store=store, batch_size=8, progress=False)
    assert again.n_computed == len(dataset) - 16 and len(again.kept) == len(dataset)
    digests = item_digests(dataset)
    fresh = extract_features(backbone, dataset, store=False, batch_size=8, progress=False)
    space.refresh()  # the rerun wrote the missing rows through its own view of the space
    np.testing.assert_allclose(space.get(digests), fresh.features, atol=1e-6)


# -- #15 options the chosen strategy does not use --------------------------------------------------------------------


def test_options_the_strategy_does_not_use_are_noted(images: Path, tmp_path: Path) -> None:
    result = fit(images, tmp_path / "p", head="svm", max_epochs=1)
    assert "head='svm' applies only to linear and baseline; ignored by partial:1" in result.notes  # Python words
    linear = api.fit(
        images, backbone="test-cnn", out=str(tmp_path / "l"), resume=True, time_budget=10, max_epochs=3,
        track=False, progress=False,
    )  # fmt: skip
    ignored = [n for n in linear.notes if "ignored by linear" in n]
    assert [n.split(" applies")[0] for n in ignored] == ["max_epochs=3", "resume=True", "time_budget=10.0"]
    plain = api.fit(images, backbone="test-cnn", out=str(tmp_path / "d"), track=False, progress=False)
    assert not any("ignored by" in n for n in plain.notes)  # defaults are never reported


def test_auto_is_judged_by_the_strategy_it_chose() -> None:
    from headstart.config import CLI_CALLER

    config = FitConfig(strategy="auto", resume=True, time_budget=60, candidates=["test-cnn"], views=2)
    caller = CLI_CALLER.set(True)  # as inside `headstart fit`: the notes name --flags
    try:
        notes = fit_options.ignored_option_notes(
            config, get_strategy("auto"), {"name": "linear"}, "image", "classification"
        )
    finally:
        CLI_CALLER.reset(caller)
    assert notes == [
        "--resume applies only to the gradient strategies (partial:K, full, contrastive[:K], scratch); "
        "ignored by linear (chosen by auto)",
        "--views 2 applies only to partial:K and contrastive[:K] on images; ignored by linear (chosen by auto)",
    ]  # --time-budget and --backbones steered auto's choice itself


def test_refusal_only_for_strategies_that_checkpoint(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m"
    interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        fit(images, out, strategy="full")
    monkeypatch.undo()
    checkpoint = checkpoint_path(out)
    with pytest.raises(UsageError, match="a checkpoint of epoch 2 exists"):
        fit(images, out, strategy="full")
    api.fit(images, backbone="test-cnn", out=str(out), track=False, progress=False)  # linear never checkpoints
    assert checkpoint.is_file() and not checkpoint.with_name(checkpoint.name + ".previous").exists()


def interrupted_checkpoint(data: Path, out: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> bytes:
    """Ctrl-C a fit of `data` to `out` after 2 epochs; the bytes of the checkpoint it kept."""
    interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        fit(data, out, **options)
    monkeypatch.undo()
    return checkpoint_path(out).read_bytes()


@pytest.mark.parametrize(
    ("data", "options", "change"),
    [("other", {}, "the training data changed"), ("same", {"max_epochs": 3}, "max_epochs 5 -> 3")],
)
def test_a_checkpoint_of_another_run_does_not_block_a_fit_and_is_kept_aside(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: str, options: dict[str, Any], change: str
) -> None:
    """Audit 7 #3: one Ctrl-C'd fit used to refuse every later gradient fit to the same --out, whatever its data."""
    out = tmp_path / "m"
    before = interrupted_checkpoint(images, out, monkeypatch)
    other = make_image_folder(tmp_path / "other", per_class=12, size=32, seed=1) if data == "other" else images
    result = fit(other, out, **options)
    checkpoint = checkpoint_path(out)
    aside = checkpoint.with_name(checkpoint.name + ".previous")
    note = next(n for n in result.notes if n.startswith("the checkpoint of epoch 2"))
    assert f"is from another run ({change})" in note and f"kept that checkpoint as {aside}" in note
    assert "rename it back to .m.checkpoint.pt and rerun its command with --resume" in note
    assert aside.read_bytes() == before and not checkpoint.exists()


def test_kept_aside_checkpoints_never_overwrite_each_other(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m"
    first = interrupted_checkpoint(images, out, monkeypatch, max_epochs=4)
    second = interrupted_checkpoint(images, out, monkeypatch, max_epochs=6)  # keeps the first aside
    fit(images, out, max_epochs=2)  # keeps the second aside
    checkpoint = checkpoint_path(out)
    assert checkpoint.with_name(checkpoint.name + ".previous").read_bytes() == first
    assert checkpoint.with_name(checkpoint.name + ".previous-2").read_bytes() == second


def test_auto_is_not_refused_when_the_checkpoint_is_another_runs(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal used to block `auto` even when it went on to pick linear, which never checkpoints."""
    out = tmp_path / "m"
    before = interrupted_checkpoint(images, out, monkeypatch)
    result = api.fit(
        images, out=str(out), strategy="auto", candidates=["test-cnn"], time_budget=1, track=False, progress=False
    )
    assert result.trained == "linear"
    assert checkpoint_path(out).read_bytes() == before  # untouched: linear does not write one


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04 cut short"])
def test_resume_with_an_unreadable_checkpoint_says_so(images: Path, tmp_path: Path, content: bytes) -> None:
    """Audit 7 #5: an empty checkpoint under --resume printed only "Aborted!" (exit 130 with --json)."""
    out = tmp_path / "m"
    checkpoint = checkpoint_path(out)
    checkpoint.write_bytes(content)
    result = runner.invoke(app, fit_args(images, out, "--resume"))
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)
    assert error["error"] == "UsageError"
    assert error["message"].startswith(f"--resume cannot continue: the checkpoint at {checkpoint} cannot be read (")
    assert error["fix"].startswith(f"delete {checkpoint} to start over, or run without --resume")
    assert "Aborted" not in result.stderr and checkpoint.read_bytes() == content and not out.exists()


def test_without_resume_an_unreadable_checkpoint_is_kept_aside(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    checkpoint = checkpoint_path(out)
    checkpoint.write_bytes(b"")
    result = fit(images, out, max_epochs=1)
    aside = checkpoint.with_name(checkpoint.name + ".previous")
    assert any(
        n.startswith(f"the checkpoint at {checkpoint} cannot be read (the file is empty or cut short: EOFError)")
        for n in result.notes
    )
    assert any("(delete it once you no longer need it)" in n for n in result.notes)
    assert aside.is_file() and aside.read_bytes() == b"" and (out / "manifest.json").is_file()


def test_an_eof_error_is_a_bug_not_an_interruption(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """Click turns an EOFError into a bare "Aborted!" (exit 130 with --json, Ctrl-C's code) and hides the
    traceback; command_errors reports it as the bug it is: InternalError, exit 1, the traceback on stderr."""
    from headstart.cli.main import run

    def broken(*args: object, **kwargs: object) -> None:
        raise EOFError("ran out of input")

    monkeypatch.setattr(api, "list_backbones", broken)
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 1 and "Aborted" not in result.stderr
    assert isinstance(result.exception, RuntimeError) and isinstance(result.exception.__cause__, EOFError)
    monkeypatch.setattr("sys.argv", ["headstart", "models", "--json"])
    with pytest.raises(RuntimeError, match="EOFError: ran out of input"):  # the traceback; Python exits 1
        run()
    document = json.loads(capsys.readouterr().out)
    assert document["error"] == "InternalError" and document["message"] == "EOFError: ran out of input"


def test_describe_changes_names_options_and_data() -> None:
    from headstart.train.callbacks import describe_changes

    before = {"max_epochs": 20, "lr": None, "data": "a"}
    assert describe_changes(before, {"max_epochs": 30, "lr": None, "data": "b"}) == (
        "the training data changed, max_epochs 20 -> 30"
    )
    assert describe_changes(None, before) == "an older headstart wrote it without its options"


def test_a_strategy_called_directly_still_starts_over(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only `fit` refuses: a study reruns an interrupted cell from the start, as before."""
    from headstart.strategies import FitInputs, resolve_strategy

    out = tmp_path / "cell"
    interrupt_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        fit(images, out)
    monkeypatch.undo()
    strategy, params = resolve_strategy("partial:1")
    config = FitConfig(strategy="partial:1", out=str(out), views=1, max_epochs=2, progress=False, track=False)
    inputs = FitInputs(train=load_dataset(str(images)), backbone=get_backbone("test-cnn"), config=config, params=params)
    model = strategy.fit(inputs)
    assert model.report is not None and len(model.report.history) == 2
    assert not checkpoint_path(out).exists()
