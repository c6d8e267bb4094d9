"""A decoder-only transformer as in LLaMA 3 / EXAONE 3.5: pre-norm RMSNorm, RoPE, grouped-query attention,
SwiGLU, no biases, tied input/output embeddings (as LLaMA 3.2 1B and EXAONE 3.5 2.4B).

Only torch: the training machine cannot install the pipeline's dependencies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmpipe.trainer.loss import chunked_cross_entropy


@dataclass(frozen=True)
class ModelConfig:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int  # grouped-query attention: n_heads / n_kv_heads query heads share one key/value head
    ffn_dim: int  # SwiGLU hidden size (about 8/3 * dim, rounded to a multiple of 256)
    vocab_size: int | None = 102_400  # None: the shards' vocabulary (tiny test models)
    rope_theta: float = 500_000.0  # LLaMA 3
    norm_eps: float = 1e-5
    tie_embeddings: bool = True

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


# Named sizes. Parameter counts at vocabulary 102,400 (tied): 125m 154M (76M without the embedding),
# 350m 375M (270M), 1b 1.18B (973M).
# 350m and 1b use head_dim 128 (LLaMA 3's head size): 350m 8 query / 2 key-value heads, 1b 16 / 4. The fused
# QKV projection has the same size as at head_dim 64 (1024 x 1536, 2048 x 3072), so parameters and FLOPs are
# those of the head_dim-64 shapes, kept as "350m-h64" (16 / 4 heads) and "1b-h64" (32 / 8: LLaMA 3.2 1B's own
# shape); cuDNN's attention runs 1.25x faster at head_dim 128, +1.5 points of MFU at both sizes on an H100
# (docs/bench/train.md, "Head size 128").
MODELS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=192, vocab_size=None),
    "125m": ModelConfig(dim=768, n_layers=12, n_heads=12, n_kv_heads=4, ffn_dim=2048),
    "350m": ModelConfig(dim=1024, n_layers=24, n_heads=8, n_kv_heads=2, ffn_dim=2816),
    "350m-h64": ModelConfig(dim=1024, n_layers=24, n_heads=16, n_kv_heads=4, ffn_dim=2816),
    "1b": ModelConfig(dim=2048, n_layers=16, n_heads=16, n_kv_heads=4, ffn_dim=8192),
    "1b-h64": ModelConfig(dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, ffn_dim=8192),
}


def rope_tables(seq_len: int, head_dim: int, theta: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64, device=device) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64, device=device), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)  # rotate-half layout (as HF LLaMA checkpoints)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, T, heads, head_dim); cos/sin: (T, head_dim). Rotated in fp32, returned in x's dtype."""
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return (xf * cos[:, None, :] + rotated * sin[:, None, :]).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.wqkv = nn.Linear(cfg.dim, (cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)
        # True: SDPA's own GQA (no copy of k/v; flash attention supports it); False: repeat k/v heads first.
        self.sdpa_gqa = True

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        q, k, v = self.wqkv(x).split(
            [self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim, self.n_kv_heads * self.head_dim], dim=-1
        )
        q = apply_rope(q.view(B, T, self.n_heads, self.head_dim), cos, sin).transpose(1, 2)
        k = apply_rope(k.view(B, T, self.n_kv_heads, self.head_dim), cos, sin).transpose(1, 2)
        v = v.view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if self.sdpa_gqa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.n_kv_heads != self.n_heads)
        else:
            groups = self.n_heads // self.n_kv_heads
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))


class SwiGLU(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w13 = nn.Linear(cfg.dim, 2 * cfg.ffn_dim, bias=False)  # gate and up projections in one matmul
        self.w2 = nn.Linear(cfg.ffn_dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w13(x).chunk(2, dim=-1)
        return self.w2(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))


class Trunk(nn.Module):
    """Embedding, blocks and final norm: everything but the output layer (compiled as one graph)."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, max_seq_len: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
        cos, sin = rope_tables(max_seq_len, cfg.head_dim, cfg.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        cos, sin = self.cos[:T], self.sin[:T]
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.norm(x)


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig, vocab_size: int, max_seq_len: int):
        super().__init__()
        self.cfg, self.vocab_size = cfg, vocab_size
        self.trunk = Trunk(cfg, vocab_size, max_seq_len)
        self.head = None if cfg.tie_embeddings else nn.Linear(cfg.dim, vocab_size, bias=False)
        self.ce_chunk = 8192  # tokens per chunk of the output layer + cross-entropy (see lmpipe.trainer.loss)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2 / nanoGPT: residual projections scaled by depth
            if name.endswith(("wo.weight", "w2.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    @property
    def output_weight(self) -> torch.Tensor:
        return self.trunk.embed.weight if self.head is None else self.head.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of `targets` given `idx` (both (B, T) int64)."""
        h = self.trunk(idx)
        return chunked_cross_entropy(h.flatten(0, 1), self.output_weight, targets.flatten(), self.ce_chunk)

    def num_params(self, embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n if embedding else n - self.trunk.embed.weight.numel()

    def flops_per_token(self, seq_len: int) -> int:
        """Training FLOPs per token: 6 x (matmul parameters) + attention (PaLM, Chowdhery et al. 2022, app. B).

        Matmul parameters: every weight matrix a token is multiplied with, the output layer included and the
        embedding lookup (no matmul) and norm gains excluded. Attention: 12 x layers x dim x seq_len for the
        QK^T and AV products forward and backward, counted over the full T x T square as PaLM does (causal
        masking lets flash attention skip about half of it, so this overstates work by up to that half)."""
        matmul = sum(p.numel() for n, p in self.named_parameters() if p.dim() == 2 and "embed" not in n)
        if self.head is None:
            matmul += self.output_weight.numel()
        return 6 * matmul + 12 * self.cfg.n_layers * self.cfg.dim * seq_len
