"""One batch per output folder at a time: a lock file naming its holder, taken over when stale."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from .errors import UsageError
from .manifest import now_iso

LOCK_NAME = ".zssr-batch.lock"


class BatchLock:
    def __init__(self, out_dir: Path):
        self.path = out_dir / LOCK_NAME
        self.held = False

    def acquire(self) -> "BatchLock":
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._stale():
                    self.path.unlink(missing_ok=True)
                    continue
                raise UsageError(f"another zssr batch is writing to {self.path.parent} ({self._holder()}); "
                                 f"remove {self.path} if it is not running") from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self.held = True
            return self
        raise UsageError(f"cannot lock {self.path}")

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def _holder(self) -> str:
        info = self._read()
        return f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {info.get('since', '?')}"

    def _stale(self) -> bool:
        """The holder was a process on this host that no longer runs."""
        info = self._read()
        if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
            return False
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
