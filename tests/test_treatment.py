"""Treatment anchors: drugs, services, near-misses and accuracy over the labelled corpus."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from imr_llm.models import Category
from imr_llm.treatment.drugs import DRUGS
from imr_llm.treatment.lexicon import resolve_treatment
from imr_llm.treatment.services import RULES
from imr_llm.treatment.taxonomy import nearest

CORPUS = Path(__file__).parent / "data" / "corpus"
PT_OT = "Physical Therapy/Occupational Therapy (PT/OT)"
IMAGING = "Imaging * Radiology"
# Spellings in the corpus labels, plus DWC pharmaceutical subcategories named in issue 7.
SUBCATEGORIES = {
    "Opioids", "Muscle Relaxant", "NSAID", "Antidepressant", "Anti-epilepsy drugs",
    "Proton Pump Inhibitors", "H2 Blocker", "Antiemetic", "Antihistamine", "Topical Analgesics",
    "Topical Compounds", "Sedative-hypnotics", "Benzodiazepine", "Impotence Agents",
    "Nutritional Products", IMAGING, "EMG/NCV/NCS", "Lab & Pathology", "Other Diagnostic Tests",
    PT_OT, "Chiropractic", "Acupuncture", "Other Therapies", "Injection", "Arthroscopic Surgery",
    "Surgical Consult", "Adjunct Surgical Services", "DME", "Prosthetics/Orthotics",
    "Electrical Stimulation", "Supplies", "Medical Specialties", "Therapies",
}  # fmt: skip

# (request, treatment, generic_name, subcategory, words the resolution rests on)
DRUG_CASES = [
    ("Norco 10/325mg #160", "Norco", "hydrocodone/acetaminophen", "Opioids", "Norco"),
    ("Percocet 5/325mg", "Percocet", "oxycodone/acetaminophen", "Opioids", "Percocet"),
    ("Vicoprofen 7.5/200mg #60", "Vicoprofen", "hydrocodone/ibuprofen", "Opioids", "Vicoprofen"),
    ("Ultracet 37.5/325mg", "Ultracet", "tramadol/acetaminophen", "Opioids", "Ultracet"),
    ("Ultram 50mg QTY: 360.00", "Ultram", "tramadol", "Opioids", "Ultram"),
    ("Soma 350mg QTY: 240.00", "Soma", "carisoprodol", "Muscle Relaxant", "Soma"),
    ("Zanaflex 6mg #60", "Zanaflex", "tizanidine", "Muscle Relaxant", "Zanaflex"),
    ("Zoloft 100mg #60", "Zoloft", "sertraline", "Antidepressant", "Zoloft"),
    ("Pepcid 20mg", "Pepcid", "famotidine", "H2 Blocker", "Pepcid"),
    ("Post-op Zofran", "Zofran", "ondansetron", "Antiemetic", "Zofran"),
    ("Motrin 600mg #40", "Motrin", "ibuprofen", "NSAID", "Motrin"),
    ("Ambien 10mg #30", "Ambien", "zolpidem", "Sedative-hypnotics", "Ambien"),
    ("Xanax 0.5mg #30", "Xanax", "alprazolam", "Benzodiazepine", "Xanax"),
    ("Cialis 5mg #30", "Cialis", "tadalafil", "Impotence Agents", "Cialis"),
    ("Prilosec 20mg #60", "Prilosec", "omeprazole", "Proton Pump Inhibitors", "Prilosec"),
    ("Tylenol with codeine #3", "Tylenol with codeine", "acetaminophen/codeine", "Opioids",
     "Tylenol with codeine"),
    ("Butrans patch 10mcg/hr #4", "Butrans", "buprenorphine", "Opioids", "Butrans"),
    ("One month supply of Trezix capsule 320.5/30/16mg", "Trezix",
     "acetaminophen/caffeine/dihydrocodeine", "Opioids", "Trezix"),
    ("Fanatrex 25mg/ml oral suspension 420ml", "Fanatrex", "gabapentin", "Anti-epilepsy drugs",
     "Fanatrex"),
    ("Dicopanol 5mg/ml oral suspension", "Dicopanol", "diphenhydramine", "Antihistamine",
     "Dicopanol"),
    ("Deprizine 15mg/ml oral suspension", "Deprizine", "ranitidine", "H2 Blocker", "Deprizine"),
    ("Tabradol 1mg/ml oral suspension", "Tabradol", "cyclobenzaprine", "Muscle Relaxant",
     "Tabradol"),
    ("Retrospective Lidopro 4%-27.5%-0.0325% 121gm #1", "Lidopro",
     "capsaicin/lidocaine/menthol/methyl salicylate", "Topical Analgesics", "Lidopro"),
    ("Terocin patch #30", "Terocin", "methyl salicylate/capsaicin/menthol/lidocaine",
     "Topical Analgesics", "Terocin"),
    ("Voltaren gel 1% 100gm", "Voltaren gel", "diclofenac", "Topical Analgesics", "Voltaren gel"),
    ("Theramine #120", "Theramine", None, "Nutritional Products", "Theramine"),
    ("Sentra PM #60", "Sentra", None, "Nutritional Products", "Sentra"),
    # generics, with salt and release words around them
    ("Cyclobenzaprine 7.5mg #60", "cyclobenzaprine", "cyclobenzaprine", "Muscle Relaxant",
     "Cyclobenzaprine"),
    ("Orphenadrine Citrate ER 100mg tabs #30", "orphenadrine", "orphenadrine", "Muscle Relaxant",
     "Orphenadrine"),
    ("Naproxen sodium 550mg #60", "naproxen", "naproxen", "NSAID", "Naproxen"),
    ("Pantoprazole 40mg, one by mouth, twice a day #60", "pantoprazole", "pantoprazole",
     "Proton Pump Inhibitors", "Pantoprazole"),
    ("Gabapentin 600mg #90", "gabapentin", "gabapentin", "Anti-epilepsy drugs", "Gabapentin"),
    # combinations of generics
    ("Hydrocodone/APAP 10/325mg #120", "hydrocodone/acetaminophen", "hydrocodone/acetaminophen",
     "Opioids", "Hydrocodone/APAP"),
    ("Naproxen 550mg and cyclobenzaprine 7.5mg", "naproxen/cyclobenzaprine",
     "naproxen/cyclobenzaprine", None, "Naproxen 550mg and cyclobenzaprine"),
    # topical forms and compounds
    ("Lidocaine 5% patch #1", "lidocaine patch", "lidocaine", "Topical Analgesics", "Lidocaine"),
    ("Lidocaine ointment 5% #1", "lidocaine ointment", "lidocaine", "Topical Analgesics",
     "Lidocaine"),
    ("Diclofenac sodium 3% 300mg/g #1", "diclofenac topical", "diclofenac", "Topical Analgesics",
     "Diclofenac"),
    ("Cyclobenzaprine 2% cream 120gm", "cyclobenzaprine cream", "cyclobenzaprine",
     "Topical Compounds", "Cyclobenzaprine"),
    ("Flurbiprofen 20%/Cyclobenzaprine 10% cream 180gm", "flurbiprofen/cyclobenzaprine cream",
     "flurbiprofen/cyclobenzaprine", "Topical Compounds", "Flurbiprofen 20%/Cyclobenzaprine"),
    ("One container of Flurbiprofen 10%, Cyclobenzaprine 3%, Gabapentin 6%, Lidocaine "
     "5%/Dextromethorphan", "flurbiprofen/cyclobenzaprine/gabapentin/lidocaine/dextromethorphan "
     "cream", "flurbiprofen/cyclobenzaprine/gabapentin/lidocaine/dextromethorphan",
     "Topical Compounds",
     "Flurbiprofen 10%, Cyclobenzaprine 3%, Gabapentin 6%, Lidocaine 5%/Dextromethorphan"),
    # one-letter misspellings of long names
    ("Cyclobenzeprine 10mg #60", "cyclobenzaprine", "cyclobenzaprine", "Muscle Relaxant",
     "Cyclobenzeprine"),
    ("Zanalfex 4mg #30", "Zanaflex", "tizanidine", "Muscle Relaxant", "Zanalfex"),
    ("Gabapentine 300mg", "gabapentin", "gabapentin", "Anti-epilepsy drugs", "Gabapentine"),
]  # fmt: skip

# (request, treatment, category, subcategory, words the resolution rests on)
SERVICE_CASES = [
    ("MRI of the right shoulder without contrast", "MRI shoulder", "Diagnostic Testing",
     IMAGING, "MRI"),
    ("Cervical spine MRI without contrast", "MRI cervical spine", "Diagnostic Testing", IMAGING,
     "MRI"),
    ("MRI of neck and right hand without contrast", "MRI cervical spine and hand",
     "Diagnostic Testing", IMAGING, "MRI"),
    ("Magnetic resonance imaging (MRI) of the right shoulder", "MRI shoulder",
     "Diagnostic Testing", IMAGING, "Magnetic resonance imaging"),
    ("Open MRI of the lumbosacral spine", "MRI lumbar spine", "Diagnostic Testing", IMAGING,
     "Open MRI"),
    ("X-rays of the lumbar spine", "X-ray lumbar spine", "Diagnostic Testing", IMAGING,
     "X-rays"),
    ("Associated surgical service: Chest x-ray", "chest X-ray", "Diagnostic Testing", IMAGING,
     "x-ray"),
    ("Cervical CT scan", "CT cervical spine", "Diagnostic Testing", IMAGING, "CT scan"),
    ("Bone scan", "bone scan", "Diagnostic Testing", IMAGING, "Bone scan"),
    ("Ultrasound of the right shoulder", "ultrasound shoulder", "Diagnostic Testing", IMAGING,
     "Ultrasound"),
    ("NCV/EMG of the bilateral upper extremity", "EMG/NCV upper extremities",
     "Diagnostic Testing", "EMG/NCV/NCS", "NCV/EMG"),
    ("Urine drug screen", "urine drug screen", "Diagnostic Testing", "Lab & Pathology",
     "Urine drug screen"),
    ("Associated surgical service: Labs - PT/PTT", "PT/PTT", "Diagnostic Testing",
     "Lab & Pathology", "PT/PTT"),
    ("Associated surgical service: UA", "urinalysis", "Diagnostic Testing", "Lab & Pathology",
     "UA"),
    ("Associated surgical service: EKG", "EKG", "Diagnostic Testing", "Other Diagnostic Tests",
     "EKG"),
    ("Functional capacity evaluation", "functional capacity evaluation", "Diagnostic Testing",
     "Other Diagnostic Tests", "Functional capacity evaluation"),
    ("Trigger points impedance imaging (TPII)", "trigger point impedance imaging",
     "Diagnostic Testing", "Other Diagnostic Tests", "Trigger points impedance imaging"),
    ("Physical therapy 2-3 times a week for 6 weeks", "physical therapy", "Rehabilitation",
     PT_OT, "Physical therapy"),
    ("PT/OT 18 sessions left hand", "PT/OT", "Rehabilitation", PT_OT, "PT/OT"),
    ("Chiro with modalities 2 times a week for 6 weeks", "chiropractic care", "Rehabilitation",
     "Chiropractic", "Chiro"),
    ("Spinal manipulation 1 times 8", "chiropractic manipulation", "Rehabilitation",
     "Chiropractic", "Spinal manipulation"),
    ("Twelve elect acupuncture visits (15 mins)", "electroacupuncture", "Rehabilitation",
     "Acupuncture", "elect acupuncture"),
    ("Twelve acupuncture visits with Capsaicin patch", "acupuncture", "Rehabilitation",
     "Acupuncture", "acupuncture"),
    ("Ultrasound 1 times 8", "ultrasound therapy", "Rehabilitation", "Other Therapies",
     "Ultrasound 1 times"),
    ("Retrospective E-stim (DOS 12/29/16)", "electrical stimulation", "Rehabilitation",
     "Other Therapies", "E-stim"),
    ("Right L4 transforaminal epidural steroid injection under fluoroscopic guidance",
     "epidural steroid injection", "Injection", "Injection", "epidural steroid injection"),
    ("Trigger point injection with lidocaine", "trigger point injection", "Injection",
     "Injection", "Trigger point injection"),
    ("Arthroscopy of the left knee", "knee arthroscopy", "Surgery", "Arthroscopic Surgery",
     "Arthroscopy"),
    ("Operative arthroscopy, superior labral anterior posterior repair, right shoulder",
     "shoulder arthroscopy with SLAP repair", "Surgery", "Arthroscopic Surgery", "arthroscopy"),
    ("Spine surgery evaluation for the lumbar", "spine surgeon evaluation", "Surgery",
     "Surgical Consult", "Spine surgery evaluation"),
    ("Assistant surgeon", "assistant surgeon", "Surgery", "Adjunct Surgical Services",
     "Assistant surgeon"),
    ("Right carpal tunnel release", "carpal tunnel release", "Surgery", None,
     "carpal tunnel release"),
    ("Pre-op Clearance", "medical clearance", "Evaluation & Management", "Medical Specialties",
     "Pre-op Clearance"),
    ("Initial exam", "initial exam", "Evaluation & Management", "Medical Specialties",
     "Initial exam"),
    ("Consultation with a pain management specialist", "pain management consultation",
     "Evaluation & Management", "Medical Specialties", "Consultation with a pain management"),
    ("Partial Hospitalization day treatment", "partial hospitalization", "Psych Services",
     "Therapies", "Partial Hospitalization"),
    ("Functional restoration program 80 hours", "functional restoration program", "Programs",
     None, "Functional restoration program"),
    ("Home health care 4 hours a day", "home health care", "Home Health", None,
     "Home health care"),
    ("Transportation to and from appointments", "transportation", "Transportation", None,
     "Transportation"),
    ("Associated surgical service: EMS/TENS unit", "TENS unit", "DMEPOS",
     "Electrical Stimulation", "EMS/TENS unit"),
    ("Associated surgical service: Cold therapy for one week", "cold therapy unit", "DMEPOS",
     "DME", "Cold therapy"),
    ("Purchase of a bedside 3 in 1 commode", "bedside commode", "DMEPOS", "DME",
     "bedside 3 in 1 commode"),
    ("Wrist braces #2", "wrist brace", "DMEPOS", "Prosthetics/Orthotics", "Wrist braces"),
    ("Associated surgical service: Ultrasling", "shoulder sling", "DMEPOS",
     "Prosthetics/Orthotics", "Ultrasling"),
    ("Hygiene wipes", "hygiene wipes", "DMEPOS", "Supplies", "Hygiene wipes"),
    ("Associated surgical service: 2 leg wraps", "leg wraps", "DMEPOS", "Supplies", "leg wraps"),
]  # fmt: skip

# Nothing in the heading alone says what these are: they must stay unknown.
UNKNOWN = [
    "Physical exam 2 times 8",  # the label follows the rationale (PT), not the heading
    "Exam",
    "Orthopedic consultation",  # surgical consult or E&M: the heading does not say
    "Work hardening 10 sessions",
    "Gym membership",
    "Somatic dysfunction treatment",  # not Soma
    "Ambient 10mg #30",  # one letter from Ambien, but short names match only exactly
    "Toradol 60mg IM injection",  # filed under Injection or NSAID: undecidable
    "Retrospective request DOS 11/14/16",
    "Metformin 500mg #60",  # a drug, but not one the table classifies
    "Lisinopril 10mg #30",
    "",
]


@pytest.mark.parametrize(("request_", "treatment", "generic", "sub", "words"), DRUG_CASES)
def test_drugs(
    request_: str, treatment: str, generic: str | None, sub: str | None, words: str
) -> None:
    res = resolve_treatment(request_)
    assert res is not None
    got = (res.treatment, res.generic_name, res.category, res.subcategory)
    assert got == (treatment, generic, "Pharmaceuticals", sub)
    assert request_[res.start : res.end] == words


@pytest.mark.parametrize(("request_", "treatment", "category", "sub", "words"), SERVICE_CASES)
def test_services(
    request_: str, treatment: str, category: str, sub: str | None, words: str
) -> None:
    res = resolve_treatment(request_)
    assert res is not None
    assert (res.treatment, res.category, res.subcategory, res.generic_name) == (
        treatment,
        category,
        sub,
        None,
    )
    assert res.confidence == "rule"
    assert request_[res.start : res.end] == words


@pytest.mark.parametrize("request_", UNKNOWN)
def test_near_misses_stay_unknown(request_: str) -> None:
    assert resolve_treatment(request_) is None


def test_exact_lexicon_hits_say_so() -> None:
    exact, misspelled = resolve_treatment("Norco 10/325mg #60"), resolve_treatment("Zanalfex 4mg")
    assert exact is not None and exact.confidence == "lexicon"
    assert misspelled is not None and misspelled.confidence == "rule"


def test_medrol_is_not_medrox() -> None:
    res = resolve_treatment("Medrol dose pack")
    assert res is not None and res.generic_name == "methylprednisolone"


def test_partial_ur_heading_resolves_the_eligible_portion() -> None:
    heading = (
        "EMG/NCS of the right upper extremity was the original request. NCS of the right upper "
        "extremity was authorized by the Claims Administrator. The remaining IMR eligible "
        "portion of the original request, EMG of the right upper extremity"
    )
    res = resolve_treatment(heading)
    assert res is not None and res.treatment == "EMG upper extremity"
    assert res.start == heading.rindex("EMG")


def test_partial_ur_heading_falls_back_to_the_first_mention() -> None:
    heading = (
        "Norco 10/325mg #60 was the original request. Norco 10/325mg #25 was authorized by the "
        "Claims Administrator. The remaining IMR eligible portion of the original request, #35"
    )
    res = resolve_treatment(heading)
    assert res is not None and (res.treatment, res.start) == ("Norco", 0)


def test_drug_table_is_clean() -> None:
    names = [d.name for d in DRUGS]
    assert len(names) == len(set(names))
    assert all(n == n.lower() and n.strip() == n for n in names)
    assert {d.kind for d in DRUGS} <= {"brand", "generic", "alias"}
    assert {d.subcategory for d in DRUGS} - {None} <= SUBCATEGORIES
    text = (
        resources.files("imr_llm.treatment").joinpath("data/drugs.csv").read_text(encoding="utf-8")
    )
    rows = list(csv.DictReader(text.splitlines()))
    assert all(row["source_note"].strip() for row in rows)


def test_service_rules_use_the_dwc_taxonomy() -> None:
    assert {r.category for r in RULES} <= {c.value for c in Category}
    assert {r.subcategory for r in RULES} - {None} <= SUBCATEGORIES


def test_stays_pure_and_never_loads_the_optional_dictionary_when_resolved() -> None:
    code = (
        "import sys; from imr_llm.treatment.lexicon import resolve_treatment as r; "
        "[r(q) for q in ('Norco 10/325mg #60', 'MRI of the left hip', 'Physical exam 2 times 8')]; "
        "bad = {'openai', 'instructor', 'drug_named_entity_recognition'} & set(sys.modules); "
        "print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_optional_dictionary_fills_brands_the_table_lacks() -> None:
    pytest.importorskip("drug_named_entity_recognition")
    res = resolve_treatment("Zorvolex 35mg #90")
    assert res is not None
    assert (res.treatment, res.generic_name, res.subcategory) == ("Zorvolex", "diclofenac", "NSAID")


def _labelled_items() -> list[dict[str, object]]:
    items = []
    for sub in ("seeds", "dev"):
        with open(CORPUS / sub / "labels.jsonl", encoding="utf-8") as fh:
            items += [i for line in fh if line.strip() for i in json.loads(line)["items"]]
    return items


def test_accuracy_over_the_labelled_corpus() -> None:
    items = _labelled_items()
    assert len(items) == 170
    pairs = [(resolve_treatment(str(i["request"])), i) for i in items]
    category = sum(r is not None and r.category == i["category"] for r, i in pairs)
    sub = sum(r is not None and r.subcategory == i["subcategory"] for r, i in pairs)
    assert category / len(items) >= 0.97
    assert sub / len(items) >= 0.90
    wrong_drugs = [
        (i["request"], r)
        for r, i in pairs
        if r is not None
        and i["category"] == "Pharmaceuticals"
        and (r.category, r.subcategory) != (i["category"], i["subcategory"])
    ]
    assert wrong_drugs == []


def test_nearest_entries_meet_across_plurals_and_read_as_answer_fields() -> None:
    # "braces" finds the "brace" entry, and "glove" the "gloves" one.
    found = nearest("Wrist braces #2")
    assert [ex.name for ex in found] == ["brace"]
    assert json.loads(found[0].line()) == {
        "treatment": "brace",
        "category": "DMEPOS",
        "subcategory": "Prosthetics/Orthotics",
    }
    assert nearest("one glove")[0].name == "gloves"
    assert nearest("kinesio tape") == []
