"""Quantity and strength read from request headings: every labelled item plus near-misses."""

from __future__ import annotations

import re

import pytest

from imr_llm.anchors.quantity import Parsed, parse_quantity, parse_strength

# Copied from corpus/seeds and corpus/dev labels.jsonl (request, quantity); tests must not
# read the shared corpus at run time.
LABELLED = [
    ("Prospective request for 1 prescription of Norco 10/325mg #150", 150),
    ("Prospective request for 1 prescription of Zanaflex 6mg #60", 60),
    ("Norco 10/325mg #160", 160),
    ("Zoloft 100mg #60", 60),
    ("Baclofen 20mg #90", 90),
    ("Norco 10/325 mg, sixty count", 60),
    ("Norco 10/325mg #60", 60),
    ("Naproxen 550mg #60", 60),
    ("Cyclobenzaprine 10mg #80", 80),
    ("Norco 10/325 QTY: 60.00", 60),
    ("Ultram 50mg QTY: 360.00", 360),
    ("Soma 350mg QTY: 240.00", 240),
    ("MRI of the right shoulder without contrast", None),
    ("MRI of the cervical spine without contrast", None),
    ("Cervical spine MRI without contrast", None),
    ("MRI of neck and right hand without contrast", None),
    ("Acupuncture 3 times a week for 2 weeks, neck, right hand and head", 6),
    ("Physical exam 2 times 8", 16),
    ("Spinal manipulation 1 times 8", 8),
    ("Electrical stimulation 1 times 8", 8),
    ("Ultrasound 1 times 8", 8),
    ("Initial exam", None),
    ("Norflex 100mg #60", 60),
    ("Pepcid 20mg", None),
    ("X-ray of the pelvis", None),
    ("X-rays of the lumbar spine", None),
    ("X-rays of the left shoulder", None),
    ("Physical therapy 2-3 times a week for 6 weeks", None),
    (
        (
            "Norco 10/325mg #60 was the original request. Norco 10/325mg #25 was authorized by "
            "the Claims Administrator. The remaining IMR eligible portion of the original "
            "request, Norco 10/325mg #35"
        ),
        35,
    ),
    ("Four sessions of physical therapy two times a week times 2 weeks", 4),
    ("Four sessions of electrical stimulation two times a week times 2 weeks", 4),
    ("Four sessions of infrared therapy two times a week times 2 weeks", 4),
    ("Four sessions of manual therapy two times a week times 2 weeks", 4),
    ("Four sessions of therapeutic exercise two times a week times 2 weeks", 4),
    ("Four sessions of biofeedback two times a week times 2 weeks", 4),
    ("Cervical CT scan", None),
    ("CT scan of the thoracic spine", None),
    ("TOC to ortho spine surgeon eval and treatment", None),
    ("Cyclobenzaprine 7.5mg #60", 60),
    ("MRI of the left shoulder", None),
    (
        (
            "Occupational therapy for nine sessions was the original request. Occupational "
            "therapy for three sessions was authorized by the Claims Administrator. The "
            "remaining IMR eligible portion of the original request, Occupational therapy for "
            "six sessions"
        ),
        6,
    ),
    ("MRI cervical spine without contrast", None),
    ("MRI of the lumbar without contrast", None),
    (
        (
            "Nine sessions of physical therapy of the right knee was the original request. Six "
            "sessions of physical therapy of the right knee was authorized by the Claims "
            "Administrator. The remaining IMR eligible portion of the original request, Three "
            "sessions of physical therapy of the right knee"
        ),
        3,
    ),
    ("X-Ray of the lumbar spine", None),
    ("MRI of the left hip", None),
    ("Additional physical therapy lumbar spine two times a week for three weeks", 6),
    ("MRI of lumbar spine without contrast", None),
    ("Left shoulder arthroscopy with Bankart repair, possible biceps tenodesis", None),
    ("Associated surgical service: Physical therapy, times 12", 12),
    ("Associated surgical service: Cold therapy for one week", None),
    ("Associated surgical service: Slingshot sling", None),
    ("Post-op Percocet 5/325mg", None),
    ("Post-op Zofran", None),
    ("MRI of the lumbar spine without contrast", None),
    (
        (
            "Chiropractic therapy sessions for the cervical spine, #8 was the original request. "
            "Chiropractic therapy sessions for the cervical spine, #6 was authorized by the "
            "Claims Administrator. The remaining IMR eligible portion of the original request, "
            "Chiropractic therapy sessions for the cervical spine, #2"
        ),
        2,
    ),
    ("Spine surgery evaluation for the lumbar", None),
    ("Orphenadrine Citrate ER 100mg tabs #30", 30),
    ("Lidocaine 5% patch #1", 1),
    ("Norco 5/325mg oral tablet, one tablet twice daily 14 days #40", 40),
    ("Retrospective Cyclobenzaprine 5mg tab #30 DOS: 11/14/16", 30),
    ("TENS unit", None),
    ("Lumbar support", None),
    ("Cervical pillow", None),
    ("Wedge pillow", None),
    ("Wrist braces #2", 2),
    ("Elbow braces #2", 2),
    ("Pantoprazole 40mg, one by mouth, twice a day #60 with one refill", 60),
    (
        (
            "Standard wheelchair for a 3 month rental was the original request. Standard "
            "wheelchair for a 1 month rental was authorized by the Claims Administrator. The "
            "remaining IMR eligible portion of the original request, standard wheelchair for a "
            "2 month rental"
        ),
        None,
    ),
    (
        (
            "Purchase of a bedside 3 in 1 commode was the original request. The Claims "
            "Administrator authorized a bedside 3 in 1 commode for 1 month, leaving the "
            "original request IMR eligible. The original request, purchase of a bedside 3 in 1 "
            "commode"
        ),
        None,
    ),
    (
        (
            "Purchase of a bath/shower chair was the original request. The Claims Administrator "
            "authorized a bath/shower chair for 1 month, leaving the original request IMR "
            "eligible. The original request, purchase of a bath/shower chair"
        ),
        None,
    ),
    ("EMG/NCV of the bilateral upper extremities", None),
    ("EMG/NCV of the bilateral lower extremities", None),
    (
        (
            "Partial Hospitalization day treatment was the original request. The Claims "
            "Administrator authorized an Evaluation only for a Partial Hospitalization day "
            "treatment, leaving the original request IMR eligible. The original request, "
            "Partial Hospitalization day treatment"
        ),
        None,
    ),
    (
        (
            "Eight physical therapy sessions for the lumbar spine, left shoulder, left wrist "
            "and left knee was the original request. Six physical therapy sessions for the "
            "lumbar spine, left shoulder and left knee was authorized by the Claims "
            "Administrator. The remaining IMR eligible portion of the original request, two "
            "physical therapy sessions for the lumbar spine, left shoulder and left knee and "
            "eight physical therapy sessions for the left wrist"
        ),
        10,
    ),
    (
        (
            "Eight occupational therapy sessions for the lumbar spine, left shoulder, left "
            "wrist and left knee was the original request. Six occupational therapy sessions "
            "for the left wrist was authorized by the Claims Administrator. The remaining IMR "
            "eligible portion of the original request, two occupational therapy sessions for "
            "the left wrist and eight occupational therapy sessions for the lumbar spine, left "
            "shoulder and left knee"
        ),
        10,
    ),
    (
        ("Physical therapy 6 sessions 2 times a week for 3 weeks to the lumbar and cervical spine"),
        6,
    ),
    (
        (
            "Chiropractic treatment for cervical and lumbar spine, left wrist/hand, 3 times a "
            "week for 4 weeks"
        ),
        12,
    ),
    ("EMG/NCS of the bilateral upper extremities", None),
    ("MRI of the cervical spine", None),
    ("MRI of the lumbar spine", None),
    ("MRI of the left wrist", None),
    ("MRI for the cervical spine", None),
    ("NCV/EMG of the bilateral upper extremity", None),
    ("MRI of the neck without contrast", None),
    ("MRI of the lumbar spine without contrast", None),
    ("1 platelet rich plasma injection to left foot", 1),
    ("1 knee scooter", 1),
    ("MRI (magnetic resonance imaging) of the lumbar spine", None),
    ("Right L4 transforaminal epidural steroid injection under fluoroscopic guidance", None),
    ("Right L5 transforaminal epidural steroid injection under fluoroscopic guidance", None),
    ("Retrospective CT scan of the cervical spine (DOS 11/18/16)", None),
    ("Functional capacity evaluation", None),
    ("MRI of the cervical spine", None),
    ("MRI of the lumbar spine", None),
    ("Six sessions of acupuncture one time a week for six weeks", 6),
    ("TENS unit", None),
    ("Diclofenac sodium 3% 300mg/g #1", 1),
    ("Lidocaine ointment 5% #1", 1),
    (
        (
            "Physical therapy two times a week for six weeks (12 sessions) was the original "
            "request. Physical therapy 6 sessions was authorized by the Claims Administrator. "
            "The remaining IMR eligible portion of the original request, Physical therapy 6 "
            "sessions"
        ),
        6,
    ),
    ("Large gloves", None),
    ("Hygiene wipes", None),
    (
        (
            "PT/OT two to three times a week for six to eight weeks (24 sessions) left hand, "
            "right lower leg was the original request. PT/OT 6 sessions left hand, right lower "
            "leg was authorized by the Claims Administrator. The remaining IMR eligible portion "
            "of the original request, PT/OT 18 sessions left hand, right lower leg"
        ),
        18,
    ),
    (
        (
            "One container of Flurbiprofen 10%, Cyclobenzaprine 3%, Gabapentin 6%, Lidocaine "
            "5%/Dextromethorphan"
        ),
        1,
    ),
    (
        (
            "One month supply of Trezix capsule 320.5/30/16mg was the original request. The "
            "Claims Administrator authorized Trezix capsule 320.5/30/16mg #5, leaving the "
            "original request IMR eligible. The original request, one month supply of Trezix "
            "capsule 30.5/30/16mg"
        ),
        None,
    ),
    ("Twelve physical therapy sessions, three times weekly, for the right elbow", 12),
    ("MRI (magnetic resonance imaging) of the cervical spine", None),
    ("Twelve infrared acupuncture visits, 2 times weekly for 6 weeks", 12),
    ("Twelve manual acupuncture visits (15 mins), 2 times weekly for 6 weeks", 12),
    ("Twelve elect acupuncture visits (15 mins), 2 times weekly for 6 weeks", 12),
    ("Twelve acupuncture visits with Capsaicin patch, 2 times weekly for 6 weeks", 12),
    ("Extracorporeal shockwave therapy (ESWT)", None),
    ("Trigger points impedance imaging (TPII)", None),
    ("Localized intense neurostimulation therapy [following TPII]", None),
    ("Open MRI of the lumbosacral spine", None),
    ("Sit-stand workstation", None),
    ("Magnetic resonance imaging (MRI) of the right shoulder", None),
    (
        (
            "Retrospective Cyclobenzaprine 7.5mg #60, per 12/07/2016 order was the original "
            "request. Retrospective Cyclobenzaprine 7.5mg #42, per 12/07/2016 order was "
            "authorized by the Claims Administrator. The remaining IMR eligible portion of the "
            "original request, Retrospective Cyclobenzaprine 7.5mg #18, per 12/07/2016 order"
        ),
        18,
    ),
    ("Retrospective Famotidine 20mg #60, per 12/07/2016 order", 60),
    ("Retrospective Lidopro 4%-27.5%-0.0325% 121gm #1, per 12/07/2016 order", 1),
    (
        (
            "Retrospective TENS unit, purchase, lumbar spine, left hip, lower leg, and knee "
            "(DOS 12/29/16)"
        ),
        None,
    ),
    ("Retrospective E-stim (DOS 12/29/16)", None),
    (
        (
            "Physical therapy three times a week for two weeks for the cervical, thoracic, and "
            "lumbar"
        ),
        6,
    ),
    ("Initial acupuncture, 1 to 2 times per week for 4 weeks, for the neck", None),
    ("Additional physical therapy, 1 to 2 times per week for 3 weeks, for the neck", None),
    ("MRI of the lumbar spine", None),
    ("Cervical spine x-rays", None),
    ("Lumbar spine x-rays", None),
    ("CT scan of the cervical spine", None),
    (
        (
            "Acupuncture of the lumbar and cervical for eight sessions was the original "
            "request. Acupuncture of the lumbar and cervical for six sessions was authorized by "
            "the Claims Administrator. The remaining IMR eligible portion of the original "
            "request, Acupuncture of the lumbar and cervical for two sessions"
        ),
        2,
    ),
    (
        (
            "Twelve sessions of physical therapy for the right shoulder, right wrist and right "
            "hand, three times a week for four weeks"
        ),
        12,
    ),
    ("MRI of the lumbar spine without contrast", None),
    ("Additional physical therapy three times a week over two weeks", 6),
    ("Celecoxib 200mg #90", 90),
    ("Fanatrex 25mg/ml oral suspension 420ml", None),
    ("Dicopanol 5mg/ml oral suspension, 150ml", None),
    ("Deprizine 15mg/ml oral suspension, 250ml", None),
    ("Tabradol 1mg/ml oral suspension, 250ml", None),
    ("MRI of the right shoulder without contrast", None),
    (
        ("Operative arthroscopy, superior labral anterior posterior repair, right shoulder"),
        None,
    ),
    ("Associated surgical service: Ultrasling", None),
    ("Associated surgical service: Vascutherm unit, 14 days rental", None),
    ("Associated surgical service: Hip pad", None),
    ("Associated surgical service: 2 leg wraps", 2),
    ("Associated surgical service: EMS/TENS unit", None),
    ("Associated surgical service: Medical clearance", None),
    ("Associated surgical service: EKG", None),
    ("Associated surgical service: Chest x-ray", None),
    ("Associated surgical service: Labs - CBC", None),
    ("Associated surgical service: Labs - PT/PTT", None),
    ("Associated surgical service: UA", None),
    ("Associated surgical service: Labs - Chem panel", None),
    ("Post-op physical therapy 12-18 sessions", None),
    ("Assistant surgeon", None),
    (
        ("Physical therapy 2 times a week for 6 weeks bilateral shoulder, elbow and wrist"),
        12,
    ),
    ("Chiro with modalities 2 times a week for 6 weeks for neck, back", 12),
    ("Physical therapy, 2 times a week for 4 weeks, right knee", 8),
    ("Arthroscopy of the left knee", None),
    ("Pre-op Clearance", None),
    ("Motrin 600mg #40", 40),
    (
        ("Physical therapy 3 times a week for 4 weeks for the lumbar spine and left shoulder"),
        12,
    ),
    ("MRI of the left shoulder", None),
    ("TENS unit, daily trial, cervical and thoracic spine, #30", 30),
    ("MRI of the thoracic spine without contrast, #1", 1),
    ("MRI Lumbosacral Spine without Contrast", None),
    (
        (
            "Six physical therapy sessions two times a week for three weeks for the neck, left "
            "trapezius and low back"
        ),
        6,
    ),
    ("MRI of the right knee without contrast", None),
    ("Six physical therapy visits for the lumbar", 6),
    (
        (
            "EMG/NCS of the right upper extremity was the original request. NCS of the right "
            "upper extremity was authorized by the Claims Administrator. The remaining IMR "
            "eligible portion of the original request, EMG of the right upper extremity"
        ),
        None,
    ),
    ("MRI of the right foot", None),
]

