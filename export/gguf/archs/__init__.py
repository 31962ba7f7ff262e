"""Model families for the GGUF converter; importing this package registers them all."""

from . import bitnet, decoder, t5  # noqa: F401
