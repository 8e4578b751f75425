"""Tuneboard trainer: LoRA fine-tuning, chat serving and a demo model for the Tuneboard worker."""

__version__ = "0.1.0"
