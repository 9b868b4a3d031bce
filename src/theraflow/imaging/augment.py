"""Random rotation and scaling applied to whole batches on the training device.

MONAI's per-sample ``RandAffined`` resamples in float64 through a generic grid (about
0.1-0.2 s per 48×64×48 sample on one CPU core — as long as the network's own step); this
applies the same kind of transform to a batch at once with MONAI's
``networks.layers.AffineTransform`` (``affine_grid`` + ``grid_sample``, float32), on the
GPU when training runs there. Images are interpolated linearly, labels by nearest
neighbour, rotations are about the patch centre in voxel units.
"""

from __future__ import annotations

import math

import torch


class BatchAffine:
    """With probability ``prob`` per sample: rotate by up to ±``rotate_deg`` about each axis, scale by 1 ± ``scale``."""

    def __init__(self, prob: float, rotate_deg: float, scale: float, generator: torch.Generator | None = None):
        from monai.networks.layers import AffineTransform

        self.prob = float(prob)
        self.rotate = math.radians(float(rotate_deg))
        self.scale = float(scale)
        self.generator = generator
        self.image_tf = AffineTransform(normalized=False, zero_centered=True, mode="bilinear",
                                        padding_mode="zeros", align_corners=False)
        self.label_tf = AffineTransform(normalized=False, zero_centered=True, mode="nearest",
                                        padding_mode="zeros", align_corners=False)

    def _rand(self, *shape) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator)

    def matrices(self, n: int) -> torch.Tensor:
        """n random 4×4 pull matrices (rotation × scaling)."""
        a = (self._rand(n, 3) * 2 - 1) * self.rotate
        s = 1 + (self._rand(n, 3) * 2 - 1) * self.scale
        out = torch.zeros(n, 4, 4)
        for i in range(n):
            cx, cy, cz = torch.cos(a[i]).tolist()
            sx, sy, sz = torch.sin(a[i]).tolist()
            rx = torch.tensor([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
            ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
            rz = torch.tensor([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
            out[i, :3, :3] = rz @ ry @ rx @ torch.diag(s[i])
            out[i, 3, 3] = 1
        return out

    def __call__(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.prob <= 0:
            return image, label
        chosen = torch.nonzero(self._rand(image.shape[0]) < self.prob).flatten()
        if len(chosen) == 0:
            return image, label
        theta = self.matrices(len(chosen)).to(image.device)
        idx = chosen.to(image.device)
        image, label = image.clone(), label.clone()
        image[idx] = self.image_tf(image[idx].float(), theta).to(image.dtype)
        label[idx] = self.label_tf(label[idx].float(), theta).to(label.dtype)
        return image, label
