"""Runtimes behind the Engine; see base.py for the protocol and the registry."""

from .base import Backend, Capabilities, ModelInfo, known_backends, register_backend

__all__ = ["Backend", "Capabilities", "ModelInfo", "known_backends", "register_backend"]
