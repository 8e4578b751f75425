"""bitsandbytes-format 4-bit checkpoints: one written here from the published format description (not with
tuneboard_trainer.quant) loads with our loader and gives the logits of its dequantized bf16 weights; ours saves
the same layout."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_tiny import rand_ids, save_hf
from test_quant_formats import REFERENCE_NF4, reference_blockwise
from tuneboard_trainer.hf_weights import load_pretrained
from tuneboard_trainer.quant.bnb_format import BnbFormatError
from tuneboard_trainer.quant.linear import QuantizedLinear
from tuneboard_trainer.quant.load import load_quantized, save_bnb_4bit
from tuneboard_trainer.quant.nf4 import dynamic_map

PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def is_projection(key: str) -> bool:
    return key.startswith("model.layers.") and key.endswith(".weight") and key.split(".")[-2] in PROJ


def bnb_entries(name: str, w: torch.Tensor):
    """(entries as transformers + bitsandbytes save them, the bf16 weight bitsandbytes dequantizes them to)."""
    code = torch.tensor(REFERENCE_NF4)
    flat = w.float().reshape(-1)
    idx, absmax = reference_blockwise(flat, code, 64)
    offset = absmax.double().mean().float()  # float64 mean, rounded once
    dyn = dynamic_map()
    q2, nested = reference_blockwise(absmax - offset, dyn, 256)
    ids = idx.to(torch.uint8).tolist() + ([0] if idx.numel() % 2 else [])
    packed = torch.tensor([(ids[i] << 4) | ids[i + 1] for i in range(0, len(ids), 2)], dtype=torch.uint8)
    state = {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": list(w.shape),
             "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": offset.item()}
    entries = {
        name: packed.unsqueeze(1), f"{name}.absmax": q2.to(torch.uint8), f"{name}.quant_map": code,
        f"{name}.nested_absmax": nested, f"{name}.nested_quant_map": dyn.clone(),
        f"{name}.quant_state.bitsandbytes__nf4": torch.tensor(list(json.dumps(state).encode()), dtype=torch.uint8),
    }
    absmax_dq = dyn[q2.long()] * nested[torch.arange(q2.numel()) // 256] + offset
    dense = (code[idx] * absmax_dq[torch.arange(idx.numel()) // 64]).view(w.shape).to(torch.bfloat16)
    return entries, dense


QUANT_CONFIG = {"_load_in_4bit": True, "_load_in_8bit": False, "bnb_4bit_compute_dtype": "bfloat16",
                "bnb_4bit_quant_storage": "uint8", "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
                "llm_int8_enable_fp32_cpu_offload": False, "llm_int8_has_fp16_weight": False,
                "llm_int8_skip_modules": None, "llm_int8_threshold": 6.0, "load_in_4bit": True,
                "load_in_8bit": False, "quant_method": "bitsandbytes"}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(bnb 4-bit dir, dense bf16 dir of the same dequantized weights, source config dict)."""
    root = tmp_path_factory.mktemp("bnb")
    # in_features 48 / 33: blocks that straddle rows, and an odd intermediate size (a short last block).
    save_hf("llama_bias", root / "src", intermediate_size=33)
    sd = load_file(str(root / "src" / "model.safetensors"))
    config = json.loads((root / "src" / "config.json").read_text())
    bnb, dense = {}, {}
    for k, v in sd.items():
        if is_projection(k):
            entries, w = bnb_entries(k, v.to(torch.bfloat16))
            bnb.update(entries)
            dense[k] = w
        else:
            bnb[k] = dense[k] = v.to(torch.bfloat16)
    for name, tensors, cfg in (("bnb", bnb, {**config, "quantization_config": QUANT_CONFIG}), ("dense", dense, config)):
        (root / name).mkdir()
        save_file(tensors, str(root / name / "model.safetensors"), metadata={"format": "pt"})
        (root / name / "config.json").write_text(json.dumps(cfg))
    return root / "bnb", root / "dense", config


def logits(model, ids):
    with torch.no_grad():
        return model(ids).float()


@pytest.mark.parametrize("method", [None, "nf4"])
def test_a_bnb_checkpoint_gives_the_logits_of_its_dequantized_weights(checkpoints, method):
    bnb_dir, dense_dir, _ = checkpoints
    ids = rand_ids((2, 11))
    expected = logits(load_pretrained(dense_dir, dtype=torch.float32), ids)
    model = load_quantized(bnb_dir, method, dtype=torch.float32)
    n_quant = sum(isinstance(m, QuantizedLinear) for m in model.modules())
    assert n_quant == (14 if method == "nf4" else 0)
    assert torch.allclose(logits(model, ids), expected, rtol=0, atol=1e-6)


def test_our_save_is_the_bnb_layout_and_loads_back(checkpoints, tmp_path):
    bnb_dir, dense_dir, config = checkpoints
    model = load_quantized(bnb_dir, "nf4", dtype=torch.bfloat16)
    save_bnb_4bit(model, tmp_path / "out", config)
    theirs, ours = load_file(str(bnb_dir / "model.safetensors")), load_file(str(tmp_path / "out" / "model.safetensors"))
    assert set(ours) == set(theirs)
    for k, v in theirs.items():
        assert ours[k].dtype == v.dtype and ours[k].shape == v.shape, k
        if k.endswith("bitsandbytes__nf4"):
            assert json.loads(bytes(ours[k].tolist())) == json.loads(bytes(v.tolist()))
        else:
            assert torch.equal(ours[k], v), k
    qc = json.loads((tmp_path / "out" / "config.json").read_text())["quantization_config"]
    assert {k: qc[k] for k in QUANT_CONFIG if k != "llm_int8_skip_modules"} == \
        {k: v for k, v in QUANT_CONFIG.items() if k != "llm_int8_skip_modules"}
    ids = rand_ids((1, 9))
    again = load_quantized(tmp_path / "out", "nf4", dtype=torch.float32)
    assert torch.equal(logits(again, ids), logits(load_quantized(bnb_dir, "nf4", dtype=torch.float32), ids))


def test_quantize_on_load_goes_one_projection_at_a_time(checkpoints):
    _, dense_dir, _ = checkpoints
    seen = []
    model = load_quantized(dense_dir, "int8", dtype=torch.float32, on_layer=seen.append)
    assert len(seen) == 14 and seen[0] == "model.layers.0.self_attn.q_proj"
    layer = model.model.layers[0].mlp.down_proj
    assert isinstance(layer, QuantizedLinear) and layer.method == "int8" and layer.in_features == 33


def test_unsupported_bnb_variants_are_refused_in_words(checkpoints, tmp_path):
    bnb_dir, _, config = checkpoints
    for qc, message in (({**QUANT_CONFIG, "bnb_4bit_quant_type": "fp4"}, "only nf4"),
                        ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "8-bit")):
        d = tmp_path / message.replace(" ", "_")
        d.mkdir()
        (d / "model.safetensors").write_bytes((bnb_dir / "model.safetensors").read_bytes())
        (d / "config.json").write_text(json.dumps({**config, "quantization_config": qc}))
        with pytest.raises(BnbFormatError, match=message):
            load_quantized(d, "nf4")
