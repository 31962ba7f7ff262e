"""edgesplit cloud_bridge: the privacy split between this device and an optional cloud LLM.

Private context never leaves the device. Before anything goes out, PII is detected
(`pii.Detector`), replaced by stable placeholders (`pseudonym.Pseudonymizer`, mapping kept in the
encrypted `vault.Vault`), the exact outbound bytes are appended to the keyed (HMAC-chained)
`ledger.Ledger`, and only then does `client.CloudClient` send them. `cogenesis` builds the
sketch- and logit-collaboration modes on top.
"""

from .ask import ask
from .errors import CloudError, LedgerDamagedError, LedgerError, VaultError
from .pii import Detector, Finding

__all__ = ["CloudError", "ask", "Detector", "Finding", "LedgerDamagedError", "LedgerError", "VaultError"]
