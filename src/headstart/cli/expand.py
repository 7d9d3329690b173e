"""`headstart expand BUNDLE NEW_DATA --out NEW_BUNDLE`: add classes to a trained model without starting over."""

from __future__ import annotations

from typing import Annotated

import typer

from headstart.cli.lazy import api
from headstart.cli.options import BatchSize, Json, LabelColumn, OnBad, TextColumn, Threads, Track, default, run_options
from headstart.cli.output import command_errors, console, fmt, print_json, print_notes
from headstart.config import ExpandConfig


def expand(
    bundle: Annotated[
        str, typer.Argument(metavar="BUNDLE", help="The bundle to grow (written by `headstart fit` or `expand`).")
    ],
    data: Annotated[
        str,
        typer.Argument(
            metavar="NEW_DATA", help="Labelled examples of the new classes, image folder or table (see --update)."
        ),
    ],
    out: Annotated[str, typer.Option("--out", "-o", help="Folder to write the new bundle to.")],
    update: Annotated[
        bool,
        typer.Option(
            "--update", help="NEW_DATA may hold more examples of existing classes (alone, or beside new classes)."
        ),
    ] = default(ExpandConfig, "update"),
    memory: Annotated[
        int | None,
        typer.Option("--memory", min=0, help="Exemplars kept per class in the new bundle (default: the parent's)."),
    ] = default(ExpandConfig, "memory"),
    memory_mb: Annotated[
        float | None,
        typer.Option(
            "--memory-mb", min=0.001, help="Size cap of the new bundle's exemplars in MiB (default: the parent's)."
        ),
    ] = default(ExpandConfig, "memory_mb"),
    allow_forgetting: Annotated[
        bool,
        typer.Option(
            "--allow-forgetting",
            help="Bundles without stored exemplars: train on NEW_DATA only (old classes anchored by distillation).",
        ),
    ] = default(ExpandConfig, "allow_forgetting"),
    test_size: Annotated[
        float, typer.Option("--test-size", help="Fraction of NEW_DATA held out for the reported metrics.")
    ] = default(ExpandConfig, "test_size"),
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed for splits and training.")] = default(
        ExpandConfig, "seed"
    ),
    max_epochs: Annotated[
        int | None,
        typer.Option("--max-epochs", min=1, help="Fine-tuned bundles: most epochs (default 8; trains the stages)."),
    ] = default(ExpandConfig, "max_epochs"),
    lr: Annotated[
        float | None, typer.Option("--lr", help="Fine-tuned bundles: head learning rate (default 0.3 x the parent's).")
    ] = default(ExpandConfig, "lr"),
    patience: Annotated[
        int | None, typer.Option("--patience", min=0, help="Early stopping: epochs without improvement (0: off).")
    ] = default(ExpandConfig, "patience"),
    head_refit: Annotated[
        bool,
        typer.Option(
            "--head-refit/--no-head-refit",
            help="Fine-tuned bundles: after training, refit the head as balanced logistic regression (default on).",
        ),
    ] = default(ExpandConfig, "head_refit"),
    head_only: Annotated[
        bool | None,
        typer.Option(
            "--head-only/--tune-stages",
            help="Fine-tuned bundles: keep the parent's network and fit only the grown head (balanced logistic "
            "regression on its features of stored + new items), or first train the last stages with rehearsal "
            "and distillation. Default: head only when the bundle stores activations and no --max-epochs, --lr, "
            "--patience or --no-head-refit is given.",
        ),
    ] = default(ExpandConfig, "head_only"),
    text_column: TextColumn = default(ExpandConfig, "text_column"),
    label_column: LabelColumn = default(ExpandConfig, "label_column"),
    on_bad: OnBad = default(ExpandConfig, "on_bad"),
    threads: Threads = default(ExpandConfig, "threads"),
    batch_size: BatchSize = default(ExpandConfig, "batch_size"),
    track: Track = default(ExpandConfig, "track"),
    as_json: Json = False,
) -> None:
    """Add the classes of NEW_DATA to BUNDLE (with --update, also its examples of existing classes) and save
    NEW_BUNDLE."""
    with command_errors(as_json):
        result = api.expand(
            bundle,
            data,
            out=out,
            update=update,
            memory=memory,
            memory_mb=memory_mb,
            allow_forgetting=allow_forgetting,
            test_size=test_size,
            seed=seed,
            max_epochs=max_epochs,
            lr=lr,
            patience=patience,
            head_refit=head_refit,
            head_only=head_only,
            text_column=text_column,
            label_column=label_column,
            track=track,
            **run_options(on_bad=on_bad, threads=threads, batch_size=batch_size, as_json=as_json),
        )
        if as_json:
            print_json(result.to_dict())
            return
        for verb, changed in (("added", result.added_classes), ("updated", result.updated_classes)):
            if changed:
                console.print(f"[bold green]{verb}[/] {len(changed)} class(es): {', '.join(changed)}")
        console.print(f"method: {result.method}")
        test = result.metrics.get("test")
        if test:
            console.print(_held_out_line(test, data))
        check = result.metrics.get("old_class_exemplars")
        if check:
            console.print(
                f"old-class exemplars: accuracy {fmt(check['parent_accuracy'])} -> {fmt(check['accuracy'])}, "
                f"agreement with the parent {fmt(check['agreement_with_parent'])}"
            )
        console.print(f"time {result.timings['total_seconds']:.1f}s; {len(result.labels)} classes in all")
        print_notes(result.notes)
        console.print(f"bundle: [bold]{result.bundle}[/] (parent {result.parent['path']})")


def _held_out_line(test: dict, data: str) -> str:
    """The scores on the held-out part of NEW_DATA, with its size; no macro-F1 over a single class."""
    present = [label for label, m in test["per_class"].items() if m["support"]]
    accuracy = fmt(test["accuracy"])
    if len(present) == 1:
        scores = f"(n={test['n']}, one class: {present[0]}) {accuracy}; no macro-F1 over one class"
    else:
        scores = f"(n={test['n']}, its {len(present)} classes only) {accuracy}  macro-F1 {fmt(test['macro_f1'])}"
    return f"accuracy on the held-out part of {data} {scores}; run `headstart evaluate` on data with every class"