NEAR_MISSES = [
    "Retrospective CT scan DOS: 11/14/16",
    "Retrospective Famotidine 20mg, per 12/07/2016 order",
    "Right L4 transforaminal epidural steroid injection",
    "Right L4-5 transforaminal epidural steroid injection",
    "Purchase of a bedside 3 in 1 commode",
    "Vascutherm unit, 14 days rental",
    "Zoloft 100mg",
    "Percocet 5/325mg",
    "Lidocaine 5% patch",
    "Lidopro 4%-27.5%-0.0325% 121gm",
    "Physical therapy 2-3 times a week for 6 weeks",
    "Physical therapy 2\u20133 times a week for 6 weeks",
    "Acupuncture 1 to 2 times per week for 4 weeks",
    "PT/OT two to three times a week for six to eight weeks",
    "Post-op physical therapy 12-18 sessions",
    "Chiropractic #6-8",
    "One month supply of Trezix capsule 320.5/30/16mg",
    "Standard wheelchair for a 3 month rental",
    "Fanatrex 25mg/ml oral suspension 420ml",
    "120 ml of Dicopanol oral suspension",
    "Prospective request for 1 prescription of Pepcid 20mg",
    "2 level anterior cervical discectomy and fusion",
    "12 lead EKG",
    "Cold therapy for one week",
    "Physical therapy three times weekly",
    "Physical therapy 2 times a week for 2 months",
]

