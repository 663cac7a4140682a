"""The guideline phrases that state a reason, as regular expressions (read by ``reasons``).

Written from MTUS, ACOEM and ODG language as reviewers apply it ("there is no documentation
of objective functional improvement"), not from single letters. Text is normalized: words
may be separated by a newline, so every gap is ``\\s``.
"""

from __future__ import annotations

import re

from imr_llm.models import Reason

R = Reason
_I = re.I
NEG = (
    r"(?:no|not(?!\s+(?:be\s+)?recommended)|nor|none|never|without|absent|absence|lack(?:s|ed|ing)?|cannot|n't|unable|"
    r"neither|denie[sd]|negative|fail(?:s|ed)?\s+to|insufficient|inadequate)"
)


def negated(phrase: str, gap: int = 120, skip: str = "") -> re.Pattern[str]:
    """``phrase`` after a negation in the same clause, or followed by "was not documented".

    ``skip`` is a word the gap between the negation and the phrase must not hold.
    """
    between = rf"(?:(?!\b{skip}\b)[^.;])" if skip else "[^.;]"
    after = (
        r"[^.;]{0,60}?\b(?:not|never)\s+(?:been\s+)?(?:documented|noted|provided|shown|"
        r"demonstrated|established|reported|included|evident|present|described|identified|"
        r"indicated|checked|performed|obtained|queried|addressed|discussed)"
    )
    return re.compile(rf"\b{NEG}\b{between}{{0,{gap}}}?\b(?:{phrase})|\b(?:{phrase}){after}", _I)


