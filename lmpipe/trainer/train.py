"""The training loop: packed token shards in, a LLaMA-style model out, one log line per step.

Readable top to bottom: config, setup (devices, data, model, optimizer, resume), then the loop. One GPU,
CPU, or several GPUs under torchrun (DDP; `torchrun --nproc-per-node 8 jobs/train.py ...`). Only torch,
numpy and the standard library.

Exact resume: the data order is a pure function of (seed, batch number) (lmpipe.trainer.shards.SequenceLoader), the
learning rate a function of the step, and a checkpoint holds model, optimizer and step; a resumed run
therefore repeats an uninterrupted one step for step (bit for bit on CPU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.distributed as dist

from lmpipe.trainer.model import MODELS, Transformer
from lmpipe.trainer.shards import SequenceLoader, ShardError, ShardSet, file_sha256

# bf16 dense peak of the GPUs we measure on (NVIDIA datasheets, SXM, without sparsity), for MFU.
PEAK_BF16_FLOPS = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12}


@dataclass(frozen=True)
class TrainConfig:
    data: str  # the pack stage's output folder (or its shards/ folder)
    model: str = "tiny"  # a name in lmpipe.trainer.model.MODELS
    device: str = "cpu"  # "cpu", "cuda" (under torchrun each rank takes cuda:LOCAL_RANK)
    seq_len: int | None = None  # tokens per sequence; None: the shards' packing length
    batch_size: int = 8  # sequences per micro-batch on each rank
    grad_accum: int = 1  # micro-batches per optimizer step
    max_steps: int = 100  # the schedule's length
    stop_at: int | None = None  # end this run after this step (a planned interruption; resume continues it)
    lr: float = 3e-4  # peak learning rate, reached after warmup_steps
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio at max_steps
    warmup_steps: int = 10  # linear warmup from 0
    weight_decay: float = 0.1  # on matrices only (not on norm gains)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # max global gradient norm; 0 disables
    eval_interval: int = 50  # steps between validation losses; 0 disables
    eval_batches: int = 4  # micro-batches of the validation split per evaluation (the same ones every time)
    ckpt_dir: str | None = None  # where latest.pt goes; None: no checkpoints
    ckpt_interval: int = 0  # steps between checkpoints (also one at the end when ckpt_dir is set); 0: end only
    resume: bool = False  # continue from ckpt_dir/latest.pt
    seed: int = 0  # model init and data order
    dtype: str = "auto"  # "bf16" autocast, "fp32", or "auto" (bf16 on CUDA, fp32 on CPU)
    compile: bool | None = None  # torch.compile the transformer; None: on for CUDA
    # tokens per chunk of the output layer + cross-entropy; off CUDA capped at ~100 MB of fp32 logits per chunk
    # (256 tokens at vocabulary 102,400: lmpipe.trainer.loss.chunk_rows)
    ce_chunk: int = 8192
    sdpa_gqa: bool = True  # let SDPA handle grouped-query attention (False: repeat k/v heads before it)
    # CUDA attention kernel: "auto" (PyTorch's order: flash first), "flash", "cudnn" (cuDNN's fused attention,
    # flash as fallback), "efficient". Process-wide while train() runs; compiled graphs bake the choice in.
    sdpa_backend: str = "auto"
    compile_unit: str = "block"  # "block": each block compiled (one shared graph); "trunk": the whole trunk
    compile_mode: str | None = None  # torch.compile mode, e.g. "max-autotune-no-cudagraphs"; None: default
    # Boolean torch._inductor.config options turned on while train() runs (they act only when compiling).
    # Coordinate-descent tuning of the generated norm/RoPE/SwiGLU kernels: +0.7 to +1.0 MFU points at 350m on
    # the H100 for ~60 s more compile (docs/bench/train.md); `--inductor` with no name turns it off.
    inductor: tuple[str, ...] = ("coordinate_descent_tuning",)
    tokenizer: str | None = None  # tokenizer.json to check against the shards' tokenizer hash
    log_file: str | None = None  # JSON lines, one per step (rank 0)
    peak_flops: float | None = None  # for MFU; None: from the GPU's name (PEAK_BF16_FLOPS)


def lr_at(step: int, cfg: TrainConfig) -> float:
    # 1) linear warmup for warmup_steps; 2) cosine decay to min_lr_ratio * lr at max_steps
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


class Runtime:
    """Where this process runs: rank, world size, device, autocast."""

    def __init__(self, cfg: TrainConfig):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.distributed = self.world > 1
        if cfg.device == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError("--device cuda: no CUDA device visible to torch")
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        else:
            self.device = torch.device(cfg.device)
        if self.distributed:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        use_bf16 = cfg.dtype == "bf16" or (cfg.dtype == "auto" and self.device.type == "cuda")
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()
        self.dtype_name = "bf16" if use_bf16 else "fp32"
        self.compile = cfg.compile if cfg.compile is not None else self.device.type == "cuda"
        self.main = self.rank == 0

    def log(self, line: str) -> None:
        if self.main:
            print(line, flush=True)


def build_model(cfg: TrainConfig, vocab_size: int, seq_len: int) -> Transformer:
    if cfg.model not in MODELS:
        raise ValueError(f"unknown model {cfg.model!r}; named configs: {', '.join(MODELS)}")
    mcfg = MODELS[cfg.model]
    model_vocab = mcfg.vocab_size or -(-vocab_size // 64) * 64  # tiny: the shards' vocabulary, padded
    if vocab_size > model_vocab:
        raise ShardError(
            f"the shards' tokenizer has {vocab_size:,} tokens, model {cfg.model} only {model_vocab:,}: "
            "these shards were made with another tokenizer"
        )
    torch.manual_seed(cfg.seed)
    model = Transformer(mcfg, model_vocab, seq_len)
    model.ce_chunk = cfg.ce_chunk
    for block in model.trunk.blocks:
        block.attn.sdpa_gqa = cfg.sdpa_gqa
    return model


def configure_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8, fused=device.type == "cuda")


def save_checkpoint(path: Path, model, optimizer, step: int, cfg: TrainConfig, data_sha: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "config": asdict(cfg),
            "model_shape": asdict(MODELS[cfg.model]),
            "tokenizer_sha256": data_sha,
        },
        tmp,
    )
    os.replace(tmp, path)


# Settings a resumed run must share with the run it continues (others, like max_steps or logging, may change).
_RESUME_MUST_MATCH = ("model", "seq_len", "batch_size", "grad_accum", "seed", "ce_chunk")


def load_checkpoint(path: Path, model, optimizer, cfg: TrainConfig, data_sha: str) -> int:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    saved = ckpt["config"]
    diff = {k: (saved[k], getattr(cfg, k)) for k in _RESUME_MUST_MATCH if saved[k] != getattr(cfg, k)}
    if diff:
        raise ValueError(f"{path}: cannot resume with changed settings {diff} (saved, now)")
    # A named config can change shape without changing tensor sizes (350m went from 16 / 4 heads of 64 to 8 / 2
    # of 128: the same QKV matrix), so load_state_dict alone would not notice; the saved shape is compared.
    # Checkpoints written before the shape was saved carry none and are taken as they are.
    shape = asdict(MODELS[cfg.model])
    if "model_shape" in ckpt and ckpt["model_shape"] != shape:
        changed = {k: (v, shape.get(k)) for k, v in ckpt["model_shape"].items() if shape.get(k) != v}
        raise ValueError(
            f"{path}: model {cfg.model!r} has another shape than the checkpoint's: {changed} "
            "(saved, now); the old shape may be kept under another name (350m-h64, 1b-h64)"
        )
    if ckpt["tokenizer_sha256"] != data_sha:
        raise ShardError(f"{path}: checkpoint was trained on shards of another tokenizer")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return int(ckpt["step"])


@torch.no_grad()
def evaluate(model, batches: list[torch.Tensor], rt: Runtime) -> float:
    model.eval()
    total = torch.zeros((), device=rt.device)
    for batch in batches:
        with rt.autocast:
            total += model(batch[:, :-1], batch[:, 1:])
    if rt.distributed:
        dist.all_reduce(total)
        total /= rt.world
    model.train()
    return total.item() / max(1, len(batches))


_SDPA_BACKENDS = ("auto", "flash", "cudnn", "efficient")


def sdpa_backends(cfg: TrainConfig):
    """Context that selects the CUDA attention kernel for everything traced or run inside it."""
    if cfg.sdpa_backend not in _SDPA_BACKENDS:
        raise ValueError(f"unknown sdpa_backend {cfg.sdpa_backend!r}; one of {', '.join(_SDPA_BACKENDS)}")
    if cfg.sdpa_backend == "auto" or cfg.device != "cuda":
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    first = {
        "flash": SDPBackend.FLASH_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
    }[cfg.sdpa_backend]
    # the chosen kernel first, flash and memory-efficient after it for shapes it does not take (never math:
    # T x T scores would be materialized, so a silent fall-back there shows as out-of-memory instead)
    order = list(dict.fromkeys([first, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]))
    return sdpa_kernel(order, set_priority=True)


def train(cfg: TrainConfig) -> list[dict]:
    """Run training; returns one record per step (step, loss, lr, grad_norm, tokens_per_s, mfu, val_loss)."""
    if cfg.compile_unit not in ("block", "trunk"):
        raise ValueError(f"unknown compile_unit {cfg.compile_unit!r}; one of block, trunk")
    with sdpa_backends(cfg), inductor_options(cfg.inductor):
        return _train(cfg)


def inductor_options(names: tuple[str, ...]):
    """Turn on boolean torch._inductor.config options (compilation happens lazily, inside train())."""
    if not names:
        return nullcontext()
    import torch._inductor.config as inductor_config

    for name in names:
        if not isinstance(getattr(inductor_config, name, None), bool):
            raise ValueError(f"inductor option {name!r} is not a boolean torch._inductor.config setting")
    return inductor_config.patch({name: True for name in names})


def _train(cfg: TrainConfig) -> list[dict]:
    # One function on purpose, as nanoGPT's loop: a training step is read top to bottom in one sitting.
    rt = Runtime(cfg)

    # --- data: every header asserted before the model is built ---
    tokenizer_sha = file_sha256(cfg.tokenizer) if cfg.tokenizer else None
    train_set = ShardSet(cfg.data, "train", tokenizer_sha)
    seq_len = cfg.seq_len or train_set.headers[0].seq_len
    cfg = replace(cfg, seq_len=seq_len)
    loader = SequenceLoader(train_set, seq_len, cfg.batch_size, cfg.seed, rt.rank, rt.world)
    val_batches = []
    if cfg.eval_interval > 0:
        try:
            val_set = ShardSet(cfg.data, "val", train_set.tokenizer_sha256)
            val_loader = SequenceLoader(val_set, seq_len, cfg.batch_size, cfg.seed, rt.rank, rt.world)
            val_batches = [torch.from_numpy(b).to(rt.device) for b in val_loader.fixed_batches(cfg.eval_batches)]
        except ShardError as e:
            rt.log(f"no validation loss: {e}")

    # --- model and optimizer ---
    model = build_model(cfg, train_set.vocab_size, seq_len).to(rt.device)
    optimizer = configure_optimizer(model, cfg, rt.device)
    start_step = 0
    ckpt_path = Path(cfg.ckpt_dir) / "latest.pt" if cfg.ckpt_dir else None
    if cfg.resume:
        if ckpt_path is None or not ckpt_path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        start_step = load_checkpoint(ckpt_path, model, optimizer, cfg, train_set.tokenizer_sha256)
    flops_per_token = model.flops_per_token(seq_len)
    if rt.compile:
        if cfg.compile_unit == "trunk":
            # One graph from embedding to final norm: the next block's norm fuses with the residual add.
            model.trunk.compile(mode=cfg.compile_mode)
        else:
            # Regional compilation: the blocks share one compiled graph (parameters are its inputs), so a
            # 24-layer model compiles about as fast as one layer.
            for block in model.trunk.blocks:
                block.compile(mode=cfg.compile_mode)
    train_model = model
    if rt.distributed:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [rt.device.index] if rt.device.type == "cuda" else None
        train_model = DistributedDataParallel(model, device_ids=device_ids)
    peak = cfg.peak_flops
    if peak is None and rt.device.type == "cuda":
        name = torch.cuda.get_device_name(rt.device)
        peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)

    tokens_per_step = cfg.batch_size * seq_len * cfg.grad_accum * rt.world
    rt.log(
        f"model {cfg.model}: {model.num_params():,} parameters ({model.num_params(embedding=False):,} without "
        f"embedding), vocab {model.vocab_size:,}; {rt.dtype_name}, compile={rt.compile}"
        + (f" ({cfg.compile_unit}, mode {cfg.compile_mode or 'default'})" if rt.compile else "")
        + f", attention {cfg.sdpa_backend}, world {rt.world}, "
        f"{tokens_per_step:,} tokens/step; train {train_set.num_tokens:,} tokens in {len(train_set.paths)} "
        f"shard(s), {loader.batches_per_epoch:,} steps/epoch; {flops_per_token / 1e6:,.1f} MFLOP/token"
    )
    log_file = open(cfg.log_file, "a") if cfg.log_file and rt.main else None

    def fetch(b: int) -> torch.Tensor:
        batch = torch.from_numpy(loader.batch(b))
        if rt.device.type == "cuda":
            return batch.pin_memory().to(rt.device, non_blocking=True)
        return batch

    history: list[dict] = []
    batch_no = start_step * cfg.grad_accum
    next_batch = fetch(batch_no)
    t_last = time.perf_counter()
    for step in range(start_step, min(cfg.max_steps, cfg.stop_at or cfg.max_steps)):
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=rt.device)
        data_s = 0.0
        for micro in range(cfg.grad_accum):
            batch = next_batch
            sync = micro == cfg.grad_accum - 1
            with train_model.no_sync() if rt.distributed and not sync else nullcontext():
                with rt.autocast:
                    loss = train_model(batch[:, :-1], batch[:, 1:]) / cfg.grad_accum
                # the next micro-batch is read while the GPU works on this one (kernels run asynchronously)
                t0 = time.perf_counter()
                batch_no += 1
                next_batch = fetch(batch_no)
                data_s += time.perf_counter() - t0
                loss.backward()
            loss_sum += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else 1e30)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if rt.distributed:
            dist.all_reduce(loss_sum)
            loss_sum /= rt.world
        loss_value = loss_sum.item()  # waits for the GPU: the step's time is complete after this
        now = time.perf_counter()
        dt, t_last = now - t_last, now
        tok_s = tokens_per_step / dt
        mfu = tok_s * flops_per_token / (peak * rt.world) if peak else None
        record = {
            "step": step + 1,
            "loss": loss_value,
            "lr": lr,
            "grad_norm": float(grad_norm),
            "tokens_per_s": tok_s,
            "mfu": mfu,
            "data_ms": data_s * 1e3,
            "step_ms": dt * 1e3,
        }
        line = (
            f"step {step + 1:>6}/{cfg.max_steps} | loss {loss_value:.4f} | lr {lr:.2e} | norm {float(grad_norm):.3f}"
            f" | {tok_s:,.0f} tok/s"
            + (f" | mfu {100 * mfu:.1f}%" if mfu is not None else "")
            + f" | {dt * 1e3:.0f} ms (data {data_s * 1e3:.1f} ms)"
        )
        if val_batches and ((step + 1) % cfg.eval_interval == 0 or step + 1 == cfg.max_steps):
            record["val_loss"] = evaluate(model, val_batches, rt)
            line += f" | val {record['val_loss']:.4f}"
            t_last = time.perf_counter()  # evaluation time is not training throughput
        rt.log(line)
        history.append(record)
        if log_file:
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
        last = step + 1 in (cfg.max_steps, cfg.stop_at)
        if ckpt_path and rt.main and (last or (cfg.ckpt_interval and (step + 1) % cfg.ckpt_interval == 0)):
            save_checkpoint(ckpt_path, model, optimizer, step + 1, cfg, train_set.tokenizer_sha256)
            t_last = time.perf_counter()
    if log_file:
        log_file.close()
    if rt.distributed:
        dist.destroy_process_group()
    return history


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description="Train a LLaMA-style model on packed token shards.")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", "bool | None"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        elif f.name == "data":
            parser.add_argument(flag, required=True)
        elif f.type == "tuple[str, ...]":
            parser.add_argument(flag, nargs="*", default=list(f.default), metavar="NAME")
        else:
            kind = {"int": int, "float": float, "int | None": int, "float | None": float}.get(str(f.type), str)
            parser.add_argument(flag, type=kind, default=f.default)
    args = vars(parser.parse_args(argv))
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    try:
        train(cfg)
    except (ShardError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", flush=True)
        return 2
    return 0
