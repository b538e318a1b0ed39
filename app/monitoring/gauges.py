"""In-flight requests, read from the data plane's loaded versions (which count them for
draining anyway), so the request path pays one comparison for the peak."""

from __future__ import annotations

from app.monitoring.recorder import Key
from app.serving.plane import DataPlane

# (service name, requests in flight now, the most in flight since the last roll-up)
Inflight = dict[Key, tuple[str, int, int]]


def inflight(plane: DataPlane, *, reset_peaks: bool = False) -> Inflight:
    """Per (service id, version): summed over the version's loaded runtimes. With
    ``reset_peaks`` the peaks start again from what is in flight now (the roll-up)."""
    out: Inflight = {}
    for state in plane.services.values():
        for loaded in state.loaded.values():
            key = (state.row.id, loaded.number)
            _, current, peak = out.get(key, (state.row.name, 0, 0))
            out[key] = (state.row.name, current + loaded.inflight, peak + loaded.peak)
            if reset_peaks:
                loaded.peak = loaded.inflight
    return out
