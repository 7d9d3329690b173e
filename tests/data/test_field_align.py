"""The fuzzy aligner: a field's value -> the OCR line(s) or span that hold it (weak labels for a field tagger)."""

from __future__ import annotations

from headstart.data.field_align import align, compact, coverage, dates_in, parse_amount, parse_date


def test_a_value_is_found_in_a_line_whose_spaces_ocr_dropped_with_its_span() -> None:
    lines = ["TAN WOON YANN", "DOCUMENT NO: TD01167104", "NO290,JALANAIRPANAS,SETAPAK"]
    match = align("NO 290, JALAN AIR PANAS", lines)
    assert match is not None and match.lines == (2,) and match.how == "exact"
    assert lines[2][match.start : match.end] == "NO290,JALANAIRPANAS"


def test_an_address_spans_consecutive_lines_in_reading_order() -> None:
    lines = [
        "BOOK TA .K(TAMAN DAYA) SDN BND",
        "789417-W",
        "NO.53 55,57 & 59, JALAN SAGU 18,",
        "TAMAN DAYA,",
        "81100 JOHOR BAHRU,",
        "JOHOR.",
        "DOCUMENT NO : TD01167104",
    ]
    match = align("NO.53 55,57 & 59, JALAN SAGU 18, TAMAN DAYA, 81100 JOHOR BAHRU, JOHOR.", lines)
    assert match is not None and match.lines == (2, 3, 4, 5) and match.how == "exact"


def test_a_corrected_value_matches_the_misread_line_fuzzily() -> None:
    lines = ["TAN WOON YANN", "BOOK TA .K(TAMAN DAYA) SDN BND", "789417-W"]
    match = align("BOOK TA .K (TAMAN DAYA) SDN BHD", lines)
    assert match is not None and match.lines == (1,) and match.how == "fuzzy" and 0.85 <= match.score < 1


def test_totals_match_by_their_number_with_or_without_currency_and_thousands() -> None:
    lines = ["SUBTOTAL 8.00", "TOTAL: RM 1,234.50", "CASH 1300.00"]
    assert align("RM1234.50", lines).lines == (1,)  # type: ignore[union-attr]
    amount = align("1234.5", lines)
    assert amount is not None and amount.how == "amount" and lines[1][amount.start : amount.end] == "1,234.50"
    assert parse_amount("RM 9.00") == 9.0 and parse_amount("$3") == 3.0 and parse_amount("9/12/2018") is None


def test_dates_match_across_formats_and_when_glued_to_a_time() -> None:
    assert parse_date("25/12/2018") == (2018, 12, 25)
    for line in ("DATE: 25-12-18 8:13PM", "2018-12-25", "25 DEC 2018", "25/12/201811:41"):
        match = align("25/12/2018", ["CASH BILL", line])
        assert match is not None and match.lines == (1,), line
    assert align("18/01/2018", ["ORD #50 -REG #19- 18/01/2018 10:27:03"]) is not None  # overlapping candidates
    assert align("20180304", ["04/03/2018 15:41:52"]) is not None  # a compact date is a date, not a number
    assert align("25/12/2018", ["26/12/2018"]) is None  # one digit off is another day: never fuzzy
    assert [d for d, _, _ in dates_in("INV 12/13/2018")] == []  # no month 13


def test_unfindable_values_give_none_and_coverage_counts_per_field() -> None:
    lines = ["ACME SDN BHD", "TOTAL 5.00"]
    assert align("SOMETHING ELSE ENTIRELY", lines) is None
    assert align("", lines) is None
    assert compact(" Sdn. Bhd ") == "sdnbhd"
    found = coverage(
        [({"company": "ACME SDN BHD", "total": "5.00"}, lines), ({"company": "OTHER", "total": ""}, lines)]
    )
    assert found == {
        "company": {"documents": 2.0, "findable": 1.0, "share": 0.5},
        "total": {"documents": 1.0, "findable": 1.0, "share": 1.0},
    }
