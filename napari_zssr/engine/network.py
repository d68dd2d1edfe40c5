"""The ZSSR CNN: 8 conv layers 3x3, 64 channels, ReLU after all but the last, residual output."""
from __future__ import annotations

import math

import torch
from torch import nn


class ZSSRNet(nn.Module):
    def __init__(self, channels: int, depth: int = 8, width: int = 64, init_std_factor: float = 0.1,
                 seed: int = 0):
        super().__init__()
        self.channels, self.depth, self.width = channels, depth, width
        layers = []
        # a private generator: two trainings in one process (threads) must not share random state
        gen = torch.Generator().manual_seed(int(seed))
        c_in = channels
        for i in range(depth):
            c_out = channels if i == depth - 1 else width
            conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)   # no biases, as the original
            # smaller than He init because the net only learns a residual
            nn.init.normal_(conv.weight, std=math.sqrt(init_std_factor / (9 * c_in)), generator=gen)
            layers.append(conv)
            if i < depth - 1:
                layers.append(nn.ReLU(inplace=True))
            c_in = c_out
        self.body = nn.Sequential(*layers)

    @property
    def halo(self) -> int:
        """Receptive-field radius: tiles overlapping by this much give the untiled result."""
        return self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x is the cubic upscale of the low-resolution image; the net predicts the residual.
        # The first layer runs in fp32 even under bf16 autocast: rounding the input image itself
        # to 8 mantissa bits would add noise the rest of the net cannot undo (and it is cheap).
        first = self.body[0]
        with torch.autocast(device_type=x.device.type, enabled=False):
            h = first(x.float())
        return x + self.body[1:](h).to(x.dtype)
