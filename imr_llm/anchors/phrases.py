"""The guideline phrases that state a reason, as regular expressions (read by ``reasons``).

Written from MTUS, ACOEM and ODG language as reviewers apply it ("there is no documentation
of objective functional improvement"), not from single letters. Text is normalized: words
may be separated by a newline, so every gap is ``\\s``.
"""

from __future__ import annotations

import re

from imr_llm.anchors.gates import Negated, Rule, caseless, keyed, rule, words
from imr_llm.models import Reason

R = Reason
NEG = (
    r"(?:no|not(?!\s+(?:be\s+)?recommended)|nor|none|never|without|absent|absence|"
    r"lack(?:s|ed|ing)?|cannot|n't|unable|neither|denie[sd]|negative|fail(?:s|ed)?\s+to|"
    r"insufficient|inadequate)"
)
_AFTER = (
    r"[^.;]{0,60}?\b(?:not|never)\s+(?:been\s+)?(?:documented|noted|provided|shown|"
    r"demonstrated|established|reported|included|evident|present|described|identified|"
    r"indicated|checked|performed|obtained|queried|addressed|discussed)"
)


def negated(phrase: str, gap: int = 120, skip: str = "", keys: str = "") -> Negated:
    """``phrase`` after a negation in the same clause, or followed by "was not documented".

    ``skip`` is a word the gap between the negation and the phrase must not hold; ``keys``
    ("a|b") are words every match of ``phrase`` holds.
    """
    between = rf"(?:(?!\b{skip}\b)[^.;])" if skip else "[^.;]"
    full = rf"\b{NEG}\b{between}{{0,{gap}}}?\b(?:{phrase})|\b(?:{phrase}){_AFTER}"
    return Negated(caseless(rf"\b(?:{phrase})"), caseless(full), words(keys))


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
_REPEAT = rf"repeat(?:ed)?\s+(?:\w+\s+){{0,3}}?(?:{_TEST}|stud\w+|imaging|tests?)\b"
_DUPLICATE = (
    # Anchored at the start so the look-ahead runs once per sentence, not once per position.
    rf"\A(?=[\s\S]*?\b(?:unclear|not\s+clear|no\s+(?:clear\s+|new\s+)?(?:rationale|reason|"
    rf"indication)|without\s+(?:a\s+)?(?:new|clear))\b)[\s\S]*?\b(?:{_REPEAT}|(?:additional|"
    rf"another|second)\s+(?:{_TEST})\b)"
)
# Each alternative begins at a word boundary, tested once for all of them (before the
# look-behinds: tried at every position, they cost five times the rest).
_EXCEEDS = (
    r"\b(?:(?<!not\s)(?<!n't\s)exceed(?:s|ed|ing)?\b|(?<!not\s)in\s+excess\s+of|excessive\b|"
    r"excess\s+(?:\w+\s+)?(?:therapy|visits|sessions|treatment)|shortest\s+(?:period|"
    r"duration|time)|(?:long[-\s]?term|prolonged|chronic)\s+(?:/\s*chronic\s+)?(?:\w+\s+)?"
    r"(?:use|usage)\b|(?:beyond|longer\s+than|more\s+than)\s+(?:the\s+)?(?:recommended|"
    r"guidelines?)|surpass\w*|upper\s+limit)"
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


_IMPROVEMENT_KEYS = (
    "improv|benefit|gain|function|relief|effect|reduc|response|helping|outcome|decreas|vas|nrs"
)
# Denial codes, read only in the reviewer's own sentences, in order of precedence.
FINDING_CUES: tuple[Rule, ...] = (
    rule(R.NO_RED_FLAGS, negated(r"red[\s-]*flags?"), "flag"),
    rule(
        R.NO_RED_FLAGS,
        negated(
            r"(?:new|progressive|worsen\w*)\s+(?:or\s+\w+\s+)?(?:neurolog\w*\s+)?"
            r"(?:deficits?|findings|symptoms|signs)|change\s+in\s+(?:the\s+)?(?:\w+'s\s+)?"
            r"(?:condition|symptoms|findings|clinical|status|presentation)|"
            r"(?:serious|significant|underlying)\s+(?:\w+\s+)?(?:pathology|condition)|"
            r"suspicion\s+(?:of|for)"
        ),
        "deficit|finding|symptom|sign|change|patholog|condition|suspicion",
    ),
    rule(R.NO_FUNCTIONAL_IMPROVEMENT, negated(IMPROVEMENT), _IMPROVEMENT_KEYS),
    rule(
        R.CONSERVATIVE_CARE_NOT_TRIED,
        negated(_CONSERVATIVE, 160),
        "conservative|first|oral|opioid|failed|failure|trial|course",
    ),
    rule(
        R.EXCEEDS_QUANTITY_OR_DURATION,
        caseless(_EXCEEDS),
        "exceed|excess|shortest|term|prolonged|chronic|beyond|longer|more|surpass|upper",
    ),
    rule(R.EXCEEDS_QUANTITY_OR_DURATION, negated(r"short[-\s]term"), "short"),
    rule(
        R.EXCEEDS_QUANTITY_OR_DURATION,
        caseless(_QUANTITY_UNSTATED),
        "amount|quantity|number|frequency|duration|dosage|length",
    ),
    rule(
        R.DUPLICATE_OR_ALREADY_DONE,
        caseless(
            r"\balready\s+(?:been\s+)?(?:authorized|approved|certified|performed|done|obtained|"
            rf"scheduled)\b|\b(?:duplicat\w+|redundant)\b|\balready\s+(?:had|underwent|undergone|"
            rf"received)\s+(?:an?\s+)?(?:\w+\s+)?(?:{_TEST})\b",
        ),
        "already|duplicat|redundant",
    ),
    rule(
        R.DUPLICATE_OR_ALREADY_DONE,
        caseless(_DUPLICATE, re.S),
        "repeat|additional|another|second",
    ),
    rule(
        R.DUPLICATE_OR_ALREADY_DONE,
        # "no indication for a repeat MRI", "a repeat MRI is not indicated"; "repeat x-rays were
        # not performed" says the opposite.
        caseless(
            rf"\b{NEG}\b[^.;]{{0,60}}?\b{_REPEAT}|\b{_REPEAT}\s+(?:\w+\s+){{0,2}}?(?:is|was|are|"
            r"were|would\s+be)\s+not\s+(?:medically\s+)?(?:indicated|necessary|warranted|supported|"
            r"needed|required)",
        ),
        "repeat",
    ),
    rule(
        R.OTHER,
        caseless(
            rf"\b{_UNSPECIFIED}(?:a|the|which)\s+(?:body\s+part|side|level|location|region|"
            r"laterality|type\s+of\s+(?:procedures?|surgery))",
        ),
        "body|side|level|location|region|laterality|type",
    ),
    rule(
        R.CRITERIA_NOT_MET,
        negated(
            _FINDING,
            keys="neurolog|radicul|nerve|neuropath|myelopath|tissue|deficit|spasm|instability|"
            "effusion|stenosis|impingement|mechanical|findings|evidence|signs|diagnos|"
            "candidate|surg|risk|gastrointestinal|gi|pathology|exacerbation|criteria|adjunct|"
            "trial|indication",
        ),
    ),
    rule(R.CRITERIA_NOT_MET, caseless(_NOT_MET), "not"),
    rule(
        R.INSUFFICIENT_DOCUMENTATION,
        caseless(_UNCLEAR),
        "clear|how many|rationale|explanation|justification",
    ),
    rule(
        R.INSUFFICIENT_DOCUMENTATION,
        negated(
            _MONITORING,
            keys="drug|uds|cures|agreement|contract|aberrant|effects|monitoring|compliance|4|"
            "number",
        ),
    ),
)
# Missing records in general ("no documentation was provided"): only when nothing more
# specific is said; "the absence of such documentation" looks back, so it does not count.
MISSING = negated(
    r"(?:documentation|records?|information|notes|reports?|evaluation|examinations?|exams?|"
    r"evidence)|(?<=not\s)(?:document|address)\b",
    30,
    skip="such",
    keys="document|record|information|notes|report|evaluation|exam|evidence|address",
)
NOT_RECOMMENDED = keyed(
    r"\bnot\s+(?:be\s+)?recommended\b|\b(?:does|do)\s+not\s+recommend\b|"
    r"\b(?:MTUS|ACOEM|ODG|guidelines?)\s+(?:\w+\s+)?(?:does|do)\s+not\s+support\b|"
    r"\b(?:is|are)\s+(?:considered\s+|largely\s+|still\s+)?(?:experimental|investigational)\b|"
    r"\bnot\s+supported\s+by\s+(?:the\s+)?(?:MTUS|ACOEM|ODG|guidelines?|evidence)",
    "recommend|support|experimental|investigational",
)
# "not recommended for longer than 2-3 weeks", "not recommended as a primary treatment",
# "addition to other agents is not recommended": a use, dose or setting, not the treatment.
QUALIFIED = caseless(
    r"\b(?:longer|more|beyond|over|as\s+an?|as\s+first|routine(?:ly)?|during|until|unless|"
    r"except|without|absence|in\s+patients|for\s+patients|first[-\s]line|long[-\s]?term|"
    r"short[-\s]?term|prolonged|chronic\s+use|repeat|passive|surface|if|when|but|only|"
    r"addition|combination|combined|other\s+agents)\b",
)
_DENIED = (
    r"(?:not\s+(?:medically\s+necessary|certified|supported|approved|authorized|indicated)|"
    r"non-?certified|denied)"
)
# The request another one hangs on: a surgery or procedure named by kind.
_PRIMARY = (
    r"(?:surg\w+|procedures?|operation|fusion|arthroscopy|repair|release|replacement|"
    r"decompression|\w+ectomy|\w+otomy|\w+plasty|primary\s+(?:request|treatment|service))"
)
_PRIMARY_KEYS = (
    "surg|procedure|operation|fusion|arthroscopy|repair|release|replacement|decompression|"
    "ectomy|otomy|plasty|primary"
)
# One request falls with another (read for whether any matches).
DEPENDS = (
    keyed(
        # "the associated post-operative therapy ... as the surgery is not certified"
        rf"\b(?:associated|ancillary|assistant\s+surgeon|pre-?op\w*|post-?op\w*|peri-?op\w*|"
        rf"concurrent|companion)\b(?=.*\b{_PRIMARY}\b)(?=(?:.*?\b{_DENIED}\b){{2}}|.*\b"
        rf"(?:non-?certified|denied|not\s+certified)\b)|"
        # "since the requested lumbar fusion is not certified, ..."
        rf"\b(?:since|as|because|given\s+that)\s+(?:the\s+)?(?:\w+[\s-]+){{0,4}}?{_PRIMARY}\s+"
        rf"(?:\w+\s+){{0,3}}?(?:is|was|has\s+been|have\s+been|are)\s+(?:not|non-?certified|denied)",
        _PRIMARY_KEYS,
        re.S,
    ),
    keyed(
        # "continued use of NSAIDs is not appropriate and therefore the need for a PPI is not"
        r"\bnot\s+(?:medically\s+necessary|appropriate|certified|indicated|warranted)\b[^.]*?"
        r"\b(?:therefore|thus|hence|consequently)\b[^.]*?\bnot\s+(?:medically\s+)?necessary",
        "therefore|thus|hence|consequently",
        re.S,
    ),
)
BENEFIT = keyed(
    r"\b(?:functional|objective|significant|documented|measurable|meaningful)\s+(?:\w+\s+)?"
    r"(?:improvement|benefit|gains?)|\bimprove(?:ment|d)\s+(?:in\s+)?(?:function|pain|activit)|"
    r"\b(?:increased|improved)\s+function|\b(?:pain|symptom)\s+(?:relief|reduction|improvement)|"
    r"\b(?:is|was|has\s+been)\s+[\"\u201c]?(?:improving|helping)|\b(?:reported|reports|noted|"
    r"documented|demonstrated|experienced)\s+(?:\w+\s+)?(?:benefit|improvement|relief)|"
    r"\b(?:reduc|decreas)\w*\s+(?:\w+\s+){0,3}?from\s+\d+\s*/\s*10|"
    r"\d+\s*%\s+(?:\w+\s+){0,2}?(?:improvement|reduction|relief|decrease)",
    "improv|benefit|gain|function|relief|reduc|helping|decreas",
)
CONDITIONAL = caseless(rf"\b(?:{NEG}|if|would|should|may|upon|contingent|unless)\b")
MET = keyed(
    r"\b(?:(?<!not\s)(?<!not\sbe\s)(?:is|are|was|were|be)\s+(?:considered\s+|deemed\s+|"
    r"determined\s+to\s+be\s+|also\s+)?(?:medically\s+necessary|appropriate|indicated|warranted|"
    r"reasonable|supported)\b|meets?\b|within\s+(?:the\s+)?(?:guidelines?|recommend)|"
    r"not\s+in\s+excess\b|(?:does|do)\s+not\s+exceed\b|(?:consistent|in\s+accordance)\s+"
    r"with\s+(?:the\s+)?(?:MTUS|ACOEM|ODG|guidelines?|recommend))",
    "necessary|appropriate|indicated|warranted|reasonable|supported|meet|within|excess|exceed|"
    "consistent|accordance",
)
# A topical compound: "any compounded product that contains at least one drug that is not
# recommended is not recommended" is about it.
# Read on the request, treatment, generic name and subcategory: a cream, or a topical with
# several ingredients ("methyl salicylate/menthol ... Topical Analgesics"), not Lidoderm.
TOPICAL = keyed(
    r"\b(?:cream|gel|ointment|lotion|compound\w*|transdermal)\b|[a-z]/[a-z].*\btopical\b",
    "cream|gel|ointment|lotion|compound|transdermal|topical",
)
