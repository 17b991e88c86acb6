"""The run report's charts (inline SVG drawn from the data) and its page for a run whose only video
failed, without footage: the failure and the missing ROI overlay are said, not raised."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.pipeline.run import RunReport
from cyclist_dataset.tools.run_report import (
    SUMMARY_COLUMNS,
    Audit,
    bar_chart,
    histogram,
    histogram_bins,
    write_report,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML, or this raises


def test_bar_chart_has_one_bar_per_key_scaled_to_the_largest():
    svg = parse(bar_chart({"class": 10, "score": 40, "roi": 0}, "drops <all>", "drops"))
    assert "drops" in svg.get("class", "") and svg.get("aria-label") == "drops <all>"
    bars = svg.findall(f"{SVG}g")
    assert [b.get("data-label") for b in bars] == ["class", "score", "roi"]
    assert [b.get("data-value") for b in bars] == ["10", "40", "0"]
    widths = [float(b.find(f"{SVG}rect").get("width")) for b in bars]
    assert widths[1] == 220 and widths[0] == pytest.approx(55) and widths[2] == 0
    assert [b.findall(f"{SVG}text")[1].text for b in bars] == ["10", "40", "0"]


def test_bar_chart_of_zeros_and_fractions():
    bars = parse(bar_chart({"detect": 0.0, "track": 0.25}, "t", "times", unit=" s")).findall(
        f"{SVG}g"
    )
    assert [b.get("data-value") for b in bars] == ["0", "0.2"]  # one decimal
    assert bars[1].findall(f"{SVG}text")[1].text == "0.2 s"
    assert parse(bar_chart({"a": 0, "b": 0}, "t", "x")).find(f"{SVG}g/{SVG}rect").get("width") == (
        "0.0"
    )


def test_whole_number_bins_hold_each_value_once():
    counts, edges = histogram_bins([3, 3, 4, 7, 12], bins=10, whole=True)
    assert counts.sum() == 5
    assert edges[0] == 3 and edges[-1] >= 13  # [3, 13): 12 falls in the last bin
    assert np.all(np.diff(edges) == np.diff(edges)[0]) and float(np.diff(edges)[0]).is_integer()
    # Few values, few bins (Sturges): 5 values -> at most 4 bins of width 3
    assert len(counts) <= 4
    counts, edges = histogram_bins(list(range(1, 101)), bins=10, whole=True)
    assert counts.tolist() == [13] * 7 + [9] and edges.tolist()[:2] == [1, 14]  # 8 bins (Sturges)


def test_float_bins_cover_the_range_and_a_single_value():
    counts, edges = histogram_bins([0.5, 1.0, 2.5, 2.5, 1.5], bins=3)
    assert counts.tolist() == [2, 1, 2] and edges[0] == 0.5 and edges[-1] == 2.5  # last: closed
    counts, edges = histogram_bins([2.0], bins=10)
    assert counts.tolist() == [1] and edges.tolist() == [1.5, 2.5]
    counts, edges = histogram_bins([], bins=10)
    assert counts.size == 0 and edges.size == 0


def test_histogram_svg_carries_each_bins_count_and_label():
    svg = parse(histogram([5, 5, 6, 9], "length", "lengths", "boxes", whole=True))
    bins = svg.findall(f"{SVG}g")
    assert sum(int(b.get("data-count")) for b in bins) == 4
    first = bins[0]
    assert (first.get("data-low"), first.get("data-high"), first.get("data-count")) == (
        "5",
        "7",
        "3",
    )
    assert first.findall(f"{SVG}text")[1].text == "5-6"  # whole bin [5, 7): the values 5 and 6
    heights = [float(b.find(f"{SVG}rect").get("height")) for b in bins]
    assert max(heights) == 100 and heights[0] == 100  # the fullest bin is the plot's height
    durations = parse(histogram([0.31, 0.32, 0.39], "duration", "durations", "seconds"))
    ticks = [t.text for t in durations.findall(f"{SVG}text")][-3:]
    assert ticks[-1] == "0.390"  # bins 0.04 s wide: ticks precise enough to tell them apart
    assert "none" in str(histogram([], "tracklet length", "lengths", "boxes"))


def test_audit_figures_count_refused_crops_but_score_only_written_ones():
    rows = pd.DataFrame(
        {
            "crop_path": ["a.jpg", None, "b.jpg", "c.jpg"],
            "audit_passed": [True, False, True, None],  # c: written with the audit off
            "audit_face_score": [0.5, 1.3, 0.9, None],
            "audit_escalations": [0, 3, 1, None],
            "refused": [None, "a face after 3 escalations", None, None],
        }
    )
    assert Audit.of(rows) == Audit(audited=3, passed=2, refused=1, escalated=2, highest_score=0.9)
    older = rows.drop(columns=["audit_escalations", "refused"])  # results of an older version
    assert Audit.of(older) == Audit(audited=3, passed=2, refused=1, escalated=0, highest_score=0.9)


def test_report_of_a_run_whose_video_failed_says_so(tmp_path: Path):
    (tmp_path / "p.toml").write_text(
        'roi_dir = "rois"\n[location]\nname = "town"\n[[cameras]]\nid = "cam1"\n'
        '[[videos]]\ncamera = "cam1"\npath = "clip.mp4"\nstart_time = 2020-06-01T10:00:00\n'
    )
    config = load_pipeline(tmp_path / "p.toml", tmp_path / "ws")
    stale = tmp_path / "ws" / "report" / "roi" / "town" / "cam1.jpg"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an older run's overlay")

    def no_footage(config, camera):
        raise FileNotFoundError("clip.mp4: no such file")

    run = RunReport(failed={"clip": ("ingest", "clip.mp4: no such file")})
    page = write_report(config, run, overlay=no_footage)
    assert page == tmp_path / "ws" / "report" / "index.html"
    text = page.read_text()
    assert "<script" not in text and "http" not in text.replace('xmlns="http://www.w3.org', "")
    assert "<b>clip</b> failed in stage ingest: clip.mp4: no such file" in text
    assert "no ROI overlay: clip.mp4: no such file" in text
    assert not stale.exists()  # an older overlay is never shown as this run's
    for column in SUMMARY_COLUMNS:
        assert f'data-summary="{column}">0<' in text
