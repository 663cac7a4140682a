"""Scoring rows against labels: alignment and metrics on hand-made cases with known answers."""

from __future__ import annotations

from typing import Any

import pytest

from imr_llm.bulk.pricing import cost, parse_price, price_for
from imr_llm.checking.evaluation import (
    DEFINITIONS,
    align_items,
    evaluate,
    match_letters,
    normalized,
    similarity,
)
from imr_llm.checking.rows import parse_rows
from imr_llm.checking.scores import format_table
from imr_llm.errors import UsageError
from imr_llm.models import Extraction


def _item(request: str, decision: str = "upheld", **extra: Any) -> dict[str, Any]:
    return {"request": request, "decision": decision, **extra}


def _row(
    items: list[dict[str, Any]],
    *,
    path: str | None = None,
    case: str | None = None,
    status: str = "ok",
    evidence: list[str] = (),  # type: ignore[assignment]
    llm: tuple[str | None, int, int] | None = None,
    **letter: Any,
) -> Extraction:
    return Extraction.model_validate(
        {
            "source": {"path": path, "sha256": "0" * 64, "chars": 100},
            "status": status,
            "record": {"case_number": case, "items": items, **letter},
            "evidence": [
                {"field": f"f{i}", "start": 0, "end": 1, "status": s}
                for i, s in enumerate(evidence)
            ],
            "llm": None
            if llm is None
            else {
                "model": llm[0],
                "prompt_version": "v",
                "attempts": 1,
                "cached": False,
                "usage": {"prompt_tokens": llm[1], "completion_tokens": llm[2]},
            },
        }
    )


def _label(key: str, items: list[dict[str, Any]], **letter: Any) -> dict[str, Any]:
    base = {"id": key, "reviewer": {"licensure_states": [], "specialties": []}, "patient": {}}
    return {**base, **letter, "items": items}


REQUESTS = [
    "MRI of the right knee without contrast",
    "Physical therapy 2 times a week for 6 weeks",
    "Norco 10/325mg #60",
    "Electromyography of the bilateral lower extremities",
]


@pytest.mark.parametrize(
    ("predicted", "expected"),
    [
        ([0, 1, 2, 3], [(0, 0), (1, 1), (2, 2), (3, 3)]),  # same order
        ([3, 2, 1, 0], [(0, 3), (1, 2), (2, 1), (3, 0)]),  # reversed
        ([2, 0], [(0, 2), (1, 0)]),  # two missing
        ([], []),  # nothing predicted
    ],
)
def test_alignment_follows_the_request_text(
    predicted: list[int], expected: list[tuple[int, int]]
) -> None:
    labelled = [_item(r) for r in REQUESTS]
    assert align_items([_item(REQUESTS[i]) for i in predicted], labelled) == expected


def test_extra_items_stay_unaligned() -> None:
    labelled = [_item(REQUESTS[0]), _item(REQUESTS[2])]
    predicted = [_item("Gym membership for 6 months"), _item(REQUESTS[2]), _item(REQUESTS[0])]
    assert align_items(predicted, labelled) == [(1, 1), (2, 0)]


def test_reworded_requests_still_align() -> None:
    labelled = [_item("Prospective request for 1 prescription of Norco 10/325mg #150")]
    predicted = [_item("Norco 10/325 mg, #150"), _item("Soma 350mg #90")]
    assert align_items(predicted, labelled) == [(0, 0)]


def test_identical_requests_pair_by_decision_then_position() -> None:
    labelled = [_item("Norco 10/325mg #60", "upheld"), _item("Norco 10/325mg #60", "overturned")]
    predicted = [_item("Norco 10/325mg #60", "overturned"), _item("Norco 10/325mg #60", "upheld")]
    assert align_items(predicted, labelled) == [(0, 1), (1, 0)]
    same = [_item("Norco 10/325mg #60"), _item("Norco 10/325mg #60")]
    assert align_items(same, same) == [(0, 0), (1, 1)]


def test_the_threshold_rejects_weak_matches() -> None:
    assert similarity("MRI lumbar spine", "MRI lumbar spine") == 1.0
    assert similarity("", "MRI") == 0.0
    weak = similarity("MRI lumbar spine", "Lumbar epidural steroid injection")
    assert 0 < weak < 0.5
    pairs = align_items([_item("MRI lumbar spine")], [_item("Lumbar epidural injection")])
    assert pairs == []
    assert align_items([_item("a b")], [_item("a c")], threshold=0.3) == [(0, 0)]


def test_letters_match_by_case_number_then_file_stem() -> None:
    labels = {
        "L1": _label("L1", [], case_number="CM15-0000001"),
        "file-two": _label("file-two", []),
    }
    by_case = _row([], path="/data/renamed.txt", case="CM15-0000001")
    by_stem = _row([], path="/data/file-two.pdf")
    duplicate = _row([], path="/elsewhere/file-two.txt")
    stranger = _row([], path=None)
    pairs, unmatched = match_letters([by_case, by_stem, duplicate, stranger], labels)
    assert [(row, label["id"]) for row, label in pairs] == [(by_case, "L1"), (by_stem, "file-two")]
    assert unmatched == [duplicate, stranger]


