"""Quantized frozen base weights: NF4 (bitsandbytes layout), int8 and FP8 per channel, their reference layer,
and bitsandbytes-format 4-bit checkpoints read and written without bitsandbytes."""
