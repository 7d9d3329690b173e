"""Study figures name the score they plot: accuracy, micro-F1 or R²."""

from __future__ import annotations

from typing import Any

import pytest

from headstart.report import figures

SUMMARY = [
    {"strategy": "linear", "budget": "5", "labels_per_class": 5.0, "accuracy": -0.2, "accuracy_min": -0.3,
     "accuracy_max": -0.1, "seeds": 2, "fit_seconds": 1.0},
    {"strategy": "linear", "budget": "20", "labels_per_class": 20.0, "accuracy": 0.4, "accuracy_min": 0.3,
     "accuracy_max": 0.5, "seeds": 2, "fit_seconds": 2.0},
]  # fmt: skip


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    figs: list[Any] = []
    monkeypatch.setattr(figures, "to_png", lambda fig: figs.append(fig) or "png")
    return figs


@pytest.mark.parametrize(
    ("metric", "label", "percent"), [("accuracy", "test accuracy", True), ("r2", "test R²", False)]
)
def test_axes_name_the_task_score(drawn: list[Any], metric: str, label: str, percent: bool) -> None:
    styles = figures.strategy_styles(["linear"])
    figures.accuracy_vs_budget(SUMMARY, [], styles, metric)
    figures.accuracy_vs_time(SUMMARY, styles, metric)
    for fig in drawn:
        ax = fig.axes[0]
        assert ax.get_ylabel() == label
        assert isinstance(ax.yaxis.get_major_formatter(), figures.matplotlib.ticker.PercentFormatter) is percent
    assert drawn[0].axes[0].get_title(loc="left").startswith(label.removeprefix("test ")[:2].capitalize())
