"""Which accelerator is visible; a kind trains on CUDA only when asked and this says yes."""

from __future__ import annotations

import functools


@functools.cache
def cuda_visible() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False
