"""Output layer + cross-entropy in chunks of tokens, so the (tokens x vocabulary) logits never exist at once.

At vocabulary 102,400 the fp32 logits of one 16k-token micro-batch are 6.7 GB, written and read several times
(softmax, loss, gradient): for a 125M model that traffic costs more than the transformer. Here each chunk's
logits are made, turned into its loss and its gradient (softmax - one-hot) at once, multiplied into the
gradients of the hidden states and of the output weight, and dropped; backward only scales the stored
gradients (the approach of Liger-Kernel's fused linear cross-entropy). Same three matmuls as the plain
version, a chunk of logits in memory instead of all of them.
"""

from __future__ import annotations

import torch

_compiled_chunk = None  # torch.compile of _chunk_loss_and_grad, made on first CUDA use


def _chunk_loss_and_grad(logits: torch.Tensor, targets: torch.Tensor, scale: float):
    """Sum of the chunk's losses (fp32) and scale * d(loss)/d(logits) in the logits' dtype."""
    x = logits.float()
    lse = torch.logsumexp(x, dim=-1)
    target_logit = x.gather(1, targets[:, None]).squeeze(1)
    grad = torch.exp(x - lse[:, None])
    grad = grad - torch.nn.functional.one_hot(targets, x.shape[1]).to(grad.dtype)
    return (lse - target_logit).sum(), (grad * scale).to(logits.dtype)


def _chunk_fn(device_type: str):
    global _compiled_chunk
    if device_type != "cuda":
        return _chunk_loss_and_grad
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
    """Mean cross-entropy of softmax(h @ weight.T) against `targets`; h (N, D), weight (V, D), targets (N,)."""
    if not torch.is_grad_enabled() or not (h.requires_grad or weight.requires_grad):
        # evaluation: chunked too, no gradients to keep
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for s in range(0, h.shape[0], chunk):
            logits = (h[s : s + chunk] @ weight.to(h.dtype).t()).float()
            total += torch.nn.functional.cross_entropy(logits, targets[s : s + chunk], reduction="sum")
        return total / h.shape[0]
    return _ChunkedLinearCrossEntropy.apply(h, weight, targets, chunk)