IMPROVEMENT = (
    r"(?:objective|functional|measurable|quantif\w+|significant|specific|documented|sustained|"
    r"meaningful|clinical(?:ly)?)\s+(?:\w+\s+)?(?:improvement|benefit|gains?)|"
    r"function(?:al)?\s+(?:improvement|benefit|gains?|response|status\s+improvement)|"
    r"improve(?:ment|d)\s+(?:in\s+|of\s+)?(?:function|pain|activit|daily)|"
    r"(?:increased|improved)\s+function|(?:pain|analgesic|symptom\w*)\s+(?:relief|benefit|"
    r"effect|reduction|improvement|response)|effect\s+of\s+(?:the\s+)?(?:drug|medication)|"
    r"(?:is|was|has\s+been)\s+[\"\u201c]?(?:improving|helping)|response\s+to\s+(?:the\s+)?"
    r"(?:prior\s+|previous\s+)?(?:therapy|treatment|medication|sessions)|"
    r"(?:therapy|treatment)\s+outcomes?|(?:objective|functional|clinical)\s+response|"
    r"(?:decrease|reduction)\s+in\s+(?:the\s+)?pain|(?:VAS|NRS)\b|pain\s+(?:scores?|levels?)\s+(?:\w+\s+)?(?:reduc|decreas|improv)\w*"
)
_CONSERVATIVE = (
    r"conservative\s+(?:care|treatments?|therap(?:y|ies)|management|measures|modalities)|"
    r"first[-\s]line\s+(?:\w+\s+)?(?:treatments?|therap(?:y|ies)|medications?|agents?|drugs?)|"
    r"oral\s+(?:medications?|analgesics|agents|capsules|tablets|drugs|formulations?)|"
    r"non-?opioid\s+(?:\w+\s+)?(?:medications?|analgesics|treatments?)|failed\s+(?:\w+\s+){0,2}?"
    r"(?:treatments?|therap(?:y|ies)|trials?)|failure\s+of\s+(?:other|prior|previous|more\s+\w+)\s+"
    r"(?:\w+\s+)?(?:treatments?|therap(?:y|ies)|methods|measures|modalities|options)|(?:trial|course)\s+of\s+(?:physical\s+therapy|"
    r"PT|oral|first[-\s]line|NSAIDs?|antidepressants|anticonvulsants)|(?:trials?|failures?)\s+"
    r"(?:and\s+failure\s+)?of\s+(?:an?\s+)?(?:\w+\s+){0,2}?(?:antidepressants?|anticonvulsants?|"
    r"tricyclics?|NSAIDs?|acetaminophen|medications|physical\s+therapy|exercise|injections?)"
)
# What a guideline's indications ask of the patient: a finding, a diagnosis, a candidacy.
_FINDING = (
    r"neurolog\w*|radicul\w*|nerve\s+(?:root\s+)?(?:compromise|impairment|dysfunction|"
    r"entrapment|involvement)|neuropath\w*|myelopath\w*|tissue\s+insult|deficits?|spasms?|"
    r"instability|effusion|stenosis|impingement|mechanical\s+symptoms|"
    r"(?:exam(?:ination)?|objective|clinical|imaging)\s+(?:findings|evidence|signs)|"
    r"diagnos[ei]s|candidate|surg(?:ery|ical)|risk\s+factors?|gastrointestinal|GI\s+\w+|"
    r"pathology|exacerbation|criteria|adjunct|(?:home|\d+-day|one-month|month)\s+trial|"
    r"indications?\s+for\s+(?!(?:the\s+)?(?:ongoing|continued|further\s+use|this\s+medication|"
    r"the\s+medication))"
)
_UNSPECIFIED = (
    r"(?:fail(?:s|ed)?\s+to|did\s+not|does\s+not|not)\s+(?:specify|specified|state|stated|"
    r"indicate|include|provide|list)\s+(?:the\s+|a\s+)?"
)
_TEST = r"MRI|CT|x-?rays?|radiographs?|films?|EMG|NCS|NCV|electrodiagnostic\s+stud\w+|scans?"
_DUPLICATE = (
    rf"(?=.*\b(?:unclear|not\s+clear|no\s+(?:clear\s+|new\s+)?(?:rationale|reason|indication)|"
    rf"without\s+(?:a\s+)?(?:new|clear))\b).*?\b(?:repeat(?:ed)?\s+(?:\w+\s+){{0,3}}?"
    rf"(?:{_TEST}|stud\w+|imaging|tests?)|(?:additional|another|second)\s+(?:{_TEST}))\b"
)
_EXCEEDS = (
    r"(?<!not\s)(?<!n't\s)\bexceed(?:s|ed|ing)?\b|(?<!not\s)\bin\s+excess\s+of|\bexcessive\b|"
    r"\bexcess\s+(?:\w+\s+)?(?:therapy|visits|sessions|treatment)|\bshortest\s+(?:period|"
    r"duration|time)|\b(?:long[-\s]?term|prolonged|chronic)\s+(?:/\s*chronic\s+)?(?:\w+\s+)?"
    r"(?:use|usage)\b|\b(?:beyond|longer\s+than|more\s+than)\s+(?:the\s+)?(?:recommended|"
    r"guidelines?)|\bsurpass\w*|\bupper\s+limit"
)
_QUANTITY_UNSTATED = (
    rf"\b{_UNSPECIFIED}(?:amount|quantity|number|frequency|duration|dosage|length)\b|"
    r"\b(?:amount|quantity|frequency|duration)\s+(?:\w+\s+){0,4}?(?:was|is|were)\s+not\s+"
    r"(?:specified|stated|indicated|provided)"
)
_NOT_MET = (
    r"\b(?:does|do|did)\s+not\s+(?:meet|satisfy|fulfil+)\b|\bnot\s+(?:a\s+)?(?:surgical\s+)?"
    r"candidate\b|\b(?:does|do|did)\s+not\s+(?:indicate|show|demonstrate|suggest|reveal|"
    r"document|establish|support)\s+that\s+(?:the\s+)?(?:patient|claimant|injured\s+worker|"
    r"worker|employee|he|she)\s+(?:has|had|is|was|suffers|meets)|\b(?:guidelines?|criteria|"
    r"requirements|indications)\s+(?:\w+\s+){0,3}?(?:have|has|were|was|are|is)\s+not\s+(?:been\s+)?"
    r"met\b|\b(?:findings|evidence)\s+"
    r"(?:\w+\s+){0,2}?(?:do|does|did)\s+not\s+(?:support|warrant|justify|indicate|provide)"
)
_UNCLEAR = (
    r"\b(?:unclear|not\s+clear)\b|\bhow\s+many\b|\b(?:no|lack\s+of|without|absence\s+of|"
    r"not\s+provide)\s+(?:a\s+)?(?:clear\s+|specific\s+|objective\s+|medical\s+|clinical\s+)?"
    r"(?:rationale|explanation|justification)"
)
# Opioid monitoring (the "4 A's", drug screens) and a therapy's visit count.
_MONITORING = (
    r"urine\s+drug|UDS|drug\s+(?:screen|test)\w*|CURES|(?:opioid|opiate|pain)\s+(?:agreement|"
    r"contract)|aberrant|side\s+effects|monitoring|compliance|4\s*A'?s|number\s+of\s+"
    r"(?:prior\s+|previous\s+)?(?:sessions|visits|treatments)\s+(?:completed|attended)"
)

