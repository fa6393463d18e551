"""A real headless Chromium (Debian's ``chromium``) driven over the DevTools protocol.

The protocol runs over ``--remote-debugging-pipe`` (fd 3: commands in, fd 4: replies and events
out, each JSON message ending with a NUL byte), so nothing beyond the browser itself is needed:
no driver binary, no npm or pip package, no debugging port. The browser runs inside the test's
network namespace, with background networking off.
"""

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# screenshots and other things to look at after a run (build/ is not tracked)
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS",
                                Path(__file__).parents[2] / "build" / "test-artifacts"))
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions",
         "--disable-default-apps", "--disable-breakpad", "--disable-crash-reporter",
         "--metrics-recording-only", "--mute-audio", "--disable-dev-shm-usage",
         "--window-size=1280,900", "--remote-debugging-pipe")


def _above(fd: int, low: int) -> int:
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)
    os.close(fd)
    return new


class Browser:
    """One Chromium process with one page; ``send`` waits for the answer, events are kept."""

    def __init__(self, ns: Any) -> None:
        self.profile = tempfile.mkdtemp(prefix="nfxt-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._ev_r, ev_w = os.pipe()
        # fds above 4, so that bash's ``3<&`` and ``4>&`` cannot overwrite one another
        cmd_r, ev_w = (_above(fd, 10) for fd in (cmd_r, ev_w))
        argv = " ".join([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"])
        log = os.environ.get("CHROMIUM_LOG", os.devnull)  # its stderr, to debug a start-up
        with open(log, "w") as err:
            self.proc = ns.popen(["bash", "-c", f"exec {argv} 3<&{cmd_r} 4>&{ev_w}"],
                                 pass_fds=(cmd_r, ev_w), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err)
        os.close(cmd_r)
        os.close(ev_w)
        self.events: list[dict[str, Any]] = []
        self._answers: dict[int, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._id = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")

    def _read(self) -> None:
        buf = b""
        while True:
            data = os.read(self._ev_r, 1 << 16)
            if not data:
                break
            buf += data
            *messages, buf = buf.split(b"\0")
            with self._cond:
                for m in messages:
                    msg = json.loads(m)
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                self._cond.notify_all()

    def send(self, method: str, session: str | None = None, timeout: float = 20.0,
             **params: Any) -> dict[str, Any]:
        with self._cond:
            self._id += 1
            mid = self._id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._answers, timeout):
                raise TimeoutError(f"{method}: no answer from chromium in {timeout} s")
            answer = self._answers.pop(mid)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page's session."""
        return self.send(method, self.session, **params)

    def goto(self, url: str, timeout: float = 20.0) -> None:
        start = len(self.events)
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired", timeout, start)

    def wait_event(self, method: str, timeout: float = 20.0, start: int = 0) -> dict[str, Any]:
        with self._cond:
            found: list[dict[str, Any]] = []

            def seen() -> bool:
                found[:] = [e for e in self.events[start:] if e["method"] == method]
                return bool(found)
            if not self._cond.wait_for(seen, timeout):
                raise TimeoutError(f"no {method} in {timeout} s")
            return found[0]

    def js(self, expression: str) -> Any:
        """Evaluate in the page (promises awaited); the value, or raise the page's exception."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def until(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}")
            time.sleep(0.1)

    def screenshot(self, name: str) -> Path:
        """The whole page as ``ARTIFACTS/name`` (PNG)."""
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self._cmd_w)
        self._reader.join(5)
        os.close(self._ev_r)
        shutil.rmtree(self.profile, ignore_errors=True)
