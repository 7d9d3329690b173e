"""The study: strategies × label budgets × seeds on one fixed test split, resumable cell by cell.

Every cell fits one strategy on a seeded per-class draw of the training part (budgets are nested for a
seed) and is scored on the same test split. Each finished cell is appended to `results.jsonl` at once,
so a killed study loses at most the cell in flight and a rerun skips what is done. The summary, the
verdict and the files for machines (`results.csv`, `results.parquet`, `study.json`) and people
(`report.html`) are written from those records.
"""

from headstart.services.study.grid import Cell, parse_budgets, parse_strategies, plan_cells
from headstart.services.study.records import read_records
from headstart.services.study.run import StudyPlan, StudyResult, plan_study, run_cell, run_study
from headstart.services.study.verdict import summarize, verdict

__all__ = ["Cell", "StudyResult", "parse_budgets", "parse_strategies", "plan_cells", "read_records", "run_cell"]
__all__ += ["StudyPlan", "plan_study", "run_study", "summarize", "verdict"]
