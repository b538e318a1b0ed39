"""What the data plane records into: answered requests and model load times. Monitoring
(app.monitoring.recorder.Recorder) implements it and is set on the plane when it is on;
the data plane does not depend on monitoring."""

from __future__ import annotations

from typing import Protocol


class RequestRecorder(Protocol):
    def record(
        self, service_id: str, service: str, version: int | None, status: int, seconds: float
    ) -> None:
        """One answered request (version None: answered before a version was chosen)."""

    def model_loaded(self, service_id: str, service: str, version: int, seconds: float) -> None:
        """One version loaded for a service, and how long the load took."""
