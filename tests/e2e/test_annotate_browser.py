"""The labelling app in a real browser (Debian's chromium driven by Playwright), on the multicam
workspace: an annotator labels every tracklet by keyboard as tests/fixtures/multicam_labels.csv
says (candidate numbers where a candidate already has the identity, else typing the name), splits
the tracklets that switch people, marks the chairs as junk, undoes a slip, survives a killed
server, and commits; the label version and a release made from it hold exactly those labels."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright  # a dev dependency (make installs it)
from support import BROWSER_ARGS, REPO, AppServer, chromium, cli

from cyclist_dataset.dataset.labels import list_versions, read_crops
from cyclist_dataset.dataset.release import create_release

LABELS = REPO / "tests" / "fixtures" / "multicam_labels.csv"


def annotate_server(workspace: Path) -> AppServer:
    """`cyclist-dataset annotate` in its own process, as an annotator starts it."""
    return AppServer("annotate", str(workspace), "--annotator", "eye", path="/queue")


@pytest.fixture
def workspace(multicam_run, tmp_path) -> Path:
    copy = tmp_path / "workspace"
    shutil.copytree(multicam_run[0].workspace, copy)
    return copy


@pytest.fixture
def browser() -> Iterator:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=BROWSER_ARGS)
        yield launched
        launched.close()


def fixture_rows() -> list[dict[str, str]]:
    lines = [line for line in LABELS.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    return list(csv.DictReader(lines))


def press(page, key: str) -> None:
    """A key that saves an action: the page reloads with what the server saved."""
    with page.expect_navigation():
        page.keyboard.press(key)


def label(page, identity: str) -> str:
    """Label the selected part: a candidate's number key when a candidate has this identity,
    else the name typed; junk, unsure and empty by their keys. Returns how."""
    if identity == "":
        return "left"
    if identity in ("junk", "unsure"):
        press(page, {"junk": "j", "unsure": "u"}[identity])
        return identity
    for card in page.locator(".candidate").all():
        if card.locator("figcaption b").inner_text() == identity:
            number = card.get_attribute("data-number")
            if number and int(number) <= 9:
                press(page, number)
                return f"candidate {number}"
    page.once("dialog", lambda dialog: dialog.accept(identity))
    press(page, "e")
    return "typed"


def select_part(page, first_frame: str) -> None:
    while page.locator("#parts .part.selected").get_attribute("data-first") != first_frame:
        page.keyboard.press("Tab")


def test_label_a_location_by_keyboard_split_junk_undo_crash_commit(workspace, browser, tmp_path):
    rows = fixture_rows()
    by_tracklet: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_tracklet.setdefault(row["tracklet_id"], []).append(row)
    server = annotate_server(workspace)
    page = browser.new_page()
    page.goto(server.url + "/queue")
    assert page.locator("table.queue tbody tr").count() == len(by_tracklet)
    ways: list[str] = []
    for n, (tracklet_id, parts) in enumerate(by_tracklet.items()):
        if n == len(by_tracklet) // 2:
            # one server per draft: a second one for the same annotator is refused
            second = cli("annotate", str(workspace), "--annotator", "eye", timeout=60)
            assert second.returncode == 2 and "already running" in second.stderr
            # the server dies mid-session; a new one starts on the same draft: nothing is lost
            page.goto(server.url + "/queue")
            before = page.locator("#progress").inner_text()
            assert not before.startswith("0 labelled"), before  # labels were made
            server.kill()
            server = annotate_server(workspace)
            page.goto(server.url + "/queue")
            assert page.locator("#progress").inner_text() == before
        page.goto(f"{server.url}/tracklets/{tracklet_id}")
        if n == 0:  # a slip, undone
            press(page, "j")
            assert page.locator("#parts .part b").first.inner_text() == "junk"
            press(page, "z")
            assert page.locator("#parts .part b").first.inner_text() == "unlabelled"
        for part in parts[1:]:  # split where the tracker switched people
            page.keyboard.press("s")
            with page.expect_navigation():
                page.locator(f'#crops .crop[data-frame="{part["frames"].split("-")[0]}"]').click()
        for part in parts:
            if part["frames"]:
                select_part(page, part["frames"].split("-")[0])
            ways.append(label(page, part["identity"]))
        shown = [b.inner_text() for b in page.locator("#parts .part b").all()]
        assert shown == [p["identity"] or "unlabelled" for p in parts], tracklet_id
    assert any(w.startswith("candidate") for w in ways) and "typed" in ways and "junk" in ways
    page.goto(server.url + "/queue")
    assert "impossible" not in page.content()
    page.locator("#commit").click()
    page.wait_for_selector("#message.ok")
    assert "label version v0001" in page.locator("#message").inner_text()
    server.kill()
    assert "draft" in "".join(server.output)

    [version] = list_versions(workspace)
    got = {
        (r.tracklet_id, r.first_frame, r.status, r.identity if isinstance(r.identity, str) else "")
        for r in version.labels.itertuples()
    }
    expected = set()
    crops = read_crops(workspace)
    for row in rows:
        frames = crops.loc[crops["tracklet_id"] == row["tracklet_id"], "frame_index"]
        first = int(row["frames"].split("-")[0]) if row["frames"] else int(frames.min())
        status = row["identity"] if row["identity"] in ("junk", "unsure") else "person"
        if not row["identity"]:
            if not row["frames"]:
                continue  # an unlabelled whole tracklet has no row
            status = "unlabelled"
        identity = row["identity"] if status == "person" else ""
        expected.add((row["tracklet_id"], first, status, identity))
    assert got == expected
    release = create_release(workspace, "from-the-app")
    import cyclist_dataset

    test = cyclist_dataset.load_split(release, "test")
    assert set(test["identity"].dropna()) == {"multicam_lab/p1", "multicam_lab/p2"}
    junk = {r["tracklet_id"] for r in rows if r["identity"] == "junk"}
    assert not set(test["tracklet_id"]) & junk
