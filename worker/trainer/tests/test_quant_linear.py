"""QuantizedLinear (the reference the GPU kernels are tested against) and LoRALinear over it."""

import pytest
import torch
import torch.nn.functional as F

from tuneboard_trainer.lora import LoRALinear, merge_lora
from tuneboard_trainer.quant.linear import QuantizedLinear, quantized_linear

METHODS = ["nf4", "int8", "fp8"]


def make(method, out_dim=37, in_dim=70, bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(out_dim, in_dim, generator=g) * 0.1
    b = torch.randn(out_dim, generator=g) if bias else None
    return quantized_linear(w, b, method)


@pytest.mark.parametrize("method", METHODS)
def test_forward_and_input_gradient_equal_the_dequantized_dense_layer(method):
    layer = make(method)
    x = torch.randn(3, 5, 70, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    y = layer(x)
    w = layer.dequantized_weight()
    y_ref = F.linear(x_ref, w, layer.bias)
    assert y.shape == (3, 5, 37) and torch.equal(y, y_ref)
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-6, atol=1e-6)
    assert layer.bias.grad is None  # frozen


def test_the_dense_weight_is_not_kept_for_backward():
    layer = make("nf4", out_dim=256, in_dim=512, bias=False)
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    x = torch.randn(2, 512, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x).sum().backward()
    assert all(n < 256 * 512 for n in saved)  # nothing the size of W was saved between forward and backward


@pytest.mark.parametrize("use_dora", [False, True])
@pytest.mark.parametrize("method", ["nf4", "int8"])
def test_lora_over_a_quantized_base_equals_lora_over_its_dequantized_weight(method, use_dora):
    q = make(method)
    dense = torch.nn.Linear(70, 37)
    with torch.no_grad():
        dense.weight.copy_(q.dequantized_weight())
        dense.bias.copy_(q.bias)
    torch.manual_seed(4)
    over_q = LoRALinear.from_linear(q, 4, 8, 0.0, use_dora=use_dora)
    torch.manual_seed(4)
    over_dense = LoRALinear.from_linear(dense, 4, 8, 0.0, use_dora=use_dora)
    assert torch.equal(over_q.lora_A.weight, over_dense.lora_A.weight)  # same seed, same adapter init
    assert over_q.weight is None and isinstance(over_q.quantized, QuantizedLinear)
    with torch.no_grad():
        for layer in (over_q, over_dense):
            layer.lora_B.weight.copy_(torch.randn(37, 4, generator=torch.Generator().manual_seed(5)))
    x = torch.randn(4, 70)
    torch.testing.assert_close(over_q(x), over_dense(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(over_q.merged_weight(), over_dense.merged_weight(), rtol=1e-6, atol=1e-6)
    params = {n for n, p in over_q.named_parameters() if p.requires_grad}
    assert params == {"lora_A.weight", "lora_B.weight"} | ({"lora_magnitude_vector"} if use_dora else set())


def test_merging_into_a_quantized_base_gives_a_dense_layer_with_its_bias():
    parent = torch.nn.Module()
    parent.q_proj = LoRALinear.from_linear(make("int8"), 4, 8, 0.0)
    with torch.no_grad():
        parent.q_proj.lora_B.weight.normal_()
    x = torch.randn(2, 70)
    expected = parent.q_proj(x)
    merge_lora(parent)
    assert isinstance(parent.q_proj, torch.nn.Linear)
    torch.testing.assert_close(parent.q_proj(x), expected, rtol=1e-5, atol=1e-5)


def test_the_fast_path_plans_recompute_for_a_quantized_base_as_unfused():
    """A quantized base's projections run unfused through the layer's kernels: more kept per token, and no
    gate/up-only recompute to plan (that is the fused MLP's)."""
    from fast_helpers import SMALL, lora_model
    from quant_helpers import quantized_lora_model
    from tuneboard_trainer.fast import FastPath

    plain = FastPath(lora_model(SMALL, layers=4), max_tokens=1000)
    quant = FastPath(quantized_lora_model({**SMALL, "num_hidden_layers": 4}, "int8"), max_tokens=1000)
    assert quant.quantized and not plain.quantized
    assert quant.act_bytes_per_token() > plain.act_bytes_per_token()
    k, m = quant.plan_recompute(int(2.5 * quant.act_bytes_per_token() * 1000))
    assert m == 0 and 0 < k < 4
