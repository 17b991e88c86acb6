"""Serving the labelling app: bind, print the URL, run until Ctrl+C."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn

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
    if host not in LOCAL_HOSTS and token is None:
        token = secrets.token_urlsafe(16)
    app = create_app(session, token, hosts=list(LOCAL_HOSTS) if host in LOCAL_HOSTS else None)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)  # connections wait in the backlog until the server runs: the URL works at once
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    url = f"http://{shown}:{bound}/queue" + (f"?token={token}" if token else "")
    echo(
        f"labelling {session.location} as {annotator}: {len(session.tracklets)} validation "
        f"tracklets; draft {session.draft.path}\nopen {url}\n(Ctrl+C stops; every action is "
        "already saved)"
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    assert session.held_draft is not None
    with session.held_draft:  # let go of the draft when the server stops
        server.run(sockets=[sock])
