"""CPU training step of the bundled trainer at vocabulary 102,400: seconds per step and peak RSS (issue 20 item 7).

    .venv/bin/python benches/train_cpu.py [--steps 3] [--threads 2] [--batch-size 8] [--seq-len 2048]
                                          [--vocab 102400] [--model tiny] [--ce-chunk N] [--cpu-chunk-mb MB]

The model, its cross-entropy chunk and the optimizer come from lmpipe.trainer.train (build_model,
configure_optimizer) as `jobs/train.py --device cpu` makes them; the batches are random tokens (no shards
needed), the step is the loop's: forward, backward, gradient clipping, AdamW. Prints each step's seconds, the
mean of the steps after the first, and the process's peak resident set size (getrusage ru_maxrss).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from lmpipe.trainer import loss as loss_mod  # noqa: E402
from lmpipe.trainer.train import TrainConfig, build_model, configure_optimizer  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--vocab", type=int, default=102_400)
    parser.add_argument("--ce-chunk", type=int, default=None, help="default: TrainConfig's")
    parser.add_argument("--cpu-chunk-mb", type=float, default=None, help="override loss.CPU_CHUNK_BYTES (MiB)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    if args.cpu_chunk_mb is not None:
        loss_mod.CPU_CHUNK_BYTES = int(args.cpu_chunk_mb * 2**20)
    overrides = {} if args.ce_chunk is None else {"ce_chunk": args.ce_chunk}
    cfg = TrainConfig(data="", model=args.model, device="cpu", batch_size=args.batch_size, **overrides)
    model = build_model(cfg, args.vocab, args.seq_len)
    optimizer = configure_optimizer(model, cfg, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    # rows per chunk the loss actually uses on CPU (before chunk_rows existed: the configured chunk)
    rows = loss_mod.chunk_rows("cpu", model.vocab_size, model.ce_chunk) if hasattr(loss_mod, "chunk_rows") else None
    print(
        f"model {args.model}: {model.num_params():,} parameters, vocab {model.vocab_size:,}, "
        f"batch {args.batch_size} x {args.seq_len}, ce_chunk {model.ce_chunk} ({rows or model.ce_chunk} rows on CPU), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; RSS after setup {peak_rss_gb():.2f} GB",
        flush=True,
    )
    times = []
    for step in range(args.steps):
        batch = torch.randint(0, args.vocab, (args.batch_size, args.seq_len + 1), generator=gen)
        t0 = time.perf_counter()
        loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        times.append(dt)
        print(f"step {step + 1}: loss {loss.item():.4f}, {dt:.2f} s, peak RSS {peak_rss_gb():.2f} GB", flush=True)
    after_first = times[1:] or times
    print(
        f"seconds/step (after the first): {statistics.mean(after_first):.2f}; peak RSS {peak_rss_gb():.2f} GB",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
