"""The one entry point from a user's path (or inputs) to a validated `Dataset`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from headstart.data.dataset import Dataset, Modality, SkippedItem, check_on_bad
from headstart.data.folders import ACCEPTED, load_image_folder, load_image_inputs
from headstart.data.images import is_image_file
from headstart.data.modalities import claiming, get_modality
from headstart.data.tables import TABLE_EXTENSIONS, TEXT_FILE_EXTENSIONS, is_table_file, load_table
from headstart.errors import BadItemError, DataError, UsageError, did_you_mean
from headstart.tasks import AUTO, DEFAULT_SEPARATOR, REGRESSION, Outputs, check_task, get_task, parse_number

SUPPORTED = "a folder of images (<root>/<class>/<file>) or a table (" + ", ".join(sorted(TABLE_EXTENSIONS)) + ")"


def load_dataset(
    path: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    on_bad: str = "skip",
    require_labels: bool = True,
    task: str = "auto",
    target: str | None = None,
    separator: str = DEFAULT_SEPARATOR,
) -> Dataset:
    """Load an image folder or a table (texts, or image paths); bad items are skipped and listed (or fail).

    `task` is `auto` (detected, see `headstart.tasks.detect_task`) or a forced kind; `target` names a
    numeric column to regress on; `separator` splits a multi-label cell into tags.

    Raises `DataError` when the dataset as a whole is unusable: missing path, no usable items,
    fewer than two classes when labels are required, wrong layout or unsupported file type.
    """
    check_on_bad(on_bad)
    check_task(task)
    p = Path(path)
    _check_exists(p, "dataset")
    claimed = claiming(p)
    if claimed is not None:  # a registered modality that reads this path itself
        ds = claimed.load(
            p,
            text_column=text_column,
            label_column=label_column,
            on_bad=on_bad,
            require_labels=require_labels,
            task=task,
            target=target,
            separator=separator,
        )
    elif p.is_dir():
        ds = folder_task(load_image_folder(p, on_bad=on_bad), task, target)
    elif is_table_file(p):
        ds = load_table(
            p,
            text_column=text_column,
            label_column=label_column,
            on_bad=on_bad,
            require_labels=require_labels,
            task=task,
            separator=separator,
            target=target,
        )
    elif is_image_file(p):
        raise DataError(
            f"{str(p)!r} is a single image, not a dataset",
            expected=f"a folder of images laid out as <root>/<class>/<file> ({ACCEPTED})",
            fix=f"pass the folder that holds the class folders, e.g. {p.parent.parent or '.'}",
        )
    else:
        raise DataError(
            f"{str(p)!r} has an unsupported extension {p.suffix or '(none)'!r}",
            expected=SUPPORTED,
            fix="pass an image folder, or convert the file to CSV with columns text,label",
        )
    _check_not_empty(ds)
    if require_labels:
        _check_classes(ds)
    return ds


def load_inputs(
    inputs: Sequence[str],
    *,
    modality: Modality | None = None,
    text_column: str | None = None,
    on_bad: str = "skip",
) -> Dataset:
    """Unlabelled items to predict: image files/folders, a table or `.txt` of texts, or raw texts.

    Raw strings are accepted only with `modality="text"`; then an input that is an existing table
    or `.txt` file is read as a file and every other input is a text.
    """
    check_on_bad(on_bad)
    if isinstance(inputs, str):
        inputs = [inputs]
    if not inputs:
        raise UsageError(
            "no inputs to predict",
            expected="one or more image files, folders, a table of texts, or texts",
            fix="pass at least one input",
        )
    kind = None if modality is None else get_modality(modality)
    own = None if kind is None else kind.load_inputs(inputs, text_column=text_column, on_bad=on_bad)
    if own is not None:
        ds = own
    elif kind is not None and kind.accepts_texts:
        ds = _text_inputs(inputs, text_column, on_bad)
    else:
        for given in inputs:
            _check_exists(Path(given), "input", raw_text_hint=modality is None)
        tables = [i for i in inputs if Path(i).is_file() and is_table_file(i)]
        if tables and kind is not None:
            raise DataError(
                f"{tables[0]!r} is a table of texts but images were expected",
                expected="image files or folders of images",
                fix="pass image inputs, or predict with a text model",
            )
        if tables and len(tables) != len(inputs):
            others = [i for i in inputs if i not in tables]
            raise DataError(
                f"inputs mix tables of texts ({tables[0]!r}) with other inputs ({others[0]!r})",
                expected="either texts (tables, .txt files) or images, not both",
                fix="predict texts and images in separate calls",
            )
        if tables:
            ds = _text_inputs(tables, text_column, on_bad)
        else:
            ds = load_image_inputs(inputs, on_bad=on_bad)
    _check_not_empty(ds)
    return ds


def _text_inputs(inputs: Sequence[str], text_column: str | None, on_bad: str) -> Dataset:
    """Texts from tables/.txt files and raw strings, in input order; ids prefixed when mixed."""
    items: list[str] = []
    ids: list[str] = []
    skipped: list[SkippedItem] = []
    notes: list[str] = []
    many = len(inputs) > 1
    for n, given in enumerate(inputs, start=1):
        p = Path(given)
        if _is_text_file(given):
            part = load_table(p, text_column=text_column, on_bad=on_bad, require_labels=False)
            prefix = f"{given}: " if many else ""
            items.extend(part.items)
            ids.extend(prefix + i for i in part.ids)
            skipped.extend(SkippedItem(prefix + s.id, s.reason) for s in part.skipped)
            notes.extend(part.notes)
        elif given.strip():
            _refuse_non_text_path(given)
            items.append(given)
            ids.append(f"input {n}")
        else:
            if on_bad == "fail":
                raise BadItemError(f"input {n}", "empty text")
            skipped.append(SkippedItem(f"input {n}", "empty text"))
    return Dataset(
        modality="text",
        items=tuple(items),
        ids=tuple(ids),
        source=", ".join(i for i in inputs if _is_text_file(i)) or "inputs",
        skipped=tuple(skipped),
        notes=tuple(dict.fromkeys(notes)),
    )


def _refuse_non_text_path(given: str) -> None:
    """A text model's input that is plainly a path, not a text: a folder, an image file, or a table/.txt file
    name that does not exist (a typo would otherwise be classified as the text "new_tickets.csv")."""
    if any(ch.isspace() for ch in given.strip()):
        return
    p = Path(given)
    try:
        is_dir, is_file = p.is_dir(), p.is_file()
    except OSError:
        return
    if is_dir or (is_file and is_image_file(given)):
        raise DataError(
            f"input {given!r} is {'a folder' if is_dir else 'an image file'}, but this model reads texts",
            expected="texts, or a table / .txt file of texts",
            fix="predict images with an image model, or pass the texts themselves",
        )
    if not is_file and p.suffix.lower() in (*TABLE_EXTENSIONS, *TEXT_FILE_EXTENSIONS):
        _check_exists(p, "input")
    if is_file and p.suffix:  # `data.xlsx`, `model.pkl`: a file of another kind, not the text "data.xlsx"
        raise DataError(
            f"input {given!r} is a {p.suffix} file, which this text model cannot read",
            expected="texts, or a table of texts (" + ", ".join(sorted(TABLE_EXTENSIONS)) + ") or a .txt file",
            fix="convert the file to CSV with a text column, or pass the texts themselves",
        )


def _is_text_file(given: str) -> bool:
    suffix = Path(given).suffix.lower()
    is_text_kind = suffix in TABLE_EXTENSIONS or suffix in TEXT_FILE_EXTENSIONS
    try:
        return is_text_kind and Path(given).is_file()
    except OSError:
        return False


def _check_exists(p: Path, what: str, *, raw_text_hint: bool = False) -> None:
    if p.exists():
        return
    parent = p.parent if str(p.parent) else Path(".")
    siblings = [c.name for c in parent.iterdir()] if parent.is_dir() else []
    guess = did_you_mean(p.name, siblings)
    fix = f"did you mean {str(parent / guess)!r}? " if guess else ""
    fix += "check the path (relative paths start from the current directory)"
    if raw_text_hint:
        fix += "; to predict raw texts, pass modality='text' (--modality text)"
    raise DataError(
        f"{what} {str(p)!r} does not exist",
        expected=SUPPORTED if what == "dataset" else "existing image files, folders or tables",
        fix=fix,
    )


def all_skipped_error(what: str, skipped: Sequence[SkippedItem]) -> DataError:
    """The error for data of which no item could be used, e.g. `what` = "no usable items in 'x'"."""
    first = "; ".join(f"{s.id}: {s.reason}" for s in skipped[:3])
    return DataError(
        f"{what}: all {len(skipped)} were skipped ({first})",
        expected="at least one readable item",
        fix="fix or replace the files listed above, or run `headstart inspect` for the full list",
    )


def _check_not_empty(ds: Dataset) -> None:
    if len(ds) > 0:
        return
    if ds.skipped:
        raise all_skipped_error(f"no usable items in {ds.source!r}", ds.skipped)
    raise DataError(
        f"no items in {ds.source!r}",
        expected="at least one image or text",
        fix="check that the right path was given",
    )


def folder_task(ds: Dataset, task: str, target: str | None) -> Dataset:
    """An image folder is single-label; `--task regression` reads its class folder names as numbers."""
    kind = None if task == AUTO else get_task(task)
    if kind is not None and kind.outputs is Outputs.TAGS:
        raise DataError(
            f"{ds.source!r} is a folder of class folders, which gives each image one label",
            expected="a table of images with a labels column for multi-label data (path,labels)",
            fix="write a CSV with columns path,labels (tags separated by ';') and pass it instead",
        )
    if (kind.outputs is Outputs.CLASSES) if kind is not None else target is None:
        return ds if kind is None or kind.name == ds.task else replace(ds, task=kind.name)
    assert ds.labels is not None
    values = [parse_number(label) for label in ds.labels]
    bad = sorted({label for label, v in zip(ds.labels, values, strict=True) if v is None})
    if bad:
        raise DataError(
            f"class folder(s) {', '.join(repr(b) for b in bad[:5])} of {ds.source!r} are not numbers",
            expected="folders named by the target value (e.g. 0/, 1.5/) for regression on an image folder",
            fix="rename the folders to numbers, or fit without --task regression",
        )
    return replace(ds, labels=tuple(repr(v) for v in values), task=(kind or REGRESSION).name)


def _check_classes(ds: Dataset) -> None:
    kind = get_task(ds.task)
    if not kind.has_classes:
        if ds.labels is not None and len(set(ds.labels)) < 2:
            raise DataError(
                f"the target of {ds.source!r} has a single value, {ds.labels[0]}",
                expected="at least two different target values to learn from",
                fix="check that --target names the right column",
            )
        return
    classes = ds.classes
    if kind.outputs is Outputs.TAGS and len(classes) < 2:
        raise DataError(
            f"{ds.source!r} has {len(classes)} distinct tag(s) {classes}",
            expected="at least two tags across the rows of a multi-label dataset",
            fix="add rows with other tags, or fit it as single-label with --task classification",
        )
    if len(classes) >= 2:
        return
    if not classes:
        raise DataError(
            f"{ds.source!r} has no labels",
            expected="a label for every item",
            fix="pass --label-column NAME with the column that holds the labels",
        )
    raise DataError(
        f"{ds.source!r} has only one class, {classes[0]!r}",
        expected="at least two classes to learn to tell apart",
        fix=get_modality(ds.modality).one_class_fix.format(first=classes[0]),
    )
