"""A location's settings on the labelling side, as the last run wrote them into the workspace
(``Workspace.location_file``): whether its cameras' views overlap, travel times between cameras."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from cyclist_dataset.core.config import TravelConfig
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.workspace import Workspace


@dataclass(frozen=True)
class LocationSettings:
    name: str
    overlapping_views: bool = False
    travel: tuple[TravelConfig, ...] = ()
    recorded: bool = False  # False: no run wrote them (a workspace of an older version)

    def travel_between(self, a: str, b: str) -> TravelConfig | None:
        for link in self.travel:
            if {a, b} == set(link.cameras):
                return link
        return None


def location_settings(root: Path, location: str) -> LocationSettings:
    path = Workspace(root).location_file(location)
    if not path.is_file():
        return LocationSettings(location)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        travel = tuple(TravelConfig.model_validate(t) for t in data.get("travel", ()))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise UserError(
            f"{path}: unreadable location settings ({exc}); rerun the pipeline to rewrite them"
        ) from None
    return LocationSettings(location, bool(data.get("overlapping_views", False)), travel, True)
