"""Output layer + cross-entropy in chunks of tokens, so the (tokens x vocabulary) logits never exist at once.

At vocabulary 102,400 the fp32 logits of one 16k-token micro-batch are 6.7 GB, written and read several times
(softmax, loss, gradient): for a 125M model that traffic costs more than the transformer. Here each chunk's
logits are made, turned into its loss and its gradient (softmax - one-hot) at once, multiplied into the
gradients of the hidden states and of the output weight, and dropped; backward only scales the stored
gradients (the approach of Liger-Kernel's fused linear cross-entropy). Same three matmuls as the plain
version, a chunk of logits in memory instead of all of them.

On CUDA the chunk step is compiled (inductor fuses the one-hot into a comparison: nothing of it is stored) and
the chunk is the caller's (8192 tokens by default: docs/bench/train.md). Elsewhere (CPU) the step runs eagerly,
where `one_hot` would be a real int64 (chunk x vocabulary) tensor and every temporary a fresh mmap'd allocation
(page faults, zeroing), so the CPU loop (_cpu_forward) has no one-hot and no temporaries of chunk size: one fp32
buffer is reused for every chunk, the matmul writes the logits into it, softmax runs in place over it, 1 is
subtracted at the targets, and the 1/N scale goes onto the small operands (the chunk's hidden states,
its (chunk x dim) gradient) instead of the big one. Its chunk is capped at CPU_CHUNK_BYTES of fp32 logits (256
rows at vocabulary 102,400): the tiny model's step at vocabulary 102,400, batch 8 x 2048, went from 20.9 GB
peak RSS to 0.9 GB (docs/bench/train.md, "CPU training at vocabulary 102,400").
"""

from __future__ import annotations

import torch

_compiled_chunk = None  # torch.compile of _chunk_loss_and_grad, made on first CUDA use

# Off CUDA: at most this many bytes of fp32 logits per chunk (a chunk's logits, its softmax and the matmuls
# reading them stay near 100 MB, whatever chunk the caller asks for).
CPU_CHUNK_BYTES = 100 * 2**20


