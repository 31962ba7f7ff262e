"""`edgesplit distill`: fine-tune a checkpoint on verified agent data into an exportable HF checkpoint."""

from .train import DistillConfig, DistillError, distill

__all__ = ["DistillConfig", "DistillError", "distill"]
