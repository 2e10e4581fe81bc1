"""Quantisation metrics of a configuration against the float model (llama.cpp ``perplexity --kl-divergence``).

For scored token positions i (every position of a window but the last predicts the next token):
- perplexity          PPL = exp(-(1/n) sum_i log p_cfg(x_{i+1} | x_<=i));
- KL divergence       KL = (1/n) sum_i sum_v p_fp(v) (log p_fp(v) - log p_cfg(v))   (nats, mean per token);
- top-1 agreement     (1/n) sum_i [argmax p_fp = argmax p_cfg]   (llama.cpp "Same top p").
Across seeds: mean and the sample standard deviation (n - 1), 0 for one seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass
class MetricSums:
    """Running sums over scored tokens."""

    tokens: int = 0
    nll: float = 0.0
    kl: float = 0.0
    top1_same: int = 0
    per_token_kl: list[float] = field(default_factory=list)

    def add(self, logp_cfg: torch.Tensor, logp_fp: torch.Tensor, targets: torch.Tensor) -> None:
        """Add one window: log-probs (T x V) of the config and of fp, next-token ids (T,)."""
        self.tokens += int(targets.numel())
        self.nll -= float(logp_cfg.gather(1, targets[:, None]).sum())
        kl = (logp_fp.exp() * (logp_fp - logp_cfg)).sum(dim=1)
        self.kl += float(kl.sum())
        self.top1_same += int((logp_fp.argmax(1) == logp_cfg.argmax(1)).sum())

    @property
    def ppl(self) -> float:
        if not self.tokens:
            return math.nan
        mean_nll = self.nll / self.tokens
        return math.exp(mean_nll) if mean_nll < 700 else math.inf  # exp overflows float64 above ~709

    @property
    def mean_kl(self) -> float:
        return self.kl / self.tokens if self.tokens else math.nan

    @property
    def top1(self) -> float:
        return self.top1_same / self.tokens if self.tokens else math.nan


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
