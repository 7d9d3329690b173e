"""Field extractors on synthetic receipts: rules, TF-IDF and embedding taggers; learned span formatting; state
round trips (arrays + JSON only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from headstart.errors import DataError, UsageError
from headstart.strategies.fields.extractor import FieldExtractor, FoundField
from headstart.strategies.fields.rules import RulesExtractor
from headstart.strategies.fields.tagged import LinearExtractor, TfidfExtractor
from headstart.tasks.field_scores import score_fields
from tests.strategies.fields.receipts import hashed_embedder, receipts

EMBED = hashed_embedder()


def _values(found: list[dict[str, FoundField]]) -> list[dict[str, str]]:
    return [{name: f.value for name, f in doc.items()} for doc in found]


def _fitted(kind: str, n: int = 12, **receipt_options: object) -> tuple[FieldExtractor, object]:
    documents, fields = receipts(n, seed=0, **receipt_options)  # type: ignore[arg-type]
    extractor: FieldExtractor = {"rules": RulesExtractor, "tfidf": TfidfExtractor, "linear": LinearExtractor}[kind]()
    embed = EMBED if extractor.uses_embeddings else None
    extractor.fit(documents, fields, embed)
    return extractor, embed


def test_rules_find_the_usual_receipt_and_miss_an_unusual_total_label() -> None:
    extractor, _ = _fitted("rules")
    documents, fields = receipts(10, seed=1)
    assert score_fields(fields, _values(extractor.extract(documents))).f1 == 1.0
    documents, fields = receipts(10, seed=1, total_label="AMOUNT DUE")
    scores = score_fields(fields, _values(extractor.extract(documents)))
    assert scores.per_field["total"].exact_match < 0.5  # nothing says "total": the rules pick the cash amount


@pytest.mark.parametrize("kind", ["tfidf", "linear"])
def test_taggers_learn_a_label_the_rules_do_not_know(kind: str) -> None:
    extractor, embed = _fitted(kind, n=12, total_label="AMOUNT DUE")
    documents, fields = receipts(15, seed=1, total_label="AMOUNT DUE")
    found = extractor.extract(documents, embed)  # type: ignore[arg-type]
    scores = score_fields(fields, _values(found))
    assert scores.f1 >= 0.95, scores.to_dict()
    assert extractor.field_names == ["company", "date", "address", "total"]
    first = found[0]
    assert 0.0 <= first["total"].confidence <= 1.0 and first["total"].box is not None
    assert len(first["address"].lines) >= 2  # a multi-line field, joined in reading order
    assert list(first["address"].lines) == sorted(first["address"].lines)


def test_values_are_spans_written_as_the_training_values_write_them() -> None:
    extractor, _ = _fitted("tfidf", n=12, dollars=True)
    documents, fields = receipts(8, seed=1, dollars=True)
    found = _values(extractor.extract(documents))
    assert [f["total"] for f in found] == [f["total"] for f in fields]  # "$12.30": the "$" kept, as trained
    assert all(f["total"].startswith("$") for f in found)
    plain, _ = _fitted("tfidf", n=12)
    documents, fields = receipts(8, seed=1)
    found = _values(plain.extract(documents))
    assert [f["total"] for f in found] == [f["total"] for f in fields]  # "RM9.00" on the page, "9.00" kept
    assert all(" PM" not in f["date"] and f["date"] == t["date"] for f, t in zip(found, fields, strict=True))


def test_registration_numbers_are_trimmed_when_the_values_leave_them_out() -> None:
    documents, fields = receipts(12, seed=0)
    glued = [  # the registration number printed on the company's line, as many receipts do
        [line if line.text != f["company"] else type(line)(f"{line.text} (123456-X)", line.box) for line in doc]
        for doc, f in zip(documents, fields, strict=True)
    ]
    extractor = TfidfExtractor()
    extractor.fit(glued, fields)
    test, truth = receipts(6, seed=3)
    test = [
        [line if line.text != f["company"] else type(line)(f"{line.text} (654321-W)", line.box) for line in doc]
        for doc, f in zip(test, truth, strict=True)
    ]
    assert [f["company"] for f in _values(extractor.extract(test))] == [f["company"] for f in truth]


@pytest.mark.parametrize("kind", ["rules", "tfidf", "linear"])
def test_state_round_trip_extracts_the_same(kind: str) -> None:
    extractor, embed = _fitted(kind)
    tensors, config = extractor.state()
    assert all(isinstance(v, np.ndarray) for v in tensors.values())
    restored = type(extractor).from_state(tensors, json.loads(json.dumps(config)))
    documents, _ = receipts(6, seed=2)
    assert restored.extract(documents, embed) == extractor.extract(documents, embed)  # type: ignore[arg-type]
    assert restored.field_names == extractor.field_names


def test_state_of_another_kind_is_refused() -> None:
    extractor, _ = _fitted("tfidf")
    tensors, config = extractor.state()
    with pytest.raises(ValueError, match="tfidf"):
        LinearExtractor.from_state(tensors, config)


def test_unfitted_and_unfindable_fail_clearly() -> None:
    documents, fields = receipts(3, seed=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        TfidfExtractor().extract(documents)
    with pytest.raises(DataError, match="no field value was found"):
        TfidfExtractor().fit(documents, [{"company": "NOWHERE IN THESE LINES"} for _ in fields])
    with pytest.raises(UsageError, match="text encoder"):
        LinearExtractor().fit(documents, fields)


def test_any_field_names_and_empty_documents() -> None:
    documents, fields = receipts(10, seed=0)
    renamed = [{"vendor": f["company"], "paid": f["total"]} for f in fields]
    extractor = TfidfExtractor()
    notes = extractor.fit(documents, renamed)
    assert extractor.field_names == ["vendor", "paid"]
    assert any(note.startswith("paid (amount)") for note in notes)
    blank = [type(documents[0][0])("", (0, 0, 0, 0, 0, 0, 0, 0))]
    found = extractor.extract([documents[0], [], blank])
    assert found[0]["vendor"].value == fields[0]["company"] and found[1] == {} and found[2] == {}
    assert RulesExtractor(["company"]).extract([blank]) == [{}]


def test_misread_currency_and_spaces_inside_numbers_are_written_as_the_values_write_them() -> None:
    """OCR reads "$8.20" as "S8. 20": the values teach that an "S" before an amount stands for "$", and that
    their amounts have no spaces inside."""

    def misread(documents: list) -> list:  # type: ignore[type-arg]
        return [
            [type(line)(line.text.replace("$", "S").replace(".", ". "), line.box) for line in doc] for doc in documents
        ]

    documents, fields = receipts(12, seed=0, dollars=True)
    extractor = TfidfExtractor()
    extractor.fit(misread(documents), fields)
    test, truth = receipts(8, seed=1, dollars=True)
    found = _values(extractor.extract(misread(test)))
    assert [f["total"] for f in found] == [t["total"] for t in truth]


def test_written_before_and_value_prefix() -> None:
    from headstart.strategies.fields.typed_decode import value_prefix, written_before

    assert [written_before(t, t.index(n)) for t, n in [("TOTAL RM9.00", "9.00"), ("Amount: S8.20", "8.20")]] == [
        "rm",
        "s",
    ]
    assert written_before("TOTAL:$6.90", 7) == "$" and written_before("TOTAL 9.00", 6) == ""
    assert value_prefix("RM 3.90", "3.90") == "RM " and value_prefix("9.00", "9.00") == ""
    assert value_prefix("05 MAR 2018", "05 Mar 2018") == "" and value_prefix("19.00", "9.00") == "1"


def test_load_extractor_dispatches_on_the_saved_kind() -> None:
    from headstart.strategies.fields.kinds import EXTRACTOR_KINDS, load_extractor

    assert sorted(EXTRACTOR_KINDS) == ["linear", "rules", "tfidf"]
    extractor, _ = _fitted("tfidf")
    loaded = load_extractor(*extractor.state())
    assert isinstance(loaded, TfidfExtractor) and loaded.field_names == extractor.field_names
    with pytest.raises(ValueError, match="unknown field extractor kind 'crf'"):
        load_extractor({}, {"kind": "crf"})