RULES = [
    ("Norco 10/325mg, one hundred twenty count", 120),
    ("Norco 10/325 QTY: 1,000", 1000),
    ("Twenty-four sessions of physical therapy", 24),
    ("Physical therapy twice a week for 4 weeks", 8),
    ("Acupuncture once a week for six weeks", 6),
    ("Physical therapy 3x/week x 4 weeks", 12),
    ("Trigger point injection once a month for 3 months", 3),
    ("Retrospective 1 knee scooter", 1),
    # No remaining amount named: original minus authorized, both "#" counts.
    (
        "Norco 10/325 #90 was the original request. The Claims Administrator authorized "
        "Norco 10/325 #30, leaving the original request of Norco 10/325 for the remaining "
        "2 months",
        60,
    ),
    (
        "Norco #90 was the original request. Norco #30 was authorized by the Claims "
        "Administrator. The remaining IMR eligible portion of the original request, Norco",
        60,
    ),
    # Different kinds of amount cannot be subtracted.
    (
        "One month supply of Norco was the original request. The Claims Administrator "
        "authorized Norco #5, leaving the original request of Norco for the remaining month",
        None,
    ),
]

SPANS = [
    ("Prospective request for 1 prescription of Norco 10/325mg #150", "#150"),
    ("Norco 10/325 QTY: 60.00", "QTY: 60.00"),
    ("Norco 10/325 mg, sixty count", "sixty count"),
    (
        "Physical therapy 2 times a week for 6 weeks bilateral shoulder",
        "2 times a week for 6 weeks",
    ),
    ("Physical exam 2 times 8", "2 times 8"),
    ("Associated surgical service: Physical therapy, times 12", "times 12"),
    ("Six physical therapy visits for the lumbar", "Six physical therapy visits"),
    ("Four sessions of physical therapy two times a week times 2 weeks", "Four sessions"),
    ("Associated surgical service: 2 leg wraps", "2"),
    ("Retrospective Cyclobenzaprine 5mg tab #30 DOS: 11/14/16", "#30"),
    (
        "Norco 10/325mg #60 was the original request. Norco 10/325mg #25 was authorized by "
        "the Claims Administrator. The remaining IMR eligible portion of the original "
        "request, Norco 10/325mg #35",
        "#35",
    ),
]

