"""A detected piece of personal data and the entity types the detector knows."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# entity type -> placeholder tag (`<PERSON_1>`, `<PHONE_2>`...)
TAGS: dict[str, str] = {
    "PERSON": "PERSON",
    "LOCATION": "LOCATION",
    "ORGANIZATION": "ORG",
    "EMAIL": "EMAIL",
    "PHONE": "PHONE",
    "CREDIT_CARD": "CARD",
    "IBAN": "IBAN",
    "SSN": "SSN",
    "MRN": "MRN",
    "PASSPORT": "PASSPORT",
    "ACCOUNT": "ACCOUNT",
    "IP_ADDRESS": "IP",
    "DATE_OF_BIRTH": "DOB",
    "ADDRESS": "ADDRESS",
    "URL": "URL",
}
ENTITY_TYPES = tuple(TAGS)


@dataclass(frozen=True)
class Finding:
    """`text[start:end]` is personal data of `type`; `score` in (0, 1] is the detector's confidence."""

    type: str
    start: int
    end: int
    score: float
    value: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("value")  # findings are printed and logged: never echo the private value itself
        return d

    def overlaps(self, other: Finding) -> bool:
        return self.start < other.end and other.start < self.end
