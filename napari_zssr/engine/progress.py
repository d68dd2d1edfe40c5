"""Progress events up, cancellation down: the one mechanism shared by widget, CLI and batch."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Optional, Union


class Cancelled(Exception):
    """Raised inside the engine when the cancel flag is set; nothing is returned."""


@dataclass
class ProgressEvent:
    stage: str                      # "train" ("train 2/4" in gradual SR), "infer", "done", ...
    iteration: int = 0              # training iteration, counted over all gradual stages
    total: Optional[int] = None     # upper bound on training iterations (max_iters)
    loss: Optional[float] = None    # last L1 training loss
    lr: Optional[float] = None      # current learning rate
    rec_error: Optional[float] = None  # last reconstruction MSE on the downscaled input
    job: int = 0                    # index of the engine job (plane/channel) within an N-D run
    n_jobs: int = 1
    fraction: float = 0.0           # overall progress estimate in [0, 1]
    eta_s: Optional[float] = None   # estimated seconds left, when known
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]
CancelFlag = Union[threading.Event, Callable[[], bool], None]


def is_cancelled(flag: CancelFlag) -> bool:
    if flag is None:
        return False
    if isinstance(flag, threading.Event):
        return flag.is_set()
    return bool(flag())


def check_cancel(flag: CancelFlag) -> None:
    if is_cancelled(flag):
        raise Cancelled("cancelled")
