"""A deterministic synthetic corpus of private contexts, for the leak test and the detector benchmark.

`corpus(n, seed)` returns `Sample`s: a private context (a few sentences, each holding one
entity), an instruction that mentions some of those entities, the user's profile (owner and
contact names, as a profile file would hold them) and the exact spans of every private value.
All phones are valid for libphonenumber, cards pass Luhn, IBANs pass mod-97, SSNs follow the SSA
rules: these are realistic values, not strings made to fit the detector's regexes.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field

import phonenumbers

FIRST = ("Alice Priya Tomasz Mei Oluwaseun Carlos Ingrid Hiroshi Fatima Liam Sofia Rajesh Chloe Mateo "
         "Aisha Bjorn Elena Kwame Yuki Noah Amara Dmitri Lucia Omar Hannah Jonas Leila Santiago Nadia "
         "Ethan Zara Felix Ines Ravi Greta Tariq Camille Diego Anika Marcus").split()
LAST = ("Martin Raman Kowalski Chen Adeyemi Alvarez Lindqvist Tanaka Haddad Murphy Rossi Iyer Dubois "
        "Fernandez Okafor Nilsson Petrova Mensah Sato Fischer Nwosu Volkov Moreno Khalil Weber Schmidt "
        "Rahimi Castillo Novak Brennan Qureshi Bauer Ferreira Patel Larsen Hussain Lefevre Ortega Gupta Walsh").split()
STREETS = ("Maple Oak Cedar Elm Willow Birch Pine Chestnut Harbor Lakeview Sunset Hillcrest Meadow "
           "Riverside Highland").split()
STREET_EN = ("Street", "Avenue", "Road", "Lane", "Drive", "Boulevard", "Court", "Way", "Place")
CITIES = (("Springfield", "IL", "62704"), ("Portland", "OR", "97205"), ("Austin", "TX", "78701"),
          ("Madison", "WI", "53703"), ("Denver", "CO", "80202"))
DE_STREETS, DE_CITIES = ("Haupt", "Linden", "Garten", "Schiller", "Goethe", "Bahnhof"), ("Berlin", "München", "Köln")
FR_STREETS, FR_CITIES = ("de la Paix", "Victor Hugo", "des Lilas", "du Moulin"), ("Paris", "Lyon", "Nantes")
REGIONS = ("US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "ES", "IT", "NL")
# BBAN layout per country: (alphabet, count) runs
IBAN_BBAN = {"DE": (("n", 18),), "GB": (("a", 4), ("n", 14)), "FR": (("n", 23),), "NL": (("a", 4), ("n", 10)),
             "ES": (("n", 20),), "IT": (("a", 1), ("n", 22))}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
RELATIONS = ("colleague", "dentist", "landlord", "sister", "neighbour", "manager", "therapist")

# one sentence template per entity type; {v} is the private value
TEMPLATES: dict[str, tuple[str, ...]] = {
    "PHONE": ("You can reach me on {v} after six.", "My mobile number is {v}.", "The clinic called from {v} yesterday."),
    "EMAIL": ("My personal email is {v}.", "Send the scans to {v} please.", "Her address for invoices is {v}."),
    "ADDRESS": ("I moved to {v} last spring.", "Deliveries go to {v}.", "We met at her flat, {v}."),
    "DATE_OF_BIRTH": ("I was born on {v}.", "Date of birth: {v}.", "DOB {v}, blood type O+."),
    "SSN": ("My SSN is {v}.", "Social security number {v} is on the W-2.", "The form lists SSN {v}."),
    "MRN": ("MRN: {v}.", "My medical record number is {v}.", "Patient ID {v} at the cardiology unit."),
    "CREDIT_CARD": ("I paid with the card {v}.", "Card on file: {v}.", "Charge it to {v} again."),
    "IBAN": ("Rent goes to IBAN {v}.", "My salary lands in {v}.", "Transfer the deposit to {v}."),
    "IP_ADDRESS": ("My home server sits at {v}.", "The VPN assigned me {v}.", "The router log shows {v}."),
    "URL": ("My private blog is at {v}.", "The shared album is {v}.", "Photos are on {v}."),
}


@dataclass
class Sample:
    context: str
    instruction: str
    profile: dict
    spans: list[tuple[str, int, int]] = field(default_factory=list)  # (type, start, end) in context

    def head(self, n: int) -> Sample:
        """The first `n` entity sentences only (a shorter context for model-driven tests)."""
        end = self.spans[n - 1][2]
        m = re.search(r"[.!?](?:\s|$)", self.context[end:])
        cut = end + (m.end() if m else len(self.context) - end)
        return Sample(self.context[:cut].rstrip(), self.instruction, self.profile, self.spans[:n])

    def values(self) -> list[str]:
        """Every private string in the context (the leak test's needles)."""
        return sorted({self.context[s:e] for _, s, e in self.spans})


def _phone(rng: random.Random) -> str:
    region = rng.choice(REGIONS)
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    nsn = str(example.national_number)
    for _ in range(200):
        digits = nsn[:-4] + "".join(rng.choice(string.digits) for _ in range(4))
        num = phonenumbers.parse("+" + str(example.country_code) + digits)
        if phonenumbers.is_valid_number(num):
            break
    style = rng.choice((phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.NATIONAL,
                        phonenumbers.PhoneNumberFormat.E164))
    return phonenumbers.format_number(num, style)


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice((("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15)))
    digits = _luhn_complete(prefix + str(rng.randint(0, 9)), length, rng)
    sep = rng.choice((" ", "-", ""))
    groups = [digits[i:i + 4] for i in range(0, 16, 4)] if length == 16 else [digits[:4], digits[4:10], digits[10:]]
    return sep.join(groups)


def _iban(rng: random.Random) -> str:
    country = rng.choice(sorted(IBAN_BBAN))
    bban = ""
    for kind, count in IBAN_BBAN[country]:
        pool = string.ascii_uppercase if kind == "a" else string.digits
        bban += "".join(rng.choice(pool) for _ in range(count))
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    iban = f"{country}{check:02d}{bban}"
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.6 else iban


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _mrn(rng: random.Random) -> str:
    n = "".join(rng.choice(string.digits) for _ in range(rng.choice((6, 7, 8))))
    return rng.choice((n, "MR" + n, "AB-" + n))


def _dob(rng: random.Random) -> str:
    y, m, d = rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice((f"{MONTHS[m - 1]} {d}, {y}", f"{m:02d}/{d:02d}/{y}", f"{y}-{m:02d}-{d:02d}",
                       f"{d:02d}.{m:02d}.{y}", f"{d} {MONTHS[m - 1]} {y}"))


def _address(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.6:
        city, st, z = rng.choice(CITIES)
        tail = rng.choice(("", f", {city}", f", {city}, {st} {z}"))
        return f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_EN)}{tail}"
    if kind < 0.8:
        return f"{rng.choice(DE_STREETS)}straße {rng.randint(1, 120)}, {rng.randint(10000, 99999)} {rng.choice(DE_CITIES)}"
    return f"{rng.randint(1, 80)} rue {rng.choice(FR_STREETS)}, {rng.randint(10000, 95999)} {rng.choice(FR_CITIES)}"


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    return "2001:db8:" + ":".join(groups[2:]) if rng.random() < 0.5 else "fe80::" + ":".join(groups[5:])


def _url(rng: random.Random, first: str, last: str) -> str:
    return rng.choice((f"https://{first.lower()}{last.lower()}.example.net/diary",
                       f"https://photos.example.com/u/{first.lower()}-{rng.randint(10, 99)}",
                       f"www.{last.lower()}-family.example.org/album?id={rng.randint(100, 999)}"))


def _value(kind: str, rng: random.Random, first: str, last: str) -> str:
    if kind == "EMAIL":
        return f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{rng.choice(('example.com', 'mail.example.org'))}"
    if kind == "URL":
        return _url(rng, first, last)
    return {"PHONE": _phone, "CREDIT_CARD": _card, "IBAN": _iban, "SSN": _ssn, "MRN": _mrn,
            "DATE_OF_BIRTH": _dob, "ADDRESS": _address, "IP_ADDRESS": _ip}[kind](rng)


def _person_sentences(rng: random.Random, owner: str, contact: str) -> tuple[list[tuple[str, str, str]], str]:
    """(template, type, value) for the owner, a profile contact and a third party the profile lacks,
    and how the instruction names the third party."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    rel, title = rng.choice(RELATIONS), rng.choice(("Dr.", "Mr.", "Ms.", "Mrs."))
    template, value, mention = rng.choice((
        ("My " + rel + " {v} will join us on Friday.", f"{first} {last}", f"{first} {last}"),
        (title + " {v} said the results look fine.", last, f"{title} {last}"),
        ("Dear {v}, thanks again for the lift.", first, first),
        ("I had lunch with {v} from the old team.", f"{first} {last}", f"{first} {last}"),
    ))
    return [("My name is {v}.", "PERSON", owner), ("My " + rng.choice(RELATIONS) + " {v} helps with the paperwork.",
            "PERSON", contact), (template, "PERSON", value)], mention


def sample(i: int, rng: random.Random, kinds_per_context: int = 6) -> Sample:
    owner = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    contact = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    all_kinds = list(TEMPLATES)
    kinds = [all_kinds[(i * kinds_per_context + j) % len(all_kinds)] for j in range(kinds_per_context)]
    first, last = owner.split()
    parts, mention = _person_sentences(rng, owner, contact)
    parts += [(rng.choice(TEMPLATES[k]), k, _value(k, rng, first, last)) for k in kinds]
    context, spans = "", []
    for template, kind, value in parts:
        before, after = template.split("{v}")
        context += ("" if not context else " ") + before
        spans.append((kind, len(context), len(context) + len(value)))
        context += value + after
    extra_kind, _, _ = spans[3]
    extra = context[spans[3][1]:spans[3][2]]
    instruction = (f"Write a short, friendly note for {mention} about my appointment next week. "
                   f"Mention my {extra_kind.lower().replace('_', ' ')} {extra}.")
    profile = {"names": [owner], "contacts": [{"name": contact}]}
    return Sample(context, instruction, profile, spans)


def corpus(n: int = 60, seed: int = 7) -> list[Sample]:
    rng = random.Random(seed)
    return [sample(i, rng) for i in range(n)]


def recall_by_type(samples: list[Sample], detect) -> dict[str, tuple[int, int]]:
    """{type: (found, total)}: a gold span is found when findings of its type cover all its characters."""
    scores: dict[str, list[int]] = {}
    for s in samples:
        findings = detect(s)
        for kind, start, end in s.spans:
            covered = set()
            for f in findings:
                if f.type == kind:
                    covered.update(range(max(f.start, start), min(f.end, end)))
            hit = len(covered) == end - start
            tally = scores.setdefault(kind, [0, 0])
            tally[0] += hit
            tally[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(scores.items())}


PII_FREE = """\
The quarterly report shows revenue grew 12.5% to 4.2 million euros, while costs fell by 3%. The board met on
Tuesday, March 14, 2023 at 10:30 and approved the budget for 2024. Version 3.11 of the software ships with
2 new features, and build 1042 fixed 37 bugs. The train leaves at 07:45 from platform 9 and arrives at 12:10.

Photosynthesis converts light energy into chemical energy. In 1905, Einstein published four papers that
changed physics. The Great Barrier Reef spans about 2,300 kilometres. Mount Everest is 8,849 metres tall.
The recipe needs 250 g of flour, 2 eggs and 100 ml of milk; bake at 180 degrees for 25 minutes.

Our team shipped release 2.4.1 on 2024-05-02, three days ahead of schedule. The meeting room seats 12 people
and the projector supports 1920x1080 at 60 Hz. Please read chapter 7, pages 120-145, before the next class.
Order number 55123 was delivered in 3 boxes weighing 4.5 kg in total. The error rate dropped from 0.8% to 0.3%.

The Treaty of Westphalia was signed in 1648. New York and London are major financial centres, and the
Amazon River carries more water than any other river. The Python Software Foundation manages the language,
and the Linux kernel has over 30 million lines of code. A standard chessboard has 64 squares.

The invoice total is $1,249.99 including tax, due within 30 days. Flight BA 117 departs at 18:25 from
terminal 5. The population of the city was 1,234,567 at the 2020 census, up 4.1 percent since 2010.
Set the timeout to 30 seconds and the retry count to 3; the default port is 8080 and the queue holds 500 items.

Dear reader, this guide was written with Microsoft Excel in mind and tested by Quality Assurance. Call
Customer Service between 9 and 5 on weekdays. We walked from Grand Central Station to the Golden Gate Bridge
exhibit, then asked Support about Section 4.2.1 and the ISO 8601 format (2024-01-31T10:00:00Z).
"""
