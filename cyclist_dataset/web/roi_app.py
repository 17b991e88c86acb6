"""The ROI editor's routes: per camera, a real frame with every detected person blurred, the
polygons drawn over it, live checks, and Save (``tools.roi_edit`` does the work)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from cyclist_dataset.core.config import PipelineConfig
from cyclist_dataset.core.roi import load_roi
from cyclist_dataset.errors import RoiError, UserError
from cyclist_dataset.io import video
from cyclist_dataset.tools import roi_edit
from cyclist_dataset.tools.frames import (
    CameraFrame,
    FrameModels,
    camera_frame,
    camera_video,
    frame_models,
    shown_frame_jpeg,
)
from cyclist_dataset.web.app import HERE, base_app, json_body

CACHED_FRAMES = 8  # frames kept (raw and shown) while an editor moves between a few


class Frames:
    """Camera frames and their blurred, audited JPEGs, computed once each (a detector run and a
    face audit per frame); the raw pixels stay in memory only."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self._models: FrameModels | None = None
        self._cache: OrderedDict[tuple[str, str, int], tuple[CameraFrame, bytes]] = OrderedDict()
        self._lock = threading.Lock()  # one detector and one face audit at a time

    def get(self, camera: str, video_id: str, index: int) -> tuple[CameraFrame, bytes]:
        key = (camera, video_id, index)
        with self._lock:
            if key not in self._cache:
                if self._models is None:
                    self._models = frame_models(self.config)
                frame = camera_frame(self.config, camera, video_id, index, self._models)
                self._cache[key] = (frame, shown_frame_jpeg(frame, self.config, self._models))
                while len(self._cache) > CACHED_FRAMES:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(key)
            return self._cache[key]


def create_roi_app(
    config: PipelineConfig, token: str | None = None, hosts: list[str] | None = None
) -> FastAPI:
    """The ROI editor over a pipeline's cameras (``base_app`` says what ``token`` and ``hosts``
    do)."""
    app = base_app(f"cyclist-dataset ROI editor: {config.location.name}", token, hosts)
    templates = Jinja2Templates(directory=HERE / "templates")
    frames = Frames(config)
    cameras = [c.id for c in config.cameras]

    def known(camera: str) -> str:
        if camera not in cameras:
            raise HTTPException(404, f"no camera {camera!r} (cameras: {cameras})")
        return camera

    def chosen(camera: str, video_id: str) -> str:
        """The named video of the camera, or its first."""
        return camera_video(config, known(camera), video_id or None).video_id

    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/roi")

    @app.get("/roi", response_class=HTMLResponse)
    def overview(request: Request) -> HTMLResponse:
        rows = []
        for camera in cameras:
            path = config.roi_path(camera)
            try:
                load_roi(path)
                status = "ok"
            except RoiError as exc:
                status = str(exc)
            videos = [v.video_id for v in config.videos if v.camera == camera]
            rows.append({"camera": camera, "path": path, "status": status, "videos": len(videos)})
        return templates.TemplateResponse(
            request, "roi_cameras.html", {"location": config.location.name, "rows": rows}
        )

    @app.get("/roi/{camera}", response_class=HTMLResponse)
    def editor(request: Request, camera: str, video: str = "", frame: int = 0) -> HTMLResponse:
        video_id, index = chosen(camera, video), frame
        videos = [v for v in config.videos if v.camera == camera]
        info = _probe(config, camera, video_id)
        state: dict[str, Any] = {
            "camera": camera,
            "video": video_id,
            "frame": index,
            "frame_count": info.frame_count,
            "fps": info.fps,
            "width": info.width,
            "height": info.height,
            "videos": [v.video_id for v in videos],
            **roi_edit.existing(config, camera, info.width, info.height),
        }
        return templates.TemplateResponse(
            request,
            "roi.html",
            {
                "location": config.location.name,
                "camera": camera,
                "path": config.roi_path(camera),
                "state": state,
            },
        )

    @app.get("/roi/{camera}/frame.jpg")
    async def frame_jpeg(camera: str, video: str = "", frame: int = 0) -> Response:
        _, jpeg = await run_in_threadpool(frames.get, camera, chosen(camera, video), frame)
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.post("/api/roi/{camera}/check")
    async def check(request: Request, camera: str) -> dict:
        body = await json_body(request)
        index = body.get("frame", 0)
        if not isinstance(index, int):
            raise UserError(f"`frame` must be a frame number, got {index!r}")
        video_id = chosen(camera, str(body.get("video", "")))
        frame, _ = await run_in_threadpool(frames.get, camera, video_id, index)
        return roi_edit.check(frame, body, config.filter)

    @app.post("/api/roi/{camera}")
    async def save(request: Request, camera: str) -> dict:
        body = await json_body(request)
        # the polygons are in the pixels of the video the editor shows: its size, not the client's
        info = _probe(config, camera, chosen(camera, str(body.get("video", ""))))
        try:
            path = roi_edit.save(config, camera, body, info.width, info.height)
        except RoiError as exc:
            raise UserError(f"not saved: {exc}") from None
        return {"saved": str(path)}

    return app


def _probe(config: PipelineConfig, camera: str, video_id: str) -> video.VideoInfo:
    return video.probe(camera_video(config, camera, video_id).source_path())