STRENGTHS = [
    ("Prospective request for 1 prescription of Norco 10/325mg #150", "10/325mg"),
    ("Prospective request for 1 prescription of Zanaflex 6mg #60", "6mg"),
    ("Norco 10/325 mg, sixty count", "10/325 mg"),
    ("Norco 10/325 QTY: 60.00", "10/325"),
    ("Cyclobenzaprine 7.5mg #60", "7.5mg"),
    ("Lidocaine 5% patch #1", "5%"),
    ("Norco 5/325mg oral tablet, one tablet twice daily 14 days #40", "5/325mg"),
    ("Retrospective Cyclobenzaprine 5mg tab #30 DOS: 11/14/16", "5mg"),
    ("Pantoprazole 40mg, one by mouth, twice a day #60 with one refill", "40mg"),
    ("Diclofenac sodium 3% 300mg/g #1", "3%"),
    ("Diclofenac sodium 300mg/g #1", "300mg/g"),
    ("Retrospective Lidopro 4%-27.5%-0.0325% 121gm #1, per 12/07/2016 order", "4%-27.5%-0.0325%"),
    ("Fanatrex 25mg/ml oral suspension 420ml", "25mg/ml"),
    ("Dicopanol 5mg/ml oral suspension, 150ml", "5mg/ml"),
    ("Fentanyl 25mcg/hr patch #10", "25mcg/hr"),
    (
        "One container of Flurbiprofen 10%, Cyclobenzaprine 3%, Gabapentin 6%, Lidocaine "
        "5%/Dextromethorphan",
        "10%",
    ),
    # A partial-UR heading: the IMR-eligible restatement at the end is read as written.
    (
        "One month supply of Trezix capsule 320.5/30/16mg was the original request. The Claims "
        "Administrator authorized Trezix capsule 320.5/30/16mg #5, leaving the original request "
        "IMR eligible. The original request, one month supply of Trezix capsule 30.5/30/16mg",
        "30.5/30/16mg",
    ),
    ("Trezix capsule 320.5/30/16mg", "320.5/30/16mg"),
    ("Motrin 600mg #40", "600mg"),
    ("Post-op Percocet 5/325mg", "5/325mg"),
    ("MRI of the right shoulder without contrast", None),
    ("Retrospective CT scan of the cervical spine (DOS 11/18/16)", None),
    ("Retrospective E-stim (DOS 12/29/16)", None),
    ("Retrospective TENS unit, per 12/07 order", None),
    ("Right L4 transforaminal epidural steroid injection", None),
    ("Wrist braces #2", None),
    ("Norco QTY: 60.00", None),
    ("Physical therapy 2-3 times a week for 6 weeks", None),
    ("Twelve manual acupuncture visits (15 mins), 2 times weekly for 6 weeks", None),
    ("Associated surgical service: Vascutherm unit, 14 days rental", None),
    ("Purchase of a bedside 3 in 1 commode", None),
    ("Lidopro ointment 121gm", None),
    ("Tabradol oral suspension, 250ml", None),
]


