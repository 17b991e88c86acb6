"""The labelling app's routes: pages, crops and a small JSON API over one ``Session``.

Every action is a POST with a JSON body (a cross-site form cannot send one, so a page elsewhere
cannot act in the annotator's name); bound to an address other than localhost, every request
needs the token printed at start (it is then kept in a cookie).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from cyclist_dataset._version import __version__
from cyclist_dataset.dataset.labels import Session
from cyclist_dataset.dataset.labels.session import STATUS_FILTERS
from cyclist_dataset.errors import UserError

HERE = Path(__file__).parent
TOKEN_COOKIE = "cyclist_dataset_token"


def base_app(title: str, token: str | None = None, hosts: list[str] | None = None) -> FastAPI:
    """What every local app of the tool shares (the labelling app, the ROI editor): static files,
    user errors as JSON 400s, and its guards. ``token``: required on every request (None: none
    needed). ``hosts``: the only Host headers answered (on localhost, so that a page elsewhere
    cannot reach the app through a DNS name pointed at 127.0.0.1)."""
    app = FastAPI(title=title, version=__version__, docs_url=None)
    if hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if token is None:
            return await call_next(request)
        given = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            return Response(
                "a token is needed: open the URL the command printed (annotate, roi edit)", 403
            )
        response = await call_next(request)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    return app


async def json_body(request: Request) -> dict:
    """A POST's JSON object (a cross-site form cannot send JSON, so no page elsewhere can act)."""
    if request.headers.get("content-type", "").split(";")[0] != "application/json":
        raise HTTPException(415, "send JSON (Content-Type: application/json)")
    body = await request.json()
    if not isinstance(body, dict):
        raise HTTPException(400, "send a JSON object")
    return body


def create_app(
    session: Session, token: str | None = None, hosts: list[str] | None = None
) -> FastAPI:
    """The labelling app over ``session`` (``base_app`` says what ``token`` and ``hosts`` do)."""
    app = base_app("cyclist-dataset labelling", token, hosts)
    lock = threading.Lock()  # one session, one draft: actions one at a time
    crop_paths = set(session.crops["crop_path"])
    _pages(app, session, lock, crop_paths)
    _api(app, session, lock)
    return app


def _pages(app: FastAPI, session: Session, lock: threading.Lock, crop_paths: set[str]) -> None:
    templates = Jinja2Templates(directory=HERE / "templates")

    def render(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            name,
            {
                "location": session.location,
                "annotator": session.annotator,
                "progress": session.counts(),
                "problems": [p.message for p in session.problems],
                "can_undo": session.draft.can_undo(),
                "version": session.version.name if session.version else None,
                "draft_changes": len(session.draft_records),
                **context,
            },
        )

    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/queue")

    @app.get("/queue", response_class=HTMLResponse)
    def queue(
        request: Request,
        camera: str = "",
        status: str = "all",
        start: str = "",
        end: str = "",
        page: int = 1,
    ) -> HTMLResponse:
        with lock:
            session.refresh()
            found = session.queue(camera or None, status, start or None, end or None, page)
            return render(
                request,
                "queue.html",
                queue=found,
                cameras=sorted(session.tracklets["camera"].unique()),
                statuses=STATUS_FILTERS,
                filters={"camera": camera, "status": status, "start": start, "end": end},
                lost=session.lost(),
            )

    @app.get("/tracklets/{tracklet_id}", response_class=HTMLResponse)
    def tracklet(request: Request, tracklet_id: str, status: str = "all") -> HTMLResponse:
        with lock:
            session.refresh()
            shown = session.tracklet(tracklet_id)
            previous, following = session.neighbours(tracklet_id, status)
            return render(
                request,
                "tracklet.html",
                tracklet=shown,
                previous=previous,
                following=following,
                status_filter=status,
                identities=session.identities(),
            )

    @app.get("/crops/{path:path}")
    def crop(path: str) -> FileResponse:
        # only the anonymized crops of the split manifest, never another file of the workspace
        if path not in crop_paths:
            raise HTTPException(404, "not a crop of this location's validation tracklets")
        return FileResponse(session.root / path, headers={"Cache-Control": "max-age=3600"})


def _api(app: FastAPI, session: Session, lock: threading.Lock) -> None:
    @app.get("/api/tracklets/{tracklet_id}")
    def tracklet_json(tracklet_id: str) -> dict:
        with lock:
            session.refresh()
            return session.tracklet(tracklet_id)

    @app.get("/api/queue")
    def queue_json(
        camera: str = "", status: str = "all", start: str = "", end: str = "", page: int = 1
    ) -> dict:
        with lock:
            session.refresh()
            found = session.queue(camera or None, status, start or None, end or None, page)
            return found.__dict__

    @app.get("/api/problems")
    def problems() -> list[dict]:
        with lock:
            return [{"units": list(p.units), "message": p.message} for p in session.problems]

    # The session's work (an fsync'ed draft line, a commit) runs in a worker thread, so that one
    # slow request does not stall the server's event loop.
    async def locked(work: Callable[[], dict]) -> dict:
        def run() -> dict:
            with lock:
                return work()

        return await run_in_threadpool(run)

    @app.post("/api/actions")
    async def act(request: Request) -> dict:
        action = await json_body(request)

        def work() -> dict:
            session.act(action)
            return {
                "tracklet": session.tracklet(str(action.get("tracklet_id"))),
                "problems": len(session.problems),
                "last_action": session.draft.last_action(),
            }

        return await locked(work)

    @app.post("/api/undo")
    async def undo(request: Request) -> dict:
        await json_body(request)
        return await locked(
            lambda: {"undone": session.undo(), "last_action": session.draft.last_action()}
        )

    @app.post("/api/commit")
    async def commit(request: Request) -> dict:
        await json_body(request)

        def work() -> dict:
            version = session.commit()
            return {
                "version": version.name,
                "created": version.created,
                "labelled_tracklets": version.meta["labelled_tracklets"],
                "identities": version.meta["identities"],
            }

        return await locked(work)
