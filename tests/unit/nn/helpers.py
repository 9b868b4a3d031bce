"""What the encoder tests share."""

from __future__ import annotations

import torch


def training_losses(model: torch.nn.Module, batch: dict, y: torch.Tensor, *, steps: int, lr: float) -> list[float]:
    """The MSE loss at each of ``steps`` Adam steps on one batch: a model that can learn it drives it down."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(batch), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