NUMBER_TEXT = re.compile(r"\d|\b(?:one|two|three|four|six|eight|twelve|sixty)\b", re.I)


def _value(parsed: Parsed | None) -> float | str | None:
    """The parsed value, or None when nothing was found."""
    return None if parsed is None else parsed.value


@pytest.mark.parametrize(("request_text", "expected"), LABELLED + RULES)
def test_quantity(request_text: str, expected: float | None) -> None:
    assert _value(parse_quantity(request_text)) == expected


def test_labelled_table_is_complete() -> None:
    assert len(LABELLED) == 170


@pytest.mark.parametrize("request_text", NEAR_MISSES)
def test_near_miss_has_no_quantity(request_text: str) -> None:
    assert parse_quantity(request_text) is None


@pytest.mark.parametrize(("request_text", "expected"), SPANS)
def test_quantity_span(request_text: str, expected: str) -> None:
    parsed = parse_quantity(request_text)
    assert parsed is not None
    assert request_text[parsed.start : parsed.end] == expected


@pytest.mark.parametrize(("request_text", "expected"), LABELLED)
def test_quantity_span_holds_a_number(request_text: str, expected: float | None) -> None:
    parsed = parse_quantity(request_text)
    if parsed is not None:
        assert NUMBER_TEXT.search(request_text[parsed.start : parsed.end])


@pytest.mark.parametrize(("request_text", "expected"), STRENGTHS)
def test_strength(request_text: str, expected: str | None) -> None:
    parsed = parse_strength(request_text)
    assert _value(parsed) == expected
    if parsed is not None:
        assert request_text[parsed.start : parsed.end] == expected


def test_results_are_frozen() -> None:
    parsed = parse_quantity("Norco 10/325mg #60")
    assert parsed == Parsed(60.0, 15, 18)
    with pytest.raises(AttributeError):
        parsed.value = 1.0  # type: ignore[misc]
