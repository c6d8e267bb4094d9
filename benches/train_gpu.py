"""GPU throughput of the bundled training loop on real shards: tokens/s and MFU per model size.

Runs on the device machine (torch + numpy only), in one call:

    python3 benches/train_gpu.py --data DIR [--out DIR] [--budget-s 540]

DIR holds shards made by the pack stage (here: samples/corpus packed at seq_len 2048). Steps:
1. checks: GPU, which attention kernels (flash, cuDNN, memory-efficient) take SDPA's grouped-query call,
   chunked cross-entropy == F.cross_entropy; forward + backward time of each attention kernel at the model
   shapes; which attention kernels a compiled 350m block actually runs (profiler);
2. for each case (model, micro-batch, cross-entropy chunk, attention kernel, compile unit and mode):
   lmpipe.trainer.train.train() on the shards for
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

from lmpipe.trainer.loss import chunked_cross_entropy  # noqa: E402
from lmpipe.trainer.train import TrainConfig, train  # noqa: E402

# model:micro-batch sequences:ce_chunk tokens[:attention backend[:compile unit[:compile mode[:inductor options]]]]
# (ce_chunk 0 = one chunk of the whole micro-batch, i.e. unchunked logits; backend auto/flash/cudnn/efficient;
# unit block/trunk; mode a torch.compile mode, "default" for none; inductor options: boolean
# torch._inductor.config names joined by "+", "none" for none; default TrainConfig's, coordinate_descent_tuning)
CASES = [  # head_dim 128 (350m, 1b) against head_dim 64 (350m-h64, 1b-h64) at equal parameters and FLOPs
    "350m:24:16384",
    "350m-h64:24:16384",
    "1b:16:8192",
    "1b-h64:16:8192",
]


def parse_case(text: str) -> dict:
    parts = text.split(":")
    case = {
        "model": parts[0],
        "batch": int(parts[1]),
        "chunk": int(parts[2]),
        "backend": "auto",
        "unit": "block",
        "mode": None,
        "inductor": TrainConfig.inductor,
    }
    if len(parts) > 3:
        case["backend"] = parts[3]
    if len(parts) > 4:
        case["unit"] = parts[4]
    if len(parts) > 5 and parts[5] != "default":
        case["mode"] = parts[5]
    if len(parts) > 6:
        case["inductor"] = tuple(x for x in parts[6].split("+") if x and x != "none")
    return case


def bench_attention(gqa_ok: dict) -> None:
    """Forward + backward of causal SDPA at the 350m and 1b shapes, per backend (median of 10, CUDA events)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = {
        "flash": SDPBackend.FLASH_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
    }
    shapes = {
        "350m-h64 b24": (24, 16, 4, 64),
        "350m (h128) b24": (24, 8, 2, 128),
        "1b-h64 b16": (16, 32, 8, 64),
        "1b (h128) b16": (16, 16, 4, 128),
    }  # same q/k/v sizes per pair
    for label, (B, H, KV, D) in shapes.items():
        q = torch.randn(B, H, 2048, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        k = torch.randn(B, KV, 2048, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        v = torch.randn(B, KV, 2048, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        dy = torch.randn(B, H, 2048, D, device="cuda", dtype=torch.bfloat16)
        flops = 3.5 * 4 * B * H * 2048 * 2048 * D / 2  # fwd 2 matmuls + bwd 5, causal half
        ref = None
        for name, be in backends.items():
            for gqa in (True, False):
                if gqa and not gqa_ok.get(name, False):
                    continue

                def step(q=q, k=k, v=v, dy=dy, be=be, gqa=gqa, groups=H // KV):
                    kk, vv = (k, v) if gqa else (k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1))
                    with sdpa_kernel([be]):
                        y = F.scaled_dot_product_attention(q, kk, vv, is_causal=True, enable_gqa=gqa)
                    y.backward(dy)
                    return y

                try:
                    for _ in range(3):
                        y = step()
                    times = []
                    for _ in range(10):
                        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        a.record()
                        step()
                        b.record()
                        torch.cuda.synchronize()
                        times.append(a.elapsed_time(b))
                    ms = statistics.median(times)
                    y = y.detach().float()
                    ref = y if ref is None else ref
                    err = ((y - ref).norm() / ref.norm()).item()
                    print(
                        f"attention {label}: {name:<9} gqa={'sdpa' if gqa else 'repeat':<6} fwd+bwd {ms:7.2f} ms "
                        f"{flops / ms / 1e9:6.0f} TFLOP/s (causal work)  rel diff vs first {err:.1e}"
                    )
                except RuntimeError as e:
                    print(f"attention {label}: {name} gqa={gqa}: FAILED {str(e)[:150]}")
                q.grad = k.grad = v.grad = None
        torch.cuda.empty_cache()


def check_gqa(backend: str) -> bool:
    """Does `backend` take SDPA's grouped-query call (enable_gqa) and agree with fp32 math attention?"""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    be = {
        "flash": SDPBackend.FLASH_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
    }[backend]
    q = torch.randn(2, 16, 2048, 64, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(2, 4, 2048, 64, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    try:
        with sdpa_kernel([be]):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        ref = F.scaled_dot_product_attention(
            q.float(), k.repeat_interleave(4, 1).float(), v.repeat_interleave(4, 1).float(), is_causal=True
        )
        err = ((out.float() - ref).norm() / ref.norm()).item()
        print(f"{backend} attention with enable_gqa: ok, rel err vs fp32 {err:.2e}")
        return True
    except RuntimeError as e:
        print(f"{backend} attention with enable_gqa: NOT available ({str(e)[:200]}); repeating k/v heads instead")
        return False


def profile_attention_kernels(backends: tuple[str, ...] = ("auto", "cudnn")) -> None:
    """Which attention kernels a compiled 350m block runs, and their GPU time, per backend setting."""
    import re

    from torch.profiler import ProfilerActivity, profile

    from lmpipe.trainer.model import MODELS, Block, rope_tables
    from lmpipe.trainer.train import sdpa_backends

    cfg = MODELS["350m"]
    cos, sin = (t.cuda() for t in rope_tables(2048, cfg.head_dim, cfg.rope_theta))
    for backend in backends:
        torch._dynamo.reset()
        torch.manual_seed(0)
        block = Block(cfg).cuda()
        block.compile()
        x = torch.randn(8, 2048, cfg.dim, device="cuda", requires_grad=True)
        with sdpa_backends(TrainConfig(data="", device="cuda", sdpa_backend=backend)):

            def step(block=block, x=x):
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    y = block(x, cos, sin)
                y.float().square().mean().backward()

            for _ in range(3):
                step()
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(3):
                    step()
                torch.cuda.synchronize()
        found = {}
        for e in prof.key_averages():
            if re.search(r"flash|cudnn|fmha|sdpa|attn|attention", e.key, re.IGNORECASE):
                t = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
                found[e.key[:70]] = t / 3 / 1e3
        total = sum(found.values())
        top = sorted(found.items(), key=lambda kv: -kv[1])[:4]
        print(
            f"compiled 350m block (head_dim {cfg.head_dim}, batch 8), attention {backend}: attention kernels {total:.2f} ms/step: "
            + "; ".join(f"{name} {ms:.2f}" for name, ms in top)
        )
        torch.cuda.empty_cache()


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


def run_case(data: str, case: dict, steps: int, skip: int, gqa: bool, log: Path) -> dict:
    model, batch, chunk = case["model"], case["batch"], case["chunk"]
    cfg = TrainConfig(
        data=data,
        model=model,
        device="cuda",
        seq_len=2048,
        batch_size=batch,
        grad_accum=1,
        max_steps=steps,
        warmup_steps=5,
        eval_interval=0,
        ce_chunk=chunk if chunk else batch * 2048,
        sdpa_gqa=gqa,
        sdpa_backend=case["backend"],
        compile_unit=case["unit"],
        compile_mode=case["mode"],
        log_file=str(log),
        inductor=case["inductor"],
    )
    torch._dynamo.reset()  # no compiled graph (with another attention kernel baked in) carries over
    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    history = train(cfg)
    wall = time.time() - t0
    timed = history[skip:]
    tok_s = statistics.median(r["tokens_per_s"] for r in timed)
    mfu = statistics.median(r["mfu"] for r in timed)
    data_frac = statistics.median(r["data_ms"] / r["step_ms"] for r in timed)
    result = {
        "model": model,
        "batch": batch,
        "seq_len": 2048,
        "ce_chunk": chunk or "unchunked",
        "attention": case["backend"] + ("" if gqa else "+repeat"),
        "compile": case["unit"],
        "compile_mode": case["mode"] or "default",
        "inductor": "+".join(case["inductor"]) or "-",
        "tokens_per_s": round(tok_s),
        "mfu": round(mfu, 4),
        "data_fraction": round(data_frac, 4),
        "loss_first": history[0]["loss"],
        "loss_last": history[-1]["loss"],
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
        "wall_s": round(wall, 1),
        "steps_timed": len(timed),
    }
    print("RESULT", json.dumps(result), flush=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--skip", type=int, default=10)
    ap.add_argument("--budget-s", type=float, default=540)
    ap.add_argument("--cases", help="comma-separated model:batch:ce_chunk[:backend[:unit[:mode]]] (default: CASES)")
    ap.add_argument("--no-attention-bench", action="store_true")
    ap.add_argument(
        "--profile-backends",
        default="auto,cudnn",
        help="attention settings to profile a compiled 350m block under ('' to skip the profile)",
    )
    args = ap.parse_args()
    cases = [parse_case(c) for c in (args.cases.split(",") if args.cases else CASES)]
    started = time.time()
    out = Path(args.out)
    print(
        f"torch {torch.__version__}, {torch.cuda.get_device_name()}, "
        f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB, cuDNN {torch.backends.cudnn.version()}"
    )
    torch.backends.cuda.matmul.allow_tf32 = True
    gqa_ok = {b: check_gqa(b) for b in ("flash", "cudnn", "efficient")}
    check_chunked_ce()
    if not args.no_attention_bench:
        bench_attention(gqa_ok)
    try:
        if args.profile_backends:
            profile_attention_kernels(tuple(args.profile_backends.split(",")))
    except (RuntimeError, AttributeError):  # a diagnostic: its failure must not cost the timed cases
        traceback.print_exc()
    results = []
    for case in cases:
        label = ":".join(str(case[k]) for k in ("model", "batch", "chunk", "backend", "unit")) + f":{case['mode']}"
        label += ":" + "+".join(case["inductor"])
        if time.time() - started > args.budget_s:
            print(f"skipped {label}: over the time budget")
            continue
        gqa = gqa_ok.get(case["backend"], gqa_ok["flash"]) if case["backend"] != "auto" else gqa_ok["flash"]
        try:
            log = out / "steps.jsonl"  # every case's step records, each case after a {"case": ...} line
            with open(log, "a") as f:
                f.write(json.dumps({"case": label}) + "\n")
            results.append(run_case(args.data, case, args.steps, args.skip, gqa, log))
        except Exception:  # one failing case (out of memory, say) must not lose the others' numbers
            traceback.print_exc()
            print(f"FAILED {label}")
        torch.cuda.empty_cache()
        (out / "bench.json").write_text(json.dumps(results, indent=2))
    print(
        "\nmodel  batch  ce_chunk  attention      compile  mode                          tokens/s    MFU"
        "   data/step  peak GiB  loss first->last"
    )
    for r in results:
        print(
            f"{r['model']:<6} {r['batch']:>5}  {r['ce_chunk']!s:>9} {r['attention']:<14} {r['compile']:<7}  "
            f"{r['compile_mode'] + ' ' + r['inductor']:<28} {r['tokens_per_s']:>10,} "
            f"{100 * r['mfu']:>5.1f}%  {100 * r['data_fraction']:>8.2f}%  {r['peak_mem_gib']:>8}  "
            f"{r['loss_first']:.3f}->{r['loss_last']:.3f}"
        )
    print(f"total {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
