"""Command line: train | evaluate | export | chat | make-demo-model | validate-config."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import traceback

EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_ORPHANED = 0, 1, 2, 3


def exit_when_stdin_closes() -> None:
    """The worker holds our stdin open and never writes to it. End of input means the worker is
    gone (even if it was SIGKILLed): stop at once, so that no orphan keeps writing into a run that
    another worker is about to resume from its last checkpoint."""

    def watch():
        # os.read on the raw descriptor, not sys.stdin: a daemon thread blocked inside
        # sys.stdin's buffered reader holds its lock and makes interpreter shutdown abort.
        try:
            while os.read(0, 1 << 16):
                pass
        finally:
            print("[trainer] the worker went away (stdin closed); stopping", file=sys.stderr, flush=True)
            os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _run_reported(args, work) -> int:
    """train | evaluate | export: run `work(sink)`; whatever goes wrong becomes one `error` event
    (kind config / data / oom / internal) and the exit code the worker reads (2 for config)."""
    from .config import ConfigError
    from .data import DataError
    from .events import Error, EventSink
    from .model import UnsupportedModelError

    sink = EventSink()
    if args.exit_with_stdin:
        exit_when_stdin_closes()
    try:
        work(sink)
        return EXIT_OK
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 -- the worker must always get an `error` event
        if isinstance(e, (ConfigError, UnsupportedModelError)):
            kind, code = "config", EXIT_CONFIG
        elif isinstance(e, DataError):
            kind, code = "data", EXIT_ERROR
        else:
            kind, code = ("oom" if _is_oom(e) else "internal"), EXIT_ERROR
        tb = traceback.format_exc()
        sink.emit(Error(message=str(e) or type(e).__name__, kind=kind,
                        traceback=tb if kind in ("internal", "oom") else None))
        print(f"[error] {kind}: {e}", file=sys.stderr, flush=True)
        if kind == "internal":
            print(tb, file=sys.stderr, flush=True)
        return code


def cmd_train(args) -> int:
    def work(sink):
        from .config import TrainConfig

        cfg = TrainConfig.from_file(args.config)
        from .cuda_start import start_cuda_context

        start_cuda_context(cfg.device)  # the driver's start-up while torch is imported (cuda_start.py)
        from .train import train  # heavy imports (torch) only after the config is valid

        train(cfg, sink, dist_strategy=args.dist_strategy, overlap_loading=not args.sequential_loading)

    return _run_reported(args, work)


def cmd_task(args) -> int:
    """evaluate | export: the same error reporting as train (an `error` event, exit 2 for config)."""

    def work(sink):
        if args.command == "evaluate":
            from .evaluate import EvalConfig, evaluate

            evaluate(EvalConfig.from_file(args.config), sink)
        else:
            from .export import ExportConfig, export_model

            export_model(ExportConfig.from_file(args.config), sink)

    return _run_reported(args, work)


def _is_oom(e: BaseException) -> bool:
    if isinstance(e, MemoryError):
        return True
    try:
        import torch

        return isinstance(e, torch.OutOfMemoryError)
    except Exception:  # noqa: BLE001
        return False


def cmd_validate(args) -> int:
    from .config import ConfigError, TrainConfig
    from .stages import check_stage

    try:
        # The stage rules too (what a stage refuses), as `train` checks them in one process.
        check_stage(TrainConfig.from_file(args.config), distributed=False)
    except ConfigError as e:
        print(str(e))
        return EXIT_CONFIG
    print("ok")
    return EXIT_OK


def cmd_chat(args) -> int:
    from .chat_server import serve

    return serve(decode=args.decode, max_seq=args.max_seq)


def cmd_demo(args) -> int:
    from .demo_model import make_demo_model

    out = make_demo_model(args.out, args.tokenizer_dir, force=args.force)
    print(str(out))
    return EXIT_OK


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="tuneboard_trainer", description="Tuneboard LoRA trainer")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="run a LoRA fine-tuning job (JSON events on stdout)")
    t.add_argument("--config", required=True)
    t.add_argument("--exit-with-stdin", action="store_true",
                   help="exit when stdin reaches end of input (the worker uses this to take orphans down with it)")
    t.add_argument("--dist-strategy", choices=("auto", "ddp", "fsdp"), default="auto",
                   help="under torchrun: ddp, fsdp, or auto (fsdp when the weights need more than half of one GPU)")
    t.add_argument("--sequential-loading", action="store_true",
                   help="read the weights after tokenizing the data instead of during it (for comparisons)")
    t.set_defaults(func=cmd_train)
    v = sub.add_parser("validate-config", help="check a training config; prints ok or the error")
    v.add_argument("--config", required=True)
    v.set_defaults(func=cmd_validate)
    c = sub.add_parser("chat", help="JSON-lines chat server on stdin/stdout")
    c.add_argument("--decode", choices=("compile", "graph", "eager"), default="compile",
                   help="CUDA decode: compiled kernels, a CUDA graph of eager kernels, or eager")
    c.add_argument("--max-seq", type=int, default=4096, help="static KV cache length in tokens")
    c.set_defaults(func=cmd_chat)
    for name, text in (("evaluate", "eval loss, perplexity, predictions with BLEU-4 / ROUGE (JSON events on stdout)"),
                       ("export", "merge a LoRA adapter and write a Hugging Face model folder (JSON events)")):
        e = sub.add_parser(name, help=text)
        e.add_argument("--config", required=True)
        e.add_argument("--exit-with-stdin", action="store_true")
        e.set_defaults(func=cmd_task)
    d = sub.add_parser("make-demo-model", help="write the random-weights demo model (idempotent)")
    d.add_argument("--out", required=True)
    d.add_argument("--tokenizer-dir", required=True)
    d.add_argument("--force", action="store_true", help="rewrite even if the files exist")
    d.set_defaults(func=cmd_demo)
    args = p.parse_args(argv)
    return args.func(args)
