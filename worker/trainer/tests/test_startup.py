"""Start-up of a training run: the model skeleton is built without initialisers or meta arithmetic (which
import torch._dynamo), the weights the training path loads are the checkpoint's bit for bit, whichever reader
reads them, and the long import the optimizer needs is prefetched in a thread."""

import subprocess
import sys

import torch
from safetensors.torch import load_file

from conftest import TRAINER_DIR
from tuneboard_trainer.hf_weights import load_config, load_pretrained
from tuneboard_trainer.import_prefetch import prefetch_imports
from tuneboard_trainer.meta_device import meta_device
from tuneboard_trainer.model import build_model
from tuneboard_trainer.rope import rope_inv_freq
from tuneboard_trainer.safetensors_io import read_weights


def test_loaded_weights_are_the_checkpoints_whichever_reader(tiny_model_dir):
    on_disk = load_file(str(tiny_model_dir / "model.safetensors"))
    model = load_pretrained(tiny_model_dir, dtype=torch.float32, device="cpu")
    staged = read_weights(tiny_model_dir, torch.device("cpu"), None, inference=False, method="staged")
    loaded = model.state_dict()
    assert set(staged) == set(on_disk)
    for name, t in on_disk.items():
        assert torch.equal(staged[name], t), name
        if name in loaded:
            assert torch.equal(loaded[name], t.float()), name
    # The skeleton's placeholder frequencies are replaced by real ones on the weights' device.
    assert torch.equal(model.inv_freq, rope_inv_freq(model.config, device="cpu"))


def test_meta_device_builds_shapes_without_initialisers(tiny_model_dir):
    cfg = load_config(tiny_model_dir)
    with meta_device():
        model = build_model(cfg)
    with torch.device("meta"):
        reference = build_model(cfg)
    assert all(p.is_meta for p in model.parameters())
    assert {k: (v.shape, v.dtype) for k, v in model.state_dict().items()} == \
        {k: (v.shape, v.dtype) for k, v in reference.state_dict().items()}
    assert model.inv_freq.is_meta and model.inv_freq.shape == reference.inv_freq.shape
    # Outside the context nothing is skipped.
    lin = torch.nn.Linear(4, 4)
    before = lin.weight.clone()
    lin.reset_parameters()
    assert not torch.equal(before, lin.weight)


def test_loading_a_checkpoint_does_not_import_dynamo(tiny_model_dir):
    code = ("import sys, torch\n"
            "from tuneboard_trainer.hf_weights import load_pretrained\n"
            f"load_pretrained({str(tiny_model_dir)!r}, dtype=torch.float32, device='cpu')\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=TRAINER_DIR, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_prefetch_imports_in_a_thread():
    code = ("import sys\n"
            "from tuneboard_trainer.import_prefetch import prefetch_imports\n"
            "assert 'torch._dynamo' not in sys.modules\n"
            "prefetch_imports().join()\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=TRAINER_DIR, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", out.stderr[-2000:]
    prefetch_imports(("no_such_module_for_tuneboard",)).join()  # a failed import stays in its thread
