"""Companion kits: one verified model, one folder per device runtime, each with a golden file."""
