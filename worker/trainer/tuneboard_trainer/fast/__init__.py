"""GPU fast path for LoRA training: the reference path's loss (train.forward_batch + loss.lm_loss) over the
same tokens, computed faster.

- packing.py: the samples of one optimizer step as padding-free micro-batches (each sample attends to itself).
- attention.py: varlen FlashAttention-2 with grouped K/V, batched cuDNN attention for equal lengths.
- kernels.py: GEMM helpers (LoRA terms as cuBLAS beta terms, augmented weights) and elementwise helpers, eager
  or compiled / custom ops.
- functions.py: autograd Functions that keep only the residual stream and recompute normed inputs in backward.
- blocks.py: a decoder block as two attention-free halves (what regional torch.compile compiles).
- moe.py: the mixture-of-experts MLP (Qwen3-MoE, Mixtral): moe.py's router, the experts as grouped GEMMs.
- weights.py: fused q/k/v and gate/up weights, augmented MLP weights, the input embedding in host memory.
- memory.py: recompute with the block input offloaded to host memory, the memory headroom a run keeps.
- path.py: FastPath, which runs packed micro-batches through all of the above and plans recompute by memory.
- graph.py: CUDA graphs of each packed micro-batch shape's forward + backward.
- options.py: FastPathOptions, built once per run, and `for_training`, the FastPath a run uses.
- preference.py: the preference stages' rows packed as documents, per-document log-probs (chunked
  log-softmax), the reference pass with the adapters zeroed.
- gemma.py, gemma_functions.py, softcap_attention.py: Gemma 2 / 3 (GemmaFastPath, which FastPath(model) builds
  for them): Gemma's norms and GeGLU MLP, exact soft-capped / sliding-window attention, soft-capped logits.

Importable everywhere; `FastPath.supported()` says whether a model qualifies (plain LoRA / rsLoRA, no DoRA,
no sliding window outside Gemma).
"""

from .attention import _FlashVarlen, attention, dense_ok
from .functions import _MLPLoRA, _NormGroupLoRA, compile_pointwise
from .options import COMPILE_MIN_TOKENS, FastPathOptions, default_max_tokens, for_training, resolved_options
from .packing import pack_window
from .path import FastPath
from .weights import HostEmbedding, embed_on_device, embed_on_host

__all__ = ["COMPILE_MIN_TOKENS", "FastPath", "FastPathOptions", "HostEmbedding", "_FlashVarlen", "_MLPLoRA",
           "_NormGroupLoRA", "attention", "compile_pointwise", "default_max_tokens", "dense_ok", "embed_on_device",
           "embed_on_host", "for_training", "pack_window", "resolved_options"]
