"""Verified synthetic training data for the GUI agent, generated from the app docs.

This package is the one place that reads the doc format for training: families (docwalk.py for
element-bound settings, apps/ for list-based apps) propose tasks with scripts and state checks,
generate.py keeps those the sandboxed simulator verifies, heldout.py keeps the benchmark out.
Rows are written as JSONL with the prompt messages the agent itself would send.
"""

from .generate import generate, verify
from .heldout import HeldOut, HeldOutLeak, check_heldout, normalize_task
from .io import read_rows, write_rows

__all__ = ["HeldOut", "HeldOutLeak", "check_heldout", "generate", "normalize_task", "read_rows", "verify",
           "write_rows"]
