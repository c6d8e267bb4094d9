"""GPU throughput of the bundled training loop on real shards: tokens/s and MFU per model size.

Runs on the device machine (torch + numpy only), in one call:

    python3 benches/train_gpu.py --data DIR [--out DIR] [--budget-s 540]

DIR holds shards made by the pack stage (here: samples/corpus packed at seq_len 2048). Steps:
1. checks: GPU, flash attention takes SDPA's grouped-query call, chunked cross-entropy == F.cross_entropy;
2. for each case (model, micro-batch, cross-entropy chunk): trainer.train.train() on the shards for
   `steps` steps (compiled, bf16, data loader on) and the median tokens/s and MFU of the steps after the
   first `skip` (torch.compile and allocator warm-up);
3. a table, and bench.json under --out.

FLOPs per token = 6 x matmul parameters (output layer included, embedding lookup not) + 12 x layers x dim x
seq_len (attention, PaLM appendix B, full square): Transformer.flops_per_token. MFU = tokens/s x that / peak
(H100 SXM bf16 dense: 989.4 TFLOP/s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from trainer.loss import chunked_cross_entropy  # noqa: E402
from trainer.train import TrainConfig, train  # noqa: E402

# (model, micro-batch sequences, ce_chunk tokens; 0 = one chunk of the whole micro-batch, i.e. unchunked logits)
CASES = [
    ("125m", 16, 8192),
    ("350m", 16, 8192),
    ("125m", 16, 0),
    ("1b", 8, 8192),
    ("350m", 16, 0),
]


def check_flash_gqa() -> bool:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q = torch.randn(2, 16, 2048, 64, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(2, 4, 2048, 64, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    try:
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        ref = F.scaled_dot_product_attention(
            q.float(), k.repeat_interleave(4, 1).float(), v.repeat_interleave(4, 1).float(), is_causal=True
        )
        err = ((out.float() - ref).norm() / ref.norm()).item()
        print(f"flash attention with enable_gqa: ok, rel err vs fp32 {err:.2e}")
        return True
    except RuntimeError as e:
        print(f"flash attention with enable_gqa: NOT available ({str(e)[:200]}); repeating k/v heads instead")
        return False


def check_chunked_ce() -> None:
    torch.manual_seed(0)
    n, d, v = 4096, 1024, 102_400
    h = (torch.randn(n, d, device="cuda") * 0.5).requires_grad_()
    w = (torch.randn(v, d, device="cuda") * 0.02).requires_grad_()
    t = torch.randint(0, v, (n,), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = chunked_cross_entropy(h, w, t, 1024)
    loss.backward()
    h2, w2 = h.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    ref = F.cross_entropy((h2.double() @ w2.double().t()), t)
    ref.backward()
    rel = lambda a, b: ((a.double() - b.double()).norm() / b.double().norm()).item()  # noqa: E731
    print(
        f"chunked CE vs fp64 F.cross_entropy: loss {loss.item():.5f} / {ref.item():.5f}, "
        f"grad_h rel err {rel(h.grad, h2.grad):.1e}, grad_w rel err {rel(w.grad, w2.grad):.1e}"
    )


def run_case(data: str, model: str, batch: int, chunk: int, steps: int, skip: int, gqa: bool, log: Path) -> dict:
    cfg = TrainConfig(
        data=data, model=model, device="cuda", seq_len=2048, batch_size=batch, grad_accum=1, max_steps=steps,
        warmup_steps=5, eval_interval=0, ce_chunk=chunk if chunk else batch * 2048, sdpa_gqa=gqa,
        log_file=str(log),
    )
    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    history = train(cfg)
    wall = time.time() - t0
    timed = history[skip:]
    tok_s = statistics.median(r["tokens_per_s"] for r in timed)
    mfu = statistics.median(r["mfu"] for r in timed)
    data_frac = statistics.median(r["data_ms"] / r["step_ms"] for r in timed)
    result = {
        "model": model, "batch": batch, "seq_len": 2048, "ce_chunk": chunk or "unchunked",
        "tokens_per_s": round(tok_s), "mfu": round(mfu, 4), "data_fraction": round(data_frac, 4),
        "loss_first": history[0]["loss"], "loss_last": history[-1]["loss"],
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1), "wall_s": round(wall, 1),
        "steps_timed": len(timed),
    }
    print("RESULT", json.dumps(result), flush=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--skip", type=int, default=10)
    ap.add_argument("--budget-s", type=float, default=540)
    ap.add_argument("--cases", help="model:batch:ce_chunk,... (default: CASES)")
    args = ap.parse_args()
    cases = CASES
    if args.cases:
        cases = [(m, int(b), int(c)) for m, b, c in (x.split(":") for x in args.cases.split(","))]
    started = time.time()
    out = Path(args.out)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, "
          f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
    torch.backends.cuda.matmul.allow_tf32 = True
    gqa = check_flash_gqa()
    check_chunked_ce()
    results = []
    for model, batch, chunk in cases:
        if time.time() - started > args.budget_s:
            print(f"skipped {model}/{batch}/{chunk}: over the time budget")
            continue
        try:
            results.append(run_case(args.data, model, batch, chunk, args.steps, args.skip, gqa,
                                    out / f"steps-{model}-{chunk or 'full'}.jsonl"))
        except Exception:  # one failing case (out of memory, say) must not lose the others' numbers
            traceback.print_exc()
            print(f"FAILED {model}/{batch}/{chunk}")
        torch.cuda.empty_cache()
        (out / "bench.json").write_text(json.dumps(results, indent=2))
    print("\nmodel  batch  ce_chunk   tokens/s    MFU   data/step  peak GiB  loss first->last")
    for r in results:
        print(f"{r['model']:<6} {r['batch']:>5}  {str(r['ce_chunk']):>9} {r['tokens_per_s']:>10,} "
              f"{100 * r['mfu']:>5.1f}%  {100 * r['data_fraction']:>8.2f}%  {r['peak_mem_gib']:>8}  "
              f"{r['loss_first']:.3f}->{r['loss_last']:.3f}")
    print(f"total {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