def test_values_compare_without_case_spacing_order_or_number_type() -> None:
    assert normalized(" MRI  of the Knee") == normalized("mri of the knee")
    assert normalized(["CA", "NV"]) == normalized(["NV", "CA"])
    assert normalized(6) == normalized(6.0)
    assert normalized(True) != normalized(1.0)
    assert normalized(None) != normalized("")


def _scored() -> dict[str, Any]:
    labels = {
        "A": _label(
            "A",
            [
                _item(REQUESTS[0], category="Diagnostic Testing"),
                _item(REQUESTS[1], "overturned", quantity=12),
                _item(REQUESTS[2], quantity=60),
            ],
            case_number="CM15-0000001",
            date_of_injury="2015-01-02",
            reviewer={"licensure_states": ["CA", "NV"], "specialties": ["Orthopedic Surgery"]},
        ),
        "B": _label("B", [_item("Acupuncture x 6", "overturned", quantity=6)]),
    }
    rows = [
        _row(
            [
                _item(REQUESTS[2], quantity=60.0),
                _item(REQUESTS[0].upper(), category="Diagnostic Testing"),
                _item("Gym membership for 6 months", "overturned"),
            ],
            path="a.txt",
            case="CM15-0000001",
            date_of_injury="2015-01-03",
            reviewer={"licensure_states": ["NV", "CA"], "specialties": ["orthopedic surgery"]},
            evidence=["agreed", "agreed", "corrected", "llm_only"],
            llm=("gpt-4o-mini", 1000, 200),
        ),
        _row(
            [_item("Acupuncture x 6", "overturned", quantity=6)],
            path="/x/B.txt",
            evidence=["anchor_only", "anchor_only", "conflict"],
        ),
        _row([_item("MRI")], path="C.txt", status="needs_review", llm=("mystery-7b", 10, 5)),
    ]
    return evaluate(rows, labels).as_dict()


def test_metrics_on_a_hand_made_case() -> None:
    data = _scored()
    assert data["letters"] == {
        "rows": 3,
        "labelled": 2,
        "matched": 2,
        "rows_without_label": ["C.txt"],
        "labels_without_row": [],
    }
    fields = data["fields"]
    assert fields["case_number"] == {"right": 2, "total": 2, "accuracy": 1.0}
    assert fields["date_of_injury"]["right"] == 1
    assert fields["reviewer.licensure_states"]["right"] == 2
    assert fields["reviewer.specialties"]["right"] == 2
    assert fields["item_count"]["right"] == 2  # 3 and 3, 1 and 1, whatever they hold
    assert fields["items[].request"] == {"right": 3, "total": 4, "accuracy": 0.75}
    assert fields["items[].quantity"] == {"right": 3, "total": 4, "accuracy": 0.75}
    assert fields["items[].category"]["right"] == 3  # the missing PT item is wrong
    assert data["items"] == {
        "labelled": 4,
        "predicted": 4,
        "aligned": 3,
        "recall": 0.75,
        "precision": 0.75,
    }
    assert data["decision_accuracy"] == {"right": 3, "total": 3, "accuracy": 1.0}
    over = data["overturned"]
    assert (over["labelled"], over["predicted"], over["found"]) == (2, 2, 1)
    assert over["recall"] == over["precision"] == 0.5


def test_grounding_review_share_and_cost() -> None:
    data = _scored()
    grounding = data["grounding"]
    assert (grounding["grounded"], grounding["evidence"]) == (5, 7)
    assert grounding["rate"] == pytest.approx(5 / 7)
    assert grounding["checked_rate"] == pytest.approx(3 / 7)
    assert data["needs_review_share"] == pytest.approx(1 / 3)
    usage = data["usage"]
    assert usage["letters_with_llm"] == 2
    assert usage["prompt_tokens_per_letter"] == 505
    assert usage["cost_usd"] is None
    assert usage["unpriced_models"] == ["mystery-7b"]
    assert "no price for mystery-7b" in format_table(data)


def test_misses_name_the_letter_and_the_label_index() -> None:
    data = _scored()
    missing = [m for m in data["misses"] if m["field"] == "items[1].request"]
    assert missing == [
        {
            "letter": "A",
            "field": "items[1].request",
            "expected": REQUESTS[1],
            "got": missing[0]["got"],
        }
    ]
    table = format_table(data, misses=True)
    assert "MISS A date_of_injury: label='2015-01-02' got='2015-01-03'" in table
    assert "overturned  recall 1/2 = 50.0%, precision 1/2 = 50.0%" in table


