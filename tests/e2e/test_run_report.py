"""The run report of the demo run in a real browser (Debian's chromium driven by Playwright, as in
test_annotate_browser.py): `run` writes it, it opens from the file system without a single network
request and shows the run's summary, a bar per filter rule, the camera's ROI overlay and links
that resolve; a failed video is shown, and a report that cannot be written costs the run nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote

import pytest
from playwright.sync_api import sync_playwright  # a dev dependency (make installs it)
from support import BROWSER_ARGS, DEMO, chromium, cli_app
from typer.testing import CliRunner

from cyclist_dataset.pipeline import run as pipeline_run
from cyclist_dataset.pipeline.run import RunReport
from cyclist_dataset.stages.filter import DROP_REASONS
from cyclist_dataset.tools import run_report
from cyclist_dataset.tools.report import drops, summary
from cyclist_dataset.tools.run_report import SUMMARY_COLUMNS


def copy_of(demo_run, target: Path) -> Path:
    """The demo workspace by hard links (results are replaced, never written in place): nothing
    is written into the session's shared workspace."""
    shutil.copytree(
        demo_run[0].workspace,
        target,
        copy_function=os.link,
        ignore=shutil.ignore_patterns(".lock"),
    )
    return target


@pytest.fixture(scope="module")
def reported(demo_run, tmp_path_factory) -> tuple[Path, str]:
    """`run` on a copy of the demo workspace (everything up to date): its report and output."""
    workspace = copy_of(demo_run, tmp_path_factory.mktemp("report") / "ws")
    result = CliRunner().invoke(cli_app(), ["run", str(DEMO), "--workspace", str(workspace)])
    assert result.exit_code == 0, result.output
    return workspace, result.output


def test_the_demo_runs_report_shows_its_summary_offline(reported, demo_run):
    workspace, output = reported
    page_path = workspace / "report" / "index.html"
    assert f"run report:       {page_path}" in output
    total, dropped = summary(workspace).loc["TOTAL"], drops(workspace).loc["TOTAL"]
    assert total["crops_train"] > 0  # the demo has crops: the figures below are not all zero
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            # Anything but the page's own files is refused (and recorded above).
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file:") else route.abort()
                ),
            )
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")

            shown = {c: page.locator(f'[data-summary="{c}"]').inner_text() for c in SUMMARY_COLUMNS}
            assert shown == {c: str(int(total[c])) for c in SUMMARY_COLUMNS}

            bars = page.locator("#summary svg.drops g.bar").all()
            assert [b.get_attribute("data-label") for b in bars] == list(DROP_REASONS)
            assert [int(b.get_attribute("data-value") or -1) for b in bars] == [
                int(dropped[r]) for r in DROP_REASONS
            ]
            lengths = page.locator("#summary svg.lengths g.bin").all()
            assert (
                sum(int(b.get_attribute("data-count") or 0) for b in lengths) == total["tracklets"]
            )
            times = {
                b.get_attribute("data-label"): float(b.get_attribute("data-value") or -1)
                for b in page.locator("#summary svg.times g.bar").all()
            }
            assert set(times) == {"ingest", "detect", "filter", "track", "anonymize", "split"}
            assert times["detect"] > 0 and min(times.values()) >= 0

            for camera in demo_run[0].cameras:
                overlay = page.locator(f'section.camera[data-camera="{camera.id}"] img.overlay')
                assert overlay.evaluate("image => image.complete && image.naturalWidth") > 0

            hrefs = [a.get_attribute("href") or "" for a in page.locator("a[href]").all()]
            targets = [(page_path.parent / unquote(href)).resolve() for href in hrefs]
            assert {workspace / "manifests" / name for name in ("videos", "crops")} <= set(targets)
            assert all(t.exists() and t.is_relative_to(workspace) for t in targets), hrefs
        finally:
            browser.close()
    assert requests and all(url.startswith("file:") for url in requests), requests


@pytest.mark.parametrize("report_fails", [False, True])
def test_failed_video_is_reported_and_a_failed_report_keeps_the_runs_status(
    demo_run, tmp_path, monkeypatch, report_fails
):
    workspace = copy_of(demo_run, tmp_path / "ws")
    (workspace / "report").mkdir()
    (workspace / "report" / "index.html").write_text("an older run's report")
    video = demo_run[0].videos[0].video_id
    # The run itself is not what this is about: every result is there, one video "failed".
    monkeypatch.setattr(
        pipeline_run,
        "run_pipeline",
        lambda *args, **kwargs: RunReport(failed={video: ("detect", "the detector fell over")}),
    )
    if report_fails:

        def broken(*args, **kwargs):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(run_report, "write_report", broken)
    result = CliRunner().invoke(cli_app(), ["run", str(DEMO), "--workspace", str(workspace)])
    assert result.exit_code == 1, result.output  # the failed video's status, whatever the report
    assert "the detector fell over" in result.output
    page = workspace / "report" / "index.html"
    if report_fails:
        assert "WARNING: the run report could not be written (RuntimeError: disk on fire)" in (
            result.output
        )
        assert not page.exists() and "run report:" not in result.output
    else:
        text = page.read_text()
        assert f"<b>{video}</b> failed in stage detect: the detector fell over" in text
        assert '<img class="overlay" src="roi/radeberg/cam1.jpg"' in text
        assert f"run report:       {page}" in result.output
