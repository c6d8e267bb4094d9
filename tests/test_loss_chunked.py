"""The chunked output layer + cross-entropy (lmpipe.trainer.loss) against the plain F.cross_entropy(h @ W.T, t)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmpipe.trainer import loss as loss_mod
from lmpipe.trainer.loss import chunk_rows, chunked_cross_entropy

N, D, V = 300, 64, 5_000  # 300 rows in chunks of 64: four full chunks and a ragged one of 44


def _inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(N, D, generator=gen)
    w = torch.randn(V, D, generator=gen) * 0.3
    t = torch.randint(0, V, (N,), generator=gen)
    return h, w, t


def _loss_and_grads(fn, h, w, t, grad_scale: float = 1.0):
    h = h.clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    loss = fn(h, w, t)
    (loss * grad_scale).backward()
    return loss.detach(), h.grad, w.grad


def _reference(h, w, t):
    return F.cross_entropy(h @ w.t(), t)


@pytest.fixture
def no_one_hot(monkeypatch):
    """The CPU path must not build a (chunk x vocabulary) one-hot."""

    def refuse(*args, **kwargs):
        raise AssertionError("one_hot called on the CPU path")

    monkeypatch.setattr(torch.nn.functional, "one_hot", refuse)


@pytest.mark.parametrize("chunk", [64, 300, 1000, 7])
def test_loss_and_gradients_match_plain_cross_entropy(chunk, no_one_hot):
    h, w, t = _inputs()
    ref = _loss_and_grads(_reference, h, w, t, grad_scale=2.5)
    got = _loss_and_grads(lambda a, b, c: chunked_cross_entropy(a, b, c, chunk), h, w, t, grad_scale=2.5)
    for name, r, g in zip(("loss", "grad_h", "grad_w"), ref, got):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}")


def test_cpu_cap_on_the_chunk_is_exact(monkeypatch, no_one_hot):
    """A chunk asked for beyond the CPU cap is cut to it (here 64 rows: ragged last chunk) with the same result."""
    monkeypatch.setattr(loss_mod, "CPU_CHUNK_BYTES", 4 * V * 64)
    assert chunk_rows("cpu", V, 8192) == 64
    h, w, t = _inputs(1)
    ref = _loss_and_grads(_reference, h, w, t)
    got = _loss_and_grads(lambda a, b, c: chunked_cross_entropy(a, b, c, 8192), h, w, t)
    for r, g in zip(ref, got):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)


def test_chunk_rows_per_device():
    assert chunk_rows("cuda", 102_400, 8192) == 8192  # the GPU path keeps the caller's chunk
    assert chunk_rows("cpu", 102_400, 8192) == 256  # ~100 MB of fp32 logits
    assert chunk_rows("cpu", 102_400, 100) == 100
    assert chunk_rows("cpu", 1024, 8192) == 8192
    assert chunk_rows("cpu", 10**9, 8192) == 1


def test_evaluation_path_matches(no_one_hot):
    h, w, t = _inputs(2)
    with torch.no_grad():
        got = chunked_cross_entropy(h, w, t, 64)
    torch.testing.assert_close(got, _reference(h, w, t), rtol=1e-5, atol=1e-6)


def test_cpu_chunk_step_equals_the_cuda_step_s_definition():
    """The CPU step (in place over the logits, no one-hot) and the CUDA step's definition give the same numbers."""
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(64, V, generator=gen) * 4
    t = torch.randint(0, V, (64,), generator=gen)
    ref_loss, ref_grad = loss_mod._chunk_loss_and_grad(logits.clone(), t, 1.0)
    x = logits.clone()
    loss = loss_mod._softmax_grad_inplace_(x, t, None, None)  # no loss above 69 here: nothing made again
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x, ref_grad, rtol=1e-5, atol=1e-7)


def test_huge_losses_are_exact(no_one_hot):
    """Logits spread by hundreds: p[target] underflows to 0 in many rows, whose loss comes from the logsumexp."""
    h, w, t = _inputs(5)
    h = h * 40
    ref = _loss_and_grads(_reference, h, w, t)
    assert ref[0] > 100
    got = _loss_and_grads(lambda a, b, c: chunked_cross_entropy(a, b, c, 64), h, w, t)
    for r, g in zip(ref, got):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def test_bf16_autocast_on_cpu_is_close(no_one_hot):
    h, w, t = _inputs(4)
    ref = _loss_and_grads(_reference, h, w, t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = _loss_and_grads(lambda a, b, c: chunked_cross_entropy(a, b, c, 64), h, w, t)
    assert got[1].dtype == torch.float32 and got[2].dtype == torch.float32
    for r, g in zip(ref, got):
        torch.testing.assert_close(g, r, rtol=0.05, atol=0.02)
