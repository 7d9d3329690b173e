"""`headstart fit DATA`: adapt a pretrained backbone to labelled data and save a bundle."""

from __future__ import annotations

from typing import Annotated

import typer

from headstart.cli.lazy import api
from headstart.cli.options import (
    BatchSize,
    EngineName,
    Json,
    LabelColumn,
    OcrMaxPages,
    OcrMaxSide,
    OcrOrientation,
    OnBad,
    RayAddress,
    Separator,
    Target,
    Task,
    TextColumn,
    Threads,
    Track,
    default,
    engine_options,
    run_options,
    split_csv,
)
from headstart.cli.output import command_errors, console, metrics_line, print_json, print_notes
from headstart.config import FitConfig, parse_duration

SKIPPED_SHOWN = 10  # skipped items listed by name; --json lists all


def fit(
    data: Annotated[
        str, typer.Argument(metavar="DATA", help="Image folder (<class>/<file>) or table (CSV/TSV/JSONL/Parquet).")
    ],
    backbone: Annotated[
        str | None,
        typer.Option("--backbone", "-b", help="Pretrained backbone (see `headstart models`); default by modality."),
    ] = default(FitConfig, "backbone"),
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            "-s",
            help="How to adapt: linear, partial:K, full, contrastive[:K], scratch, baseline, zero-shot, auto; "
            "documents: linear (text encoder on OCR lines), baseline (TF-IDF) or rules.",
        ),
    ] = default(FitConfig, "strategy"),
    head: Annotated[str, typer.Option("--head", help="Linear head: logreg (default) or svm.")] = default(
        FitConfig, "head"
    ),
    labels_per_class: Annotated[
        int | None,
        typer.Option(
            "--labels-per-class",
            "-n",
            min=1,
            help="Draw this many training labels per class (few-shot); documents: this many training documents.",
        ),
    ] = default(FitConfig, "labels_per_class"),
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed for splits, budgets and training.")] = default(
        FitConfig, "seed"
    ),
    test_size: Annotated[
        float, typer.Option("--test-size", help="Held-out fraction when the data has no split column.")
    ] = default(FitConfig, "test_size"),
    out: Annotated[str, typer.Option("--out", "-o", help="Folder to write the bundle to.")] = default(FitConfig, "out"),
    text_backbone: Annotated[
        str | None,
        typer.Option("--text-backbone", help="zero-shot on images: text backbone matching labels to classes."),
    ] = default(FitConfig, "text_backbone"),
    label_descriptions: Annotated[
        str | None,
        typer.Option("--label-descriptions", help="zero-shot: YAML/JSON file {label: description} to match on."),
    ] = default(FitConfig, "label_descriptions"),
    prompt_templates: Annotated[
        list[str] | None,
        typer.Option(
            "--prompt-template",
            "--prompt-templates",
            help='Image-text backbones (CLIP, SigLIP): a template each label is put into, "{}" once where it goes, '
            'e.g. "a photo of a {}." (repeat for several; their embeddings are averaged). Used by zero-shot and '
            "linear's text prior; default: three photo templates.",
        ),
    ] = default(FitConfig, "prompt_templates"),
    text_column: TextColumn = default(FitConfig, "text_column"),
    label_column: LabelColumn = default(FitConfig, "label_column"),
    task: Task = default(FitConfig, "task"),
    target: Target = default(FitConfig, "target"),
    separator: Separator = default(FitConfig, "separator"),
    loss: Annotated[str, typer.Option("--loss", help="Regression with partial/full: mse or huber.")] = default(
        FitConfig, "loss"
    ),
    on_bad: OnBad = default(FitConfig, "on_bad"),
    threads: Threads = default(FitConfig, "threads"),
    batch_size: BatchSize = default(FitConfig, "batch_size"),
    engine: EngineName = default(FitConfig, "engine"),
    ray_address: RayAddress = default(FitConfig, "ray_address"),
    max_epochs: Annotated[
        int | None, typer.Option("--max-epochs", min=1, help="Gradient strategies: most epochs to train.")
    ] = default(FitConfig, "max_epochs"),
    lr: Annotated[float | None, typer.Option("--lr", help="Gradient strategies: head learning rate.")] = default(
        FitConfig, "lr"
    ),
    lr_ratio: Annotated[
        float, typer.Option("--lr-ratio", help="Pretrained stages learn this many times slower than the head.")
    ] = default(FitConfig, "lr_ratio"),
    patience: Annotated[
        int | None, typer.Option("--patience", min=0, help="Early stopping: epochs without improvement (0: off).")
    ] = default(FitConfig, "patience"),
    augment: Annotated[
        bool, typer.Option("--augment/--no-augment", help="Image fine-tuning: random crops, flips, colour jitter.")
    ] = default(FitConfig, "augment"),
    views: Annotated[
        int, typer.Option("--views", min=1, help="partial:K on images: augmented views cached per image.")
    ] = default(FitConfig, "views"),
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted fine-tune from its last checkpoint.")
    ] = default(FitConfig, "resume"),
    time_budget: Annotated[
        str | None, typer.Option("--time-budget", help="Stop training gracefully after this long (90s, 10m, 1h).")
    ] = default(FitConfig, "time_budget"),
    backbones: Annotated[
        str | None,
        typer.Option("--backbones", help="auto: comma-separated candidate backbones (default: installed ones)."),
    ] = None,
    track: Track = default(FitConfig, "track"),
    ocr_max_side: OcrMaxSide = default(FitConfig, "ocr_max_side"),
    ocr_max_pages: OcrMaxPages = default(FitConfig, "ocr_max_pages"),
    ocr_orientation: OcrOrientation = default(FitConfig, "ocr_orientation"),
    memory: Annotated[
        int | None,
        typer.Option(
            "--memory",
            min=0,
            help="Exemplars kept per class for `headstart expand` (0: none; default: linear keeps every training "
            "item's features, partial:K every training item's activations, up to --memory-mb).",
        ),
    ] = default(FitConfig, "memory"),
    memory_mb: Annotated[
        float | None,
        typer.Option(
            "--memory-mb",
            min=0.001,
            help="Size cap of those exemplars in the bundle, in MiB (default 32). More keeps more old items, so a "
            "later `expand` forgets less; the bundle grows by as much.",
        ),
    ] = default(FitConfig, "memory_mb"),
    as_json: Json = False,
) -> None:
    """Train a model on DATA and save it as a bundle (manifest + safetensors)."""
    with command_errors(as_json):
        result = api.fit(
            data,
            backbone=backbone,
            strategy=strategy,
            head=head,
            labels_per_class=labels_per_class,
            seed=seed,
            test_size=test_size,
            out=out,
            text_backbone=text_backbone,
            label_descriptions=label_descriptions,
            prompt_templates=prompt_templates,
            max_epochs=max_epochs,
            lr=lr,
            lr_ratio=lr_ratio,
            patience=patience,
            augment=augment,
            views=views,
            resume=resume,
            time_budget=parse_duration(time_budget),
            candidates=split_csv(backbones),
            track=track,
            memory=memory,
            memory_mb=memory_mb,
            text_column=text_column,
            label_column=label_column,
            task=task,
            target=target,
            separator=separator,
            loss=loss,
            ocr_max_side=ocr_max_side,
            ocr_max_pages=ocr_max_pages,
            ocr_orientation=ocr_orientation,
            **run_options(on_bad=on_bad, threads=threads, batch_size=batch_size, as_json=as_json),
            **engine_options(engine, ray_address),
        )
        if as_json:
            print_json(result.to_dict())
            return
        from headstart.tasks import Outputs, get_task  # on use: --help stays light

        m, c, t = result.metrics, result.counts, result.timings
        on = f"on {result.backbone}" if result.backbone else "(no pretrained network)"
        what = result.strategy if result.trained == result.strategy else f"{result.strategy} -> {result.trained}"
        outputs = get_task(result.task).outputs
        noun = "target" if outputs is Outputs.VALUE else "fields" if outputs is Outputs.FIELDS else "classes"
        console.print(
            f"[bold green]trained[/] {what} {on}: {c['train']} train / {c['test']} test items, {c['classes']} {noun}"
        )
        console.print("test " + metrics_line(m))
        from headstart.tasks.metrics import small_test_line

        if line := small_test_line(m):
            console.print(f"  {line}")
        features = f"; features {c['features_cached']} cached / {c['features_computed']} computed"
        console.print(
            f"time {t['total_seconds']:.1f}s (train {t['train_seconds']:.1f}s, test {t['test_seconds']:.1f}s"
            f"{features if result.backbone else ''})"
        )
        if result.skipped:
            console.print(f"[yellow]skipped {len(result.skipped)} item(s):[/]")
            for s in result.skipped[:SKIPPED_SHOWN]:
                console.print(f"  {s.id}: {s.reason}")
            if len(result.skipped) > SKIPPED_SHOWN:
                console.print(f"  … and {len(result.skipped) - SKIPPED_SHOWN} more (--json lists every one)")
        print_notes(result.notes)
        console.print(f"bundle: [bold]{result.bundle}[/]")
        if result.run_id:
            console.print(f"run: {result.run_id} (`headstart runs show {result.run_id[:12]}`)")
