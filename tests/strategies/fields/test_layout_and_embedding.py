"""The pieces under the taggers: neighbours on the page, typed flags, candidates, and the cached line embedder."""

from __future__ import annotations

import numpy as np
import pytest

from headstart.data.documents import OcrLine
from headstart.errors import BackboneError
from headstart.strategies.fields.candidates import AMOUNT, DATE, TEXT, candidates, value_kind
from headstart.strategies.fields.layout import LAYOUT_NAMES, layout_features, neighbours
from headstart.strategies.fields.trim import EdgeTrimmer, shape


def _box(text: str, left: float, top: float, right: float, bottom: float) -> OcrLine:
    return OcrLine(text, (left, top, right, top, right, bottom, left, bottom))


def test_neighbours_left_right_on_the_row_and_above_below() -> None:
    lines = [
        _box("SHOP", 50, 0, 220, 20),
        _box("TOTAL", 0, 40, 80, 60),
        _box("9.00", 200, 42, 260, 61),
        _box("CASH", 0, 70, 80, 90),
        _box("10.00", 200, 71, 260, 90),
    ]
    near = neighbours(lines)
    assert near.left.tolist() == [-1, -1, 1, -1, 3]
    assert near.right.tolist() == [-1, 2, -1, 4, -1]
    assert near.above[2] == 0 and near.above[4] == 2 and near.above[3] == 1
    assert near.below[1] == 3 and near.below[4] == -1
    layout = layout_features(lines)
    assert layout.shape == (5, len(LAYOUT_NAMES))
    assert layout[0, LAYOUT_NAMES.index("first")] == 1 and layout[4, LAYOUT_NAMES.index("last")] == 1
    assert layout[1, LAYOUT_NAMES.index("row_size")] == pytest.approx(2 / 5)
    assert 0 <= layout.min() and layout.max() <= 1


def test_value_kinds_and_candidates_follow_the_values_shape() -> None:
    assert value_kind(["25/12/2018", "2018-03-04", "x"]) == DATE
    assert value_kind(["9.00", "RM 3.90", "$1,234.50"]) == AMOUNT
    assert value_kind(["ACME SDN BHD", "9.00"]) == TEXT
    lines = [_box("DATE: 25/12/2018 8:13:39 PM", 0, 0, 100, 10), _box("TOTAL RM9.00", 0, 20, 100, 30)]
    (date,) = candidates(lines, DATE)
    assert date.text == "25/12/2018" and date.value == 20181225
    money = [c for c in candidates(lines, AMOUNT) if c.text == "9.00"]
    assert money and money[0].prefix == "RM" and money[0].line == 1


def test_edge_trimmer_learns_shapes_from_values() -> None:
    assert shape("(519537-X)") == "(9-A)"
    trimmer = EdgeTrimmer()
    trimmer.fit(
        [
            ("99 SPEED MART S/B (519537-X)", "99 SPEED MART S/B"),
            ("AEON CO. (M) BHD (126926-H)", "AEON CO. (M) BHD"),
            ("ACME TRADING", "ACME TRADING"),
        ]
    )
    assert trimmer.tail == {"(9-A)"}
    assert trimmer("TRI SHAAS SDN BHD (728515-M)") == "TRI SHAAS SDN BHD"
    assert trimmer("GOLDEN MART") == "GOLDEN MART"
    once = EdgeTrimmer()
    once.fit([("99 SPEED MART S/B (519537-X)", "99 SPEED MART S/B")])
    assert once.tail == set()  # one example is not enough to learn a rule from


def test_line_embedder_caches_and_zeroes_blank_lines() -> None:
    from headstart.strategies.fields.embedding import line_embedder

    embed = line_embedder("test-text", store=False)
    rows = embed(["TOTAL 9.00", "", "TOTAL 9.00", "CASH 10.00"])
    assert rows.shape == (4, 16) and rows.dtype == np.float32
    assert np.array_equal(rows[0], rows[2]) and not rows[1].any() and not np.array_equal(rows[0], rows[3])
    with pytest.raises(BackboneError, match="not text"):
        line_embedder("test-cnn")


def test_word_corrections_learn_letter_fixes_not_spacing() -> None:
    from headstart.strategies.fields.corrections import WordCorrections

    corrections = WordCorrections()
    corrections.fit(
        [
            ("LOT 5, KWANSAN PERINDUSTRIAN", "LOT 5, KAWASAN PERINDUSTRIAN"),
            ("12,JALAN MAJU", "12, JALAN MAJU"),  # spacing: not learned
            ("BOOK TA SDN BND", "BOOK TA SDN BHD"),
            ("MR DIY SDN BHD", "MR DIY SDN BHD"),
        ]
    )
    assert corrections.replace == {"KWANSAN": "KAWASAN", "BND": "BHD"}
    assert corrections("LOT 9, KWANSAN BALAKONG") == "LOT 9, KAWASAN BALAKONG"
    assert corrections("12,JALAN MAJU") == "12,JALAN MAJU"
    restored = WordCorrections.from_state(corrections.state())
    assert restored.replace == corrections.replace
