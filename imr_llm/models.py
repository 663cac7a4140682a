"""Pydantic models for the JSON output contract in DESIGN.md."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class Decision(StrEnum):
    """The IMR outcome for one disputed item."""

    UPHELD = "upheld"
    OVERTURNED = "overturned"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Priority(StrEnum):
    STANDARD = "standard"
    EXPEDITED = "expedited"


class Category(StrEnum):
    """DWC's own treatment taxonomy for IMR requests."""

    DMEPOS = "DMEPOS"
    DIAGNOSTIC_TESTING = "Diagnostic Testing"
    EVALUATION_MANAGEMENT = "Evaluation & Management"
    HOME_HEALTH = "Home Health"
    INJECTION = "Injection"
    PHARMACEUTICALS = "Pharmaceuticals"
    PROGRAMS = "Programs"
    PSYCH_SERVICES = "Psych Services"
    REHABILITATION = "Rehabilitation"
    SURGERY = "Surgery"
    THERAPIES = "Therapies"
    TRANSPORTATION = "Transportation"
    OTHER = "Other"


class Source(StrEnum):
    """A guideline family cited in a guideline line."""

    MTUS = "MTUS"
    ACOEM = "ACOEM"
    ODG = "ODG"
    OTHER = "Other"


class Reason(StrEnum):
    """Why the reviewer upheld or overturned the denial (codebook: corpus/REASONS.md)."""

    GUIDELINE_NOT_RECOMMENDED = "guideline_not_recommended"
    CRITERIA_NOT_MET = "criteria_not_met"
    INSUFFICIENT_DOCUMENTATION = "insufficient_documentation"
    NO_FUNCTIONAL_IMPROVEMENT = "no_functional_improvement"
    EXCEEDS_QUANTITY_OR_DURATION = "exceeds_quantity_or_duration"
    NO_RED_FLAGS = "no_red_flags"
    CONSERVATIVE_CARE_NOT_TRIED = "conservative_care_not_tried"
    DEPENDS_ON_DENIED_REQUEST = "depends_on_denied_request"
    DUPLICATE_OR_ALREADY_DONE = "duplicate_or_already_done"
    CRITERIA_MET = "criteria_met"
    DOCUMENTED_BENEFIT = "documented_benefit"
    OTHER = "other"


# The header block's fields, in the order the letters print them.
HEADER_FIELDS = (
    "case_number",
    "date_assigned",
    "decision_date",
    "ur_denial_date",
    "date_of_injury",
    "application_received",
    "priority",
)

Status = Literal["ok", "needs_review", "failed", "not_imr"]
EvidenceStatus = Literal["agreed", "anchor_only", "llm_only", "corrected", "conflict"]


class Guideline(_Model):
    """One guideline line of a disputed item (Claims Administrator or MAXIMUS)."""

    text: str = Field(description="The guideline line as written, whitespace collapsed.")
    mtus: bool | None = Field(
        description="True if the decision was based on the MTUS, false if on something else, "
        "null if no medical evidence was cited."
    )
    sources: list[Source] = Field(
        default_factory=list, description="Guideline families named: MTUS, ACOEM, ODG, Other."
    )
    pages: list[int] = Field(
        default_factory=list, description='Cited pages, ranges expanded ("76-79" -> 76,77,78,79).'
    )
    sections: list[str] = Field(default_factory=list, description="Cited Section(s) names.")


class DisputedItem(_Model):
    """One disputed treatment request and the IMR decision on it."""

    request: str = Field(
        description='The item heading as written, whitespace collapsed, without ": Upheld".'
    )
    decision: Decision = Field(description="upheld or overturned, as the heading states.")
    treatment: str | None = Field(
        default=None,
        description='Normalized drug or service name, e.g. "Norco", "MRI cervical spine".',
    )
    generic_name: str | None = Field(
        default=None,
        description='Generic drug name, e.g. "hydrocodone/acetaminophen"; null if none.',
    )
    category: Category | None = Field(default=None, description="DWC treatment category.")
    subcategory: str | None = Field(
        default=None, description='DWC subcategory, e.g. "Opioids", "Imaging * Radiology".'
    )
    strength: str | None = Field(default=None, description='Strength as written, e.g. "10/325 mg".')
    quantity: float | None = Field(
        default=None, description='Units or sessions requested ("#160" -> 160); null if not stated.'
    )
    claims_administrator_guideline: Guideline | None = None
    reviewer_guideline: Guideline | None = Field(
        default=None, description='The "MAXIMUS guideline" line.'
    )
    rationale: str | None = Field(default=None, description='The "Decision rationale" text.')
    reasons: list[Reason] = Field(default_factory=list, description="Why upheld or overturned.")
    summary: str | None = Field(default=None, description="One sentence summarising the decision.")


class Reviewer(_Model):
    licensure_states: list[str] = Field(
        default_factory=list, description='USPS codes of the states of licensure, e.g. "CA".'
    )
    specialties: list[str] = Field(default_factory=list, description="Board certifications.")


class Patient(_Model):
    age: int | None = Field(default=None, description="Age in years as stated in the summary.")
    sex: Sex | None = None


class Determination(_Model):
    """One IMR final determination letter as a record (dates are ISO YYYY-MM-DD)."""

    case_number: str | None = Field(default=None, description="CMyy-nnnnnnn")
    date_assigned: str | None = None
    decision_date: str | None = None
    ur_denial_date: str | None = None
    date_of_injury: str | None = None
    application_received: str | None = None
    priority: Priority | None = None
    reviewer: Reviewer = Field(default_factory=Reviewer)
    patient: Patient = Field(default_factory=Patient)
    diagnoses: list[str] = Field(default_factory=list)
    items: list[DisputedItem] = Field(default_factory=list)


class SourceInfo(_Model):
    path: str | None
    sha256: str
    chars: int


class Evidence(_Model):
    """Where in the original text a field was found, and how it was grounded."""

    field: str
    start: int
    end: int
    status: EvidenceStatus


class Discrepancy(_Model):
    field: str
    anchor: Any
    llm: Any
    resolution: Literal["anchor", "llm", "unresolved"]


class Usage(_Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LlmInfo(_Model):
    model: str | None
    prompt_version: str
    attempts: int
    cached: bool
    usage: Usage = Field(default_factory=Usage)


class ErrorInfo(_Model):
    type: str
    message: str


class Extraction(_Model):
    """The result for one letter: the DESIGN.md output contract."""

    source: SourceInfo
    status: Status
    record: Determination | None
    evidence: list[Evidence] = Field(default_factory=list)
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    llm: LlmInfo | None = None
    error: ErrorInfo | None = None
    warnings: list[str] = Field(default_factory=list)