# Denial codes, read only in the reviewer's own sentences, in order of precedence.
FINDING_CUES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (R.NO_RED_FLAGS, negated(r"red[\s-]*flags?")),
    (
        R.NO_RED_FLAGS,
        negated(
            r"(?:new|progressive|worsen\w*)\s+(?:or\s+\w+\s+)?(?:neurolog\w*\s+)?"
            r"(?:deficits?|findings|symptoms|signs)|change\s+in\s+(?:the\s+)?(?:\w+'s\s+)?"
            r"(?:condition|symptoms|findings|clinical|status|presentation)|"
            r"(?:serious|significant|underlying)\s+(?:\w+\s+)?(?:pathology|condition)|"
            r"suspicion\s+(?:of|for)"
        ),
    ),
    (R.NO_FUNCTIONAL_IMPROVEMENT, negated(IMPROVEMENT)),
    (R.CONSERVATIVE_CARE_NOT_TRIED, negated(_CONSERVATIVE, 160)),
    (R.EXCEEDS_QUANTITY_OR_DURATION, re.compile(_EXCEEDS, _I)),
    (R.EXCEEDS_QUANTITY_OR_DURATION, negated(r"short[-\s]term")),
    (R.EXCEEDS_QUANTITY_OR_DURATION, re.compile(_QUANTITY_UNSTATED, _I)),
    (
        R.DUPLICATE_OR_ALREADY_DONE,
        re.compile(
            r"\balready\s+(?:been\s+)?(?:authorized|approved|certified|performed|done|obtained|"
            rf"scheduled)\b|\b(?:duplicat\w+|redundant)\b|\balready\s+(?:had|underwent|undergone|"
            rf"received)\s+(?:an?\s+)?(?:\w+\s+)?(?:{_TEST})\b",
            _I,
        ),
    ),
    (R.DUPLICATE_OR_ALREADY_DONE, re.compile(_DUPLICATE, _I | re.S)),
    (
        R.OTHER,
        re.compile(
            rf"\b{_UNSPECIFIED}(?:a|the|which)\s+(?:body\s+part|side|level|location|region|"
            r"laterality|type\s+of\s+(?:procedures?|surgery))",
            _I,
        ),
    ),
    (R.CRITERIA_NOT_MET, negated(_FINDING)),
    (R.CRITERIA_NOT_MET, re.compile(_NOT_MET, _I)),
    (R.INSUFFICIENT_DOCUMENTATION, re.compile(_UNCLEAR, _I)),
    (R.INSUFFICIENT_DOCUMENTATION, negated(_MONITORING)),
)
# Missing records in general ("no documentation was provided"): only when nothing more
# specific is said; "the absence of such documentation" looks back, so it does not count.
MISSING = negated(
    r"(?:documentation|records?|information|notes|reports?|evaluation|examinations?|exams?|"
    r"evidence)|(?<=not\s)(?:document|address)\b",
    30,
    skip="such",
)
NOT_RECOMMENDED = re.compile(
    r"\bnot\s+(?:be\s+)?recommended\b|\b(?:does|do)\s+not\s+recommend\b|"
    r"\b(?:is|are)\s+(?:considered\s+)?(?:experimental|investigational)\b|"
    r"\bnot\s+supported\s+by\s+(?:the\s+)?(?:MTUS|ACOEM|ODG|guidelines?|evidence)",
    _I,
)
# "not recommended for longer than 2-3 weeks", "not recommended as a primary treatment",
# "addition to other agents is not recommended": a use, dose or setting, not the treatment.
QUALIFIED = re.compile(
    r"\b(?:longer|more|beyond|over|as\s+an?|as\s+first|routine(?:ly)?|during|until|unless|"
    r"except|without|absence|in\s+patients|for\s+patients|first[-\s]line|long[-\s]?term|"
    r"short[-\s]?term|prolonged|chronic\s+use|repeat|passive|surface|if|when|but|only|"
    r"addition|combination|combined|other\s+agents)\b",
    _I,
)
DEPENDS = re.compile(
    r"\b(?:associated|ancillary|assistant\s+surgeon|pre-?op\w*|post-?op\w*|peri-?op\w*|"
    r"concurrent|companion)\b(?=.*\bnot\s+(?:medically\s+necessary|certified|supported|approved|"
    r"authorized|indicated)|.*non-?certified)(?=.*\b(?:surg\w+|procedures?|operation|primary))|"
    r"\b(?:since|as|because|given\s+that)\s+(?:the\s+)?(?:requested\s+|proposed\s+|primary\s+|"
    r"\w+\s+)?(?:surg\w+|procedure|operation|\w+\s+(?:surgery|procedure))\s+(?:\w+\s+){0,3}?"
    r"(?:is|was|has\s+been|have\s+been)\s+(?:not|non-?certified|denied)|"
    r"\bnot\s+(?:medically\s+necessary|appropriate|certified|indicated|warranted)\b[^.]*?"
    r"\b(?:therefore|thus|hence|consequently)\b[^.]*?\bnot\s+(?:medically\s+)?necessary",
    _I | re.S,
)
BENEFIT = re.compile(
    r"\b(?:functional|objective|significant|documented|measurable|meaningful)\s+(?:\w+\s+)?"
    r"(?:improvement|benefit|gains?)|\bimprove(?:ment|d)\s+(?:in\s+)?(?:function|pain|activit)|"
    r"\b(?:increased|improved)\s+function|\b(?:pain|symptom)\s+(?:relief|reduction|improvement)|"
    r"\b(?:is|was|has\s+been)\s+[\"\u201c]?(?:improving|helping)|\b(?:reported|reports|noted|"
    r"documented|demonstrated|experienced)\s+(?:\w+\s+)?(?:benefit|improvement|relief)|"
    r"\b(?:reduc|decreas)\w*\s+(?:\w+\s+){0,3}?from\s+\d+\s*/\s*10|"
    r"\d+\s*%\s+(?:\w+\s+){0,2}?(?:improvement|reduction|relief|decrease)",
    _I,
)
CONDITIONAL = re.compile(rf"\b(?:{NEG}|if|would|should|may|upon|contingent|unless)\b", _I)
MET = re.compile(
    r"(?<!not\s)(?<!not\sbe\s)\b(?:is|are|was|were|be)\s+(?:considered\s+|deemed\s+|"
    r"determined\s+to\s+be\s+|also\s+)?(?:medically\s+necessary|appropriate|indicated|warranted|"
    r"reasonable|supported)\b|\bmeets?\b|\bwithin\s+(?:the\s+)?(?:guidelines?|recommend)|"
    r"\bnot\s+in\s+excess\b|\b(?:does|do)\s+not\s+exceed\b|\b(?:consistent|in\s+accordance)\s+"
    r"with\s+(?:the\s+)?(?:MTUS|ACOEM|ODG|guidelines?|recommend)",
    _I,
)
ATTRIBUTED = re.compile(
    r"\b(?:MTUS|ACOEM|ODG|CPMTG|guidelines?|Official\s+Disability)\b[^.]{0,100}?\b(?:states?|"
    r"stated|recommends?|notes?|supports?|indicates?|discuss(?:es)?|specif(?:y|ies)|"
    r"clarif(?:y|ies)|writes?|advises?|allows?|considers?|cites?|refers?|says|encourages?|"
    r"do(?:es)?\s+not\s+(?:recommend|support|address))\b|^\W*(?:according\s+to|per|as\s+per|"
    r"regarding|with\s+regard\s+to)\b[^,]{0,80}\b(?:MTUS|ACOEM|ODG|guidelines?)\b|"
    r"^\W*(?:not\s+)?recommended\b|\b(?:can|may|should|must)\s+be\b|\b(?:is|are)\s+(?:also\s+)?"
    r"(?:recommended|supported|indicated)\s+(?:when|if|for|in|as)\b",
    _I,
)
# The reviewer speaking of this patient and this request, not of the guideline in general.
OWN = re.compile(
    r"\b(?:the|this|our)\s+(?:patient|claimant|injured\s+worker|worker|employee|applicant)\b|"
    r"\bin\s+this\s+case\b|\b(?:he|she|his|her|him)\b|\b(?:medical\s+)?records?\b|\bsubmitted\b|"
    r"\bprovided\b|\bprogress\s+(?:notes?|reports?)\b|\btreating\s+(?:physician|provider)\b|"
    r"\bfor\s+(?:my\s+)?review\b|\bhowever\b|medically\s+necessary|"
    r"\bthere\s+(?:was|were|has\s+been|have\s+been)\b|"
    r"\b(?:is|are|was|were)\s+(?:not\s+)?(?:noted|documented|reported|described)\b",
    _I,
)
# The reviewer's words too, unless the sentence cites a guideline ("Regarding the request
# for naproxen, the guidelines state ...").
WEAK_OWN = re.compile(r"\b(?:the|this)\s+request(?:ed)?\b|\bthe\s+(?:\w+\s+)?documentation\b", _I)
CONCLUSION = re.compile(r"medically\s+necessary|medical\s+necessity", _I)
