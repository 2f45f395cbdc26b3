"""The runtime: backups at start and stop, health, parts in order."""

from __future__ import annotations

import os
import signal
import threading

from bot.config import Config
from bot.runtime import STOP_SIGNALS, Check, Runtime
from tests.conftest import wait_until


class _Part:
    def __init__(self, name: str, log: list[str], healthy: bool = True) -> None:
        self.name = name
        self._log = log
        self._healthy = healthy

    def start(self) -> None:
        self._log.append(f"start {self.name}")

    def stop(self) -> None:
        self._log.append(f"stop {self.name}")

    def health(self) -> Check:
        return Check(self._healthy, "fine" if self._healthy else "broken")


def test_parts_start_in_order_and_stop_in_reverse(config: Config) -> None:
    """Parts start as added and stop the other way round; state is backed up at both ends."""
    log: list[str] = []
    runtime = Runtime(config)
    runtime.add(_Part("a", log))
    runtime.add(_Part("b", log, healthy=False))
    runtime.start()
    health = runtime.health()
    runtime.stop()
    assert log == ["start a", "start b", "stop b", "stop a"]
    assert health["store"].ok and health["scheduler"].ok
    assert health["b"] == Check(False, "broken")
    backups = list((config.settings.data_dir / "backups").glob("state-*.json"))
    assert len(backups) == 2


def test_a_failing_part_stops_the_ones_already_started(config: Config) -> None:
    """When a part fails to start, the started ones are stopped and the error propagates."""
    log: list[str] = []

    class Broken(_Part):
        def start(self) -> None:
            raise RuntimeError("no token")

    runtime = Runtime(config)
    runtime.add(_Part("a", log))
    runtime.add(Broken("b", log))
    try:
        runtime.start()
    except RuntimeError as exc:
        assert str(exc) == "no token"
    else:
        raise AssertionError("start should have failed")
    assert log == ["start a", "stop a"]
    assert not runtime.scheduler.running
    runtime.store.close()


def test_after_the_first_signal_a_second_one_kills_the_process(config: Config) -> None:
    """SIGTERM starts a clean stop and leaves both signals to their default action."""
    saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    runtime = Runtime(config)
    # Until serve_forever installs its handler, a SIGTERM would kill the test run.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def send_once_installed() -> None:
        try:
            wait_until(
                lambda: signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN,
                "serve_forever to install its SIGTERM handler",
            )
        except AssertionError:
            runtime.request_stop()  # never installed: end the test instead of hanging
            return
        os.kill(os.getpid(), signal.SIGTERM)  # to the process, so the main thread wakes

    sender = threading.Thread(target=send_once_installed)
    try:
        sender.start()
        runtime.serve_forever()  # returns once the handler asked it to stop
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL
    finally:
        sender.join(5)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
