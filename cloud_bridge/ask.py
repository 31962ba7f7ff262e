"""`ask`: one de-identified question to the cloud, the answer restored locally.

The smallest door through the privacy split, for apps that only need general knowledge
(e.g. health's follow-up questions): detect PII plus the caller's known private terms, replace
them with placeholders, send through the ledgered CloudClient, restore placeholders in the answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from .client import CloudClient, CloudConfig
from .entities import KnownEntities, load_profile
from .errors import CloudError
from .pii import Detector
from .pseudonym import Pseudonymizer


def ask(text: str, known_terms: Iterable[str] = (), *, url: str | None = None, max_tokens: int = 256,
        purpose: str = "app question (general knowledge, de-identified)") -> str:
    """Send `text`, de-identified, to the configured cloud and return the restored answer.

    Raises CloudError when no cloud is configured (`EDGESPLIT_CLOUD_URL`) or it fails; callers
    fall back to a local answer.
    """
    config = CloudConfig.from_env(url)
    if config is None:
        raise CloudError("no cloud configured: set EDGESPLIT_CLOUD_URL (or pass url=...)")
    known = _known(known_terms)
    pseudo = Pseudonymizer(Detector(known=known))
    outbound, _ = pseudo.pseudonymize(text)
    with CloudClient(config) as client:
        answer = client.chat([{"role": "user", "content": outbound}], purpose, max_tokens=max_tokens)
    return pseudo.restore(answer)


def _known(terms: Iterable[str]) -> KnownEntities:
    known = load_profile(None)  # the user's own profile, when there is one (empty otherwise)
    for term in terms:
        known.add("PERSON", term)
    return known