def chunk_rows(device_type: str, vocab_size: int, requested: int) -> int:
    """Rows per chunk on this device: `requested` on CUDA, else capped at CPU_CHUNK_BYTES of fp32 logits."""
    if device_type == "cuda":
        return requested
    return max(1, min(requested, CPU_CHUNK_BYTES // (4 * vocab_size)))


def _chunk_loss_and_grad(logits: torch.Tensor, targets: torch.Tensor, scale: float):
    """Sum of the chunk's losses (fp32) and scale * d(loss)/d(logits) in the logits' dtype."""
    x = logits.float()
    lse = torch.logsumexp(x, dim=-1)
    target_logit = x.gather(1, targets[:, None]).squeeze(1)
    grad = torch.exp(x - lse[:, None])
    grad = grad - torch.nn.functional.one_hot(targets, x.shape[1]).to(grad.dtype)
    return (lse - target_logit).sum(), (grad * scale).to(logits.dtype)


def _softmax_grad_inplace_(x: torch.Tensor, targets: torch.Tensor, hs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Turn the fp32 logits x = hs @ w.T (rows x vocabulary) into d(sum of losses)/d(logits) = softmax - one-hot,
    in place and without a one-hot; returns the sum of the rows' losses (fp32).

    One softmax pass (max, exp and sum, scale) instead of log-softmax then exp: the loss is -log p[target], except
    where p[target] < 1e-30 (a loss above 69, where -log p loses precision and p = 0 gives inf): those rows'
    logits are made again for an exact logsumexp - target logit."""
    rows = torch.arange(x.shape[0], device=x.device)
    target_logit = x[rows, targets]
    torch.softmax(x, dim=-1, out=x)  # row by row: in place is exact
    p = x[rows, targets]
    losses = -torch.log(p)
    tiny = p < 1e-30
    if tiny.any():
        logits = (hs[tiny] @ w.t()).float()
        losses[tiny] = torch.logsumexp(logits, dim=-1) - target_logit[tiny]
    x[rows, targets] -= 1.0
    return losses.sum()


def _cpu_forward(hc: torch.Tensor, w: torch.Tensor, targets: torch.Tensor, chunk: int):
    """Off CUDA: loss sum, d(mean loss)/dh (hc's dtype) and d(mean loss)/dweight (fp32), chunk by chunk."""
    n, vocab = hc.shape[0], w.shape[0]
    scale = 1.0 / n
    fp32 = hc.dtype == torch.float32
    buf = torch.empty((min(chunk, n), vocab), dtype=torch.float32, device=hc.device)
    grad_h = torch.empty_like(hc)
    grad_w = torch.zeros(w.shape, dtype=torch.float32, device=hc.device)
    loss = torch.zeros((), dtype=torch.float32, device=hc.device)
    for s in range(0, n, chunk):
        hs = hc[s : s + chunk]
        x = buf[: hs.shape[0]]
        if fp32:
            torch.mm(hs, w.t(), out=x)
        else:  # autocast dtype (bf16): the matmul in it, softmax in fp32
            x.copy_(hs @ w.t())
        loss += _softmax_grad_inplace_(x, targets[s : s + chunk], hs, w)
        g = x if fp32 else x.to(hc.dtype)
        gh = grad_h[s : s + chunk]
        torch.mm(g, w, out=gh)
        gh.mul_(scale)
        if fp32:
            grad_w.addmm_(g.t(), hs * scale)
        else:
            grad_w.add_(g.t() @ (hs * scale))
    return loss, grad_h, grad_w


def _chunk_fn(device_type: str):
    global _compiled_chunk
    if _compiled_chunk is None:
        # One fused kernel over the chunk instead of ~6 passes over (chunk x vocabulary) fp32 in eager mode.
        _compiled_chunk = torch.compile(_chunk_loss_and_grad, dynamic=False)
    return _compiled_chunk


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
        n = h.shape[0]
        dtype = torch.get_autocast_dtype(h.device.type) if torch.is_autocast_enabled(h.device.type) else h.dtype
        with torch.autocast(h.device.type, enabled=False):
            hc, w = h.to(dtype), weight.to(dtype)
            if h.device.type != "cuda":
                loss, grad_h, grad_w = _cpu_forward(hc, w, targets, chunk)
                ctx.save_for_backward(grad_h.to(h.dtype), grad_w.to(weight.dtype))
                return loss / n
            grad_h = torch.empty_like(hc)
            grad_w = None
            loss = torch.zeros((), dtype=torch.float32, device=h.device)
            step = _chunk_fn(h.device.type)
            for s in range(0, n, chunk):
                logits = hc[s : s + chunk] @ w.t()
                chunk_loss, g = step(logits, targets[s : s + chunk], 1.0 / n)
                loss += chunk_loss
                grad_h[s : s + chunk] = g @ w
                part = g.t() @ hc[s : s + chunk]
                # Chunks accumulate in fp32; add_ upcasts in the kernel (no fp32 copy of each part).
                grad_w = part.float() if grad_w is None else grad_w.add_(part)
        if grad_w is None:  # no tokens
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        ctx.save_for_backward(grad_h.to(h.dtype), grad_w.to(weight.dtype))
        return loss / n

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_out, grad_w * grad_out, None, None


def chunked_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
    """Mean cross-entropy of softmax(h @ weight.T) against `targets`; h (N, D), weight (V, D), targets (N,).

    `chunk`: rows of h per chunk (on CPU at most CPU_CHUNK_BYTES of fp32 logits: chunk_rows)."""
    chunk = chunk_rows(h.device.type, weight.shape[0], chunk)
    if not torch.is_grad_enabled() or not (h.requires_grad or weight.requires_grad):
        # evaluation: chunked too, no gradients to keep
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for s in range(0, h.shape[0], chunk):
            logits = (h[s : s + chunk] @ weight.to(h.dtype).t()).float()
            total += torch.nn.functional.cross_entropy(logits, targets[s : s + chunk], reduction="sum")
        return total / h.shape[0]
    return _ChunkedLinearCrossEntropy.apply(h, weight, targets, chunk)
