"""`rank`: transferability scores of candidate backbones and cuts on a dataset's training split, best first."""

from __future__ import annotations

from headstart import tracking
from headstart.commands.reading import data_options
from headstart.commands.tracked import record_outcome
from headstart.config import RankConfig
from headstart.data import labels_per_class, load_dataset, split_dataset
from headstart.engines import use_engine
from headstart.strategies.auto import candidate_backbones
from headstart.tasks import get_task
from headstart.transferability import RankResult, subsample
from headstart.transferability import rank as rank_backbones

MIN_ITEMS_TO_RANK = 5  # per class: below this a cross-validated kNN or LogME barely separates candidates


def rank(data: str, config: RankConfig) -> RankResult:
    """Score every (backbone, cut) of `config` on the training split of `data` (checked by the facade)."""
    dataset = load_dataset(str(data), **data_options(config))  # any task kind: scores per kind, see TASK_METRICS
    train = split_dataset(dataset, seed=config.seed).train  # the test split fit would hold out stays unseen
    if config.labels_per_class is not None:
        train = labels_per_class(train, config.labels_per_class, seed=config.seed, classes=dataset.classes)
    sample = subsample(train, config.max_items, seed=config.seed)
    params = config.model_dump(exclude={"progress"})
    engine = use_engine(config.engine, address=config.ray_address, threads=config.threads)
    with engine, tracking.tracked_run("rank", params, tracking.data_record(data, dataset), enabled=config.track) as run:
        result = rank_backbones(
            sample,
            candidate_backbones(dataset.modality, None, config.backbones),
            config.cuts,
            metric=config.metric,
            threads=config.threads,
            batch_size=config.batch_size,
            on_bad=config.on_bad,
            progress=config.progress,
            seed=config.seed,
        )
        record_outcome(run, "rank.json", result.to_dict(), {f"best_{config.metric}": result.best().to_dict()})
    if len(sample) < len(train):
        result.notes.append(f"scored a stratified sample of {len(sample)} of {len(train)} training items")
    result.notes[:0] = [note for note in train.notes if note not in result.notes]  # e.g. a class below -n
    few = min(sample.class_counts().values(), default=0) < MIN_ITEMS_TO_RANK
    if get_task(dataset.task).stratifies_by_class and few:
        result.notes.append(
            f"some class has fewer than {MIN_ITEMS_TO_RANK} items in the scored sample: the scores are noisy and "
            "small differences between rows mean little; rank on more labelled items if you have them"
        )
    result.run_id = run.run_id
    result.notes.extend(run.problems)
    return result
