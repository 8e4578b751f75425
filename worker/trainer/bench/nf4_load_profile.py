"""Where the 4-bit chat load spends its time: the bf16 read, the NF4 rows quantized on load, and the rows read
from a bitsandbytes 4-bit checkpoint, each timed twice (the first pays Triton's compile when its cache is cold)
and profiled once with cProfile.

    python -m bench.nf4_load_profile --model-dir /tmp/seed8b --bnb-dir /tmp/seed8b-bnb --out prof.json

--model-dir holds a bf16 Llama-shaped checkpoint (bench.seed_run writes one); the bitsandbytes checkpoint is
written to --bnb-dir from it unless it is there. The JSON has the seconds of every read and the top functions
by cumulative and by own time of each profiled read.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path

import torch

from .chat_bench import write_bnb_copy
from .seed_run import warm_cache


def timed_read(fn) -> tuple[float, object]:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return round(time.perf_counter() - t0, 3), out


def profiled(fn, top: int = 25) -> dict:
    prof = cProfile.Profile()
    prof.enable()
    secs, out = timed_read(fn)
    prof.disable()
    del out
    torch.cuda.empty_cache()
    res = {"seconds": secs}
    for key in ("cumulative", "tottime"):
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats(key).print_stats(top)
        res[key] = s.getvalue().splitlines()[-top - 2:]
    return res


def write_bnb(model_dir: Path, bnb_dir: Path) -> float:
    """Seconds to write the bitsandbytes copy (0 when it is there already)."""
    if (bnb_dir / "config.json").exists():
        return 0.0
    t0 = time.perf_counter()
    write_bnb_copy(model_dir, bnb_dir)
    return round(time.perf_counter() - t0, 1)


def main(argv=None) -> int:
    from tuneboard_trainer.quant.nf4_rows_load import read_nf4_rows
    from tuneboard_trainer.safetensors_io import read_weights

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True, type=Path)
    ap.add_argument("--bnb-dir", required=True, type=Path)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    dev, bf16 = torch.device("cuda"), torch.bfloat16
    torch.zeros(1, device=dev)
    res: dict = {"card": torch.cuda.get_device_name(), "bnb_write_s": write_bnb(a.model_dir, a.bnb_dir)}
    reads = {"bf16": lambda: read_weights(a.model_dir, dev, bf16),
             "nf4_from_bf16": lambda: read_nf4_rows(a.model_dir, dev, bf16),
             "nf4_from_bnb": lambda: read_nf4_rows(a.bnb_dir, dev, bf16)}
    for name, fn in reads.items():
        warm_cache(a.bnb_dir if name == "nf4_from_bnb" else a.model_dir)
        first, out = timed_read(fn)
        del out
        torch.cuda.empty_cache()
        second, out = timed_read(fn)
        del out
        torch.cuda.empty_cache()
        res[name] = {"first_s": first, "second_s": second, "profile": profiled(fn)}
        print(f"# {name}: {first} s, then {second} s; profiled {res[name]['profile']['seconds']} s", flush=True)
        Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