def _reasons_case() -> dict[str, Any]:
    predicted = [
        _item(REQUESTS[0], reasons=["no_red_flags", "criteria_not_met"]),
        _item(REQUESTS[1], reasons=["exceeds_quantity_or_duration"]),
        _item(REQUESTS[2], "overturned", reasons=[]),
        _item(REQUESTS[3], reasons=["other"]),  # no label for it: not scored
    ]
    labelled = [
        _item(REQUESTS[0], reasons=["criteria_not_met", "no_red_flags"]),
        _item(REQUESTS[1], reasons=["exceeds_quantity_or_duration", "no_functional_improvement"]),
        _item(REQUESTS[2], "overturned", reasons=["documented_benefit", "criteria_met"]),
    ]
    rows = [_row(predicted, path="A.txt")]
    return evaluate(rows, {"A": _label("A", labelled)}).as_dict()


def test_reasons_score_as_sets_with_the_first_code_apart() -> None:
    reasons = _reasons_case()["reasons"]
    # 3 aligned items; codes right 3 of 4 predicted, of 6 labelled; first code right once.
    assert (reasons["items"], reasons["tp"], reasons["fp"], reasons["fn"]) == (3, 3, 0, 3)
    assert reasons["precision"] == 1.0
    assert reasons["recall"] == pytest.approx(0.5)
    assert reasons["f1"] == pytest.approx(2 / 3)
    assert reasons["first_code_accuracy"] == pytest.approx(1 / 3)
    assert reasons["coverage"] == pytest.approx(2 / 3)
    assert reasons["per_code"]["no_functional_improvement"]["recall"] == 0.0


def test_reasons_baseline_is_the_majority_code_per_labelled_decision() -> None:
    data = _reasons_case()
    base = data["reasons"]["baseline"]
    # criteria_not_met, criteria_not_met, criteria_met: right on items 1 and 3.
    assert (base["tp"], base["fp"], base["fn"]) == (2, 1, 4)
    assert base["first_code_accuracy"] == pytest.approx(1 / 3)
    line = next(x for x in format_table(data).splitlines() if x.startswith("reasons"))
    assert line == (
        "reasons     P 1.00 R 0.50 F1 0.67, first code 0.33 over 3 aligned items "
        "(majority baseline F1 0.44, first code 0.33)"
    )
    misses = [m["field"] for m in data["misses"] if m["field"].endswith(".reasons")]
    assert misses == ["items[0].reasons", "items[1].reasons", "items[2].reasons"]


def test_labels_without_reasons_leave_reasons_unscored() -> None:
    data = _scored()
    assert data["reasons"]["items"] == 0 and data["reasons"]["f1"] is None
    assert not any(x.startswith("reasons") for x in format_table(data).splitlines())


def test_eval_help_defines_the_reason_scores() -> None:
    assert "first-code accuracy" in DEFINITIONS and "majority baseline" in DEFINITIONS


def test_a_failed_row_is_wrong_everywhere_but_still_matched() -> None:
    failed = Extraction.model_validate(
        {
            "source": {"path": "dir/A.txt", "sha256": "0" * 64, "chars": 0},
            "status": "failed",
            "record": None,
            "error": {"type": "PdfError", "message": "no text"},
        }
    )
    data = evaluate([failed], {"A": _label("A", [_item("MRI knee")])}).as_dict()
    assert data["letters"]["matched"] == 1
    assert data["fields"]["items[].decision"] == {"right": 0, "total": 1, "accuracy": 0.0}
    assert data["items"]["precision"] is None
    assert "n/a" in format_table(data)


def test_prices() -> None:
    assert price_for("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_for("openai/gpt-4o") == (2.50, 10.00)
    assert price_for("gpt-4.1-mini") == (0.40, 1.60)
    assert cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost("smollm2-135m", 5000, 100) == 0.0
    assert cost(None, 5000, 100) == 0.0
    assert cost("mystery", 5000, 100) is None
    assert cost("mystery", 2_000_000, 0, prices={"mystery": (1.0, 2.0)}) == 2.0
    assert parse_price("my-model=0.5,1.5") == ("my-model", (0.5, 1.5))
    for bad in ("my-model", "=1,2", "m=1", "m=a,b", "m=-1,2"):
        with pytest.raises(ValueError, match="--price"):
            parse_price(bad)


def test_rows_read_json_lines_and_pretty_output() -> None:
    one = _row([_item("MRI")], path="a.txt").model_dump_json()
    pretty = _row([], path="b.txt").model_dump_json(indent=2)
    rows = parse_rows(f"{one}\n\n{pretty}\n")
    assert [r.source.path for r in rows] == ["a.txt", "b.txt"]
    with pytest.raises(UsageError, match=r"out.jsonl:2: not imr-llm output \(bad JSON"):
        parse_rows(f"{one}\n{{oops\n", name="out.jsonl")
    with pytest.raises(UsageError, match=r":1: not an imr-llm row \(source: invalid\)"):
        parse_rows('{"id": "x"}')
    assert parse_rows("  \n") == []
