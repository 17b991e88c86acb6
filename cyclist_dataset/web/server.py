"""Serving the local apps (labelling, ROI editor): bind, print the URL, run until Ctrl+C."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from cyclist_dataset.core.config import PipelineConfig
from cyclist_dataset.dataset.labels import Session
from cyclist_dataset.errors import UserError
from cyclist_dataset.web.app import create_app

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def serve(
    root: Path,
    location: str | None,
    annotator: str,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Open the session (carrying labels over a rerun, embedding new tracklets) and serve it.
    Bound to an address other than localhost, every request needs a token (``token``, or a new
    random one), which the printed URL carries."""

    def progress(done: int, total: int) -> None:
        if done == total or done % 200 == 0:
            echo(f"appearance of new tracklets: {done}/{total}")

    session = Session(root, location, annotator, progress=progress, exclusive=True)
    if session.carry_report is not None:
        echo(
            "the pipeline was rerun since the labels were made; carried them to today's "
            f"tracklets: {session.carry_report.summary()}"
        )
    if session.draft.dropped_torn_line:
        echo("the draft's last line was cut off by a crash (an action never confirmed): dropped")
    token = required_token(host, token)
    app = create_app(session, token, hosts=guarded_hosts(host))
    sock, base = listen(host, port)
    url = f"{base}/queue" + (f"?token={token}" if token else "")
    echo(
        f"labelling {session.location} as {annotator}: {len(session.tracklets)} validation "
        f"tracklets; draft {session.draft.path}\nopen {url}\n(Ctrl+C stops; every action is "
        "already saved)"
    )
    assert session.held_draft is not None
    with session.held_draft:  # let go of the draft when the server stops
        run(app, sock)


def required_token(host: str, token: str | None) -> str | None:
    """The token every request must carry: the one given, or a new random one when the app
    listens beyond localhost (None on localhost: no token)."""
    if token is not None and not token.strip():
        raise UserError("--token must not be empty (an empty token would let anyone in)")
    if host not in LOCAL_HOSTS and token is None:
        return secrets.token_urlsafe(16)
    return token


def guarded_hosts(host: str) -> list[str] | None:
    """The Host headers an app bound to ``host`` answers: on localhost only localhost's names
    (DNS rebinding), elsewhere any (the token guards it)."""
    return list(LOCAL_HOSTS) if host in LOCAL_HOSTS else None


def listen(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening socket and the URL it is reached at. Connections wait in the backlog until
    the server runs, so the printed URL works at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"http://{shown}:{bound}"


def run(app: FastAPI, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until Ctrl+C."""
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


def serve_roi_editor(
    config: PipelineConfig,
    camera: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve the ROI editor of a pipeline's cameras."""
    from cyclist_dataset.web.roi_app import create_roi_app

    if camera is not None and camera not in [c.id for c in config.cameras]:
        raise UserError(
            f"{config.source}: no camera {camera!r} (cameras: {[c.id for c in config.cameras]})"
        )
    token = required_token(host, token)
    app = create_roi_app(config, token, hosts=guarded_hosts(host))
    sock, base = listen(host, port)
    url = f"{base}/roi" + (f"/{camera}" if camera else "") + (f"?token={token}" if token else "")
    echo(
        f"ROI editor for {config.location.name} ({len(config.cameras)} camera(s)); files in "
        f"{config.roi_dir / config.location.name}\nopen {url}\n(Ctrl+C stops; Save writes a "
        "camera's file)"
    )
    run(app, sock)
