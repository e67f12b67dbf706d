"""The run folder's lock (`RunLock`: whole runs exclusive, `--fold K` processes shared) and
its config check (`check_config`: a folder is continued only with the config it started
with)."""

from __future__ import annotations

import json
import os

from gapnet.config import Config
from gapnet.cv.runfolder import RunError
from gapnet.io import atomic_write_text, read_json


class RunLock:
    """An advisory lock on a run folder (fcntl.flock: released when the process dies).

    A whole run or a merge holds it exclusively; `--fold K` processes hold it shared and
    lock their own fold exclusively, so separate folds can train side by side. The lock
    file exists only while it is held: the last holder removes it (under an exclusive lock,
    and a process that locked a file since removed opens the new one and locks again).
    """

    def __init__(self, path: str, shared: bool = False):
        self.path, self.shared, self.fd = path, shared, None

    def __enter__(self):
        import fcntl

        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        while True:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(
                    self.fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
                )
            except BlockingIOError:
                holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(self.fd)
                raise RunError(
                    f"{os.path.dirname(self.path)} is in use by another gapnet process "
                    f"(pid {holder}); wait for it or use another --out"
                ) from None
            if self._still_at_path():
                break
            os.close(self.fd)  # its holder removed it between our open and our lock: again
        if not self.shared:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def _still_at_path(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(self.fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def __exit__(self, *exc):
        import fcntl

        try:  # the last holder (exclusive, or a shared one alone) removes the file
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if self._still_at_path():
                os.unlink(self.path)
        except OSError:  # others hold it shared (one of them removes it), or it is gone
            pass
        finally:
            os.close(self.fd)  # closing releases the lock


IGNORED_ON_RESUME = ("verbose",)  # keys that may change between a run and its resumption


def check_config(out: str, cfg: Config, force: bool, log=print) -> None:
    """Writes config.json; refuses to continue a run folder made with another config,
    unless `force`."""
    path = os.path.join(out, "config.json")
    if os.path.isfile(path):
        old, new = read_json(path), json.loads(cfg.to_json())
        # A key added to Config after the run started holds its default there.
        old = {**json.loads(Config().to_json()), **old}
        changed = [
            f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
            for k in sorted(set(old) | set(new))
            if k not in IGNORED_ON_RESUME and old.get(k) != new.get(k)
        ]
        if changed and not force:
            raise RunError(
                f"{out} was started with another config ({'; '.join(changed)}); "
                "use a new --out, or --force to continue it with the new config"
            )
        if changed:
            log(f"warning: continuing {out} with a changed config: {'; '.join(changed)}")
    atomic_write_text(path, cfg.to_json() + "\n")
