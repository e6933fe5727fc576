"""The notification worker thread of one server process, started and stopped with the app.

Every `VULNTRAIL_NOTIFY_POLL_SECONDS` it delivers the due outbox messages (right away
again while whole batches come back), and every `VULNTRAIL_NOTIFY_WATCH_SECONDS` it runs
the SLA/expiry scan. Each server process runs one; the claim protocol in
`notify.delivery` keeps them from sending a message twice. The worker never stops on an
error: it logs it (once per run of failures) and tries again at the next poll.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx

from vulntrail import clock
from vulntrail.config import Settings
from vulntrail.notify import watch
from vulntrail.notify.delivery import BATCH, Deliverer, Observer
from vulntrail.store.db import Sessions

log = logging.getLogger(__name__)


class NotificationRunner:
    def __init__(
        self, sessions: Sessions, settings: Settings, observe: Observer | None = None
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.observe = observe
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self._failing = False

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        # No redirects: a target answers for itself, it does not send our body elsewhere.
        self._client = httpx.Client(
            timeout=self.settings.notify_timeout_seconds, follow_redirects=False
        )
        deliverer = Deliverer(self.sessions, self.settings, self._client, self.observe)
        self._thread = threading.Thread(
            target=self._loop, args=(deliverer,), name="vulntrail-notify", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Finish the post in flight (bounded by the HTTP timeout), hand back the rest."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.notify_timeout_seconds + 5)
            self._thread = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _loop(self, deliverer: Deliverer) -> None:
        next_watch = time.monotonic()
        while not self._stop.is_set():
            busy = False
            try:
                if time.monotonic() >= next_watch:
                    next_watch = time.monotonic() + self.settings.notify_watch_seconds
                    self._watch()  # not retried here: the next scan is the retry
                busy = deliverer.run_once(self._stop) >= BATCH
                self._recovered()
            except Exception as error:
                self._failed(error)
            if not busy:
                self._stop.wait(self.settings.notify_poll_seconds)

    def _watch(self) -> None:
        with self.sessions.write() as session:
            written = watch.scan(session, self.settings, clock.now().date())
        if written:
            log.info("notification watch enqueued %d message(s)", written)

    def _failed(self, error: Exception) -> None:
        first_line = (str(error).splitlines() or [""])[0][:300]
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "notification worker: %s: %s", type(error).__name__, first_line)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.warning("notification worker: working again")
            self._failing = False
