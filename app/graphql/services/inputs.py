"""The inputs of the service mutations."""

from __future__ import annotations

import strawberry

from app.services.deployments import VersionChoice


@strawberry.input
class DeployVersionInput:
    version_id: strawberry.ID
    instances: int = 1
    cpu: float = 1.0
    memory_mb: int = 1024
    gpus: int = 0
    runtime: str | None = strawberry.field(
        default=None, description="Override the version's runtime (e.g. custom)."
    )
    traffic_percent: int = 0

    def to_choice(self) -> VersionChoice:
        return VersionChoice(
            version_id=str(self.version_id),
            instances=self.instances,
            cpu=self.cpu,
            memory_mb=self.memory_mb,
            gpus=self.gpus,
            runtime=self.runtime,
            weight=self.traffic_percent,
        )


@strawberry.input
class TrafficInput:
    version_id: strawberry.ID
    percent: int
