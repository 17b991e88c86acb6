"""Cross-camera labels: the labelling package, the import's checks, immutable versions."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import cv2
import pandas as pd
import pytest
from support import cli_app
from synthetic_workspace import town
from typer.testing import CliRunner

from cyclist_dataset.dataset.labels import export_package, import_labels, list_versions
from cyclist_dataset.errors import UserError

HEADER = "location,camera,tracklet_id,identity\n"


def digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return town(tmp_path / "ws")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_becomes_an_immutable_version(ws, tmp_path):
    source = write(
        tmp_path / "labels.csv",
        "# checked twice\n" + HEADER + "town,A,town_A_t0001,p1\n"
        "town,B,town_B_t0001,p1\n"
        "town,A,town_A_t0002,\n"  # left empty: stays an unlabelled distractor
        "city,C,city_C_t0001,c7\n",
    )
    version = import_labels(ws, source, by="annotator-1")
    assert version.name == "v0001" and version.path == ws / "labels" / "v0001"
    labels = version.labels.set_index("tracklet_id")
    assert labels["identity"].to_dict() == {
        "town_A_t0001": "p1",
        "town_B_t0001": "p1",
        "city_C_t0001": "c7",
    }
    assert (
        labels.loc["town_B_t0001", "source"] == "labels.csv:4"
        and labels.loc["city_C_t0001", "camera"] == "C"
    )
    meta = version.meta
    assert meta["created_by"] == "annotator-1"
    assert meta["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert meta["identities"] == 2 and meta["labelled_tracklets"] == 3
    assert meta["unlabelled_validation_tracklets"] == 2  # town_A_t0002 and town_B_t0002
    assert (version.path / "source.csv").read_bytes() == source.read_bytes()
    assert all(not (p.stat().st_mode & 0o222) for p in version.path.iterdir())  # read-only


def test_a_partial_file_merges_into_the_latest_version_and_never_touches_it(ws, tmp_path):
    first = import_labels(
        ws, write(tmp_path / "a.csv", HEADER + "town,A,town_A_t0001,p1\ncity,C,city_C_t0001,c1\n")
    )
    before = digests(first.path)
    # The second file lists other tracklets: the labels of v0001 stay beside its own.
    second = import_labels(
        ws,
        write(tmp_path / "b.csv", HEADER + "town,A,town_A_t0002,p2\ntown,B,town_B_t0002,p2\n"),
        overlapping_views=True,
    )
    assert [v.name for v in list_versions(ws)] == ["v0001", "v0002"]
    assert digests(first.path) == before
    labels = second.labels.set_index("tracklet_id")
    assert labels["identity"].to_dict() == {
        "town_A_t0001": "p1",
        "town_A_t0002": "p2",
        "town_B_t0002": "p2",
        "city_C_t0001": "c1",
    }
    assert labels.loc["city_C_t0001", "label_version"] == "v0001"
    assert labels.loc["town_A_t0002", "label_version"] == "v0002"
    assert second.meta["previous_version"] == "v0001"
    # A row with an empty identity clears that tracklet's label; the others stay.
    third = import_labels(ws, write(tmp_path / "c.csv", HEADER + "town,A,town_A_t0001,\n"))
    assert set(third.labels["tracklet_id"]) == {"town_A_t0002", "town_B_t0002", "city_C_t0001"}
    # --replace: the file's locations get exactly the file's labels.
    fourth = import_labels(
        ws, write(tmp_path / "d.csv", HEADER + "town,B,town_B_t0001,q1\n"), replace=True
    )
    assert fourth.labels.set_index("tracklet_id")["identity"].to_dict() == {
        "town_B_t0001": "q1",
        "city_C_t0001": "c1",
    }


def test_an_import_that_changes_nothing_makes_no_version(ws, tmp_path):
    source = write(tmp_path / "a.csv", HEADER + "town,A,town_A_t0001,p1\n")
    assert import_labels(ws, source).name == "v0001"
    again = import_labels(ws, source)
    assert again.name == "v0001" and not again.created
    assert [v.name for v in list_versions(ws)] == ["v0001"]


def test_identities_differing_only_in_case_are_refused(ws, tmp_path):
    import_labels(ws, write(tmp_path / "a.csv", HEADER + "town,A,town_A_t0001,p1\n"))
    with pytest.raises(UserError, match=r"b\.csv:2: identities 'P1' and 'p1' \(v0001\)"):
        import_labels(ws, write(tmp_path / "b.csv", HEADER + "town,B,town_B_t0001,P1\n"))


def test_junk_unsure_and_parts_of_a_split_tracklet(ws, tmp_path):
    """`junk` and `unsure` are statuses, not names; rows with frames label the parts of a
    tracklet that switches people, and the parts must not overlap."""
    frames = pd.read_parquet(ws / "manifests" / "crops")
    a1 = sorted(frames.loc[frames["tracklet_id"] == "town_A_t0001", "frame_index"])
    cut = a1[2]
    body = (
        "location,camera,tracklet_id,frames,identity\n"
        f"town,A,town_A_t0001,{a1[0]}-{cut - 1},p1\n"
        f"town,A,town_A_t0001,{cut}-{a1[-1]},p2\n"
        "town,A,town_A_t0002,,JUNK\n"
        "town,B,town_B_t0001,,unsure\n"
    )
    version = import_labels(ws, write(tmp_path / "a.csv", body))
    labels = version.labels.sort_values(["tracklet_id", "first_frame"])
    assert list(
        zip(labels["tracklet_id"], labels["status"], labels["identity"].fillna(""), strict=True)
    ) == [
        ("town_A_t0001", "person", "p1"),
        ("town_A_t0001", "person", "p2"),
        ("town_A_t0002", "junk", ""),
        ("town_B_t0001", "unsure", ""),
    ]
    assert labels["n_crops"].tolist()[:2] == [2, len(a1) - 2]
    assert version.meta["junk"] == 1 and version.meta["unsure"] == 1
    overlapping = body.replace(f"{cut}-{a1[-1]}", f"{cut - 1}-{a1[-1]}")
    with pytest.raises(UserError, match=r"b\.csv:3: frames .* overlap frames .* \(line 2\)"):
        import_labels(ws, write(tmp_path / "b.csv", overlapping))


def test_a_stale_row_is_refused_with_what_changed(ws, tmp_path):
    """The exported start/end/n_crops say which tracklet the annotator saw: a row whose tracklet
    has changed since is refused, not attached to whatever now has that id."""
    stale = GOOD_ROW.replace(",4,", ",12,")
    with pytest.raises(
        UserError,
        match=r"stale\.csv:2: tracklet town_A_t0001 is no longer what was labelled.*"
        r"n_crops 12 \(now 4\)",
    ):
        import_labels(ws, write(tmp_path / "stale.csv", EXPORTED + stale))


# Each kind of error, its line (comments and the header count as lines) and a phrase of its message.
BAD_FILES = {
    "unknown tracklet": (
        "town,A,town_A_t0001,p1\ntown,A,town_A_t0099,p2\n",
        3,
        "unknown tracklet 'town_A_t0099'",
    ),
    "duplicate tracklet": (
        "town,A,town_A_t0001,p1\ntown,B,town_B_t0001,p2\ntown,A,town_A_t0001,p1\n",
        4,
        "listed twice (first at line 2)",
    ),
    "two identities": (
        "town,A,town_A_t0001,p1\ntown,A,town_A_t0001,p2\n",
        3,
        "given two identities: 'p1' (line 2)",
    ),
    "two cameras at once": (
        "town,A,town_A_t0001,p1\ntown,A,town_A_t0002,p2\ntown,B,town_B_t0002,p1\n",
        4,
        "at B (town_B_t0002) and at A (town_A_t0001, labels.csv:2) at overlapping times",
    ),
    "two locations": (
        "town,A,town_A_t0001,p1\ncity,C,city_C_t0001,p1\n",
        3,
        "is at location 'city' and at 'town'",
    ),
    "malformed identity": ("town,A,town_A_t0001,p 1\n", 2, "identity 'p 1' is malformed"),
    "empty tracklet id": ("town,A,town_A_t0001,p1\ntown,A,,p1\n", 3, "tracklet_id is empty"),
    "train tracklet": ("town,A,town_A_t0000,p1\n", 2, "is in the train part"),
    "edited camera": ("town,B,town_A_t0001,p1\n", 2, "camera 'B' does not match"),
    "too many fields": ("town,A,town_A_t0001,p1,extra\n", 2, "5 fields, the header has 4"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_label_file_with_an_error_is_rejected_whole_with_its_line(ws, tmp_path, kind):
    body, line, phrase = BAD_FILES[kind]
    import_labels(ws, write(tmp_path / "ok.csv", HEADER + "town,B,town_B_t0001,q1\n"))
    before = digests(ws / "labels")
    source = write(tmp_path / "labels.csv", HEADER + body)
    with pytest.raises(UserError) as error:
        import_labels(ws, source)
    message = str(error.value)
    assert "rejected, nothing was imported" in message
    assert re.search(rf"labels\.csv:{line}: .*{re.escape(phrase)}", message), message
    assert [v.name for v in list_versions(ws)] == ["v0001"] and digests(ws / "labels") == before


def test_every_problem_is_listed_in_line_order(ws, tmp_path):
    source = write(
        tmp_path / "labels.csv",
        "# one\n# two\n"
        + HEADER
        + "town,A,nope,p1\ntown,A,town_A_t0001,bad/id\ntown,A,town_A_t0000,p2\n",
    )
    with pytest.raises(UserError) as error:
        import_labels(ws, source)
    found = [int(n) for n in re.findall(r"labels\.csv:(\d+):", str(error.value))]
    assert found == [4, 5, 6]
    assert list_versions(ws) == []


def test_missing_header_column_and_empty_file_are_rejected(ws, tmp_path):
    with pytest.raises(UserError, match=r"labels\.csv:2: the header has no column identity"):
        import_labels(
            ws,
            write(
                tmp_path / "labels.csv", "# c\nlocation,camera,tracklet_id\ntown,A,town_A_t0001\n"
            ),
        )
    with pytest.raises(UserError, match="no row has an identity"):
        import_labels(ws, write(tmp_path / "labels.csv", HEADER + "town,A,town_A_t0001,\n"))
    assert list_versions(ws) == []


def test_overlapping_views_allow_one_person_at_two_cameras_at_once(ws, tmp_path):
    source = write(
        tmp_path / "labels.csv", HEADER + "town,A,town_A_t0001,p1\ntown,B,town_B_t0002,p1\n"
    )
    with pytest.raises(UserError, match=r"set overlapping_views = true .* \[location\]"):
        import_labels(ws, source)
    version = import_labels(ws, source, overlapping_views=True)  # the override
    assert version.meta["overlapping_views_overrides"] == {"town": True}
    assert len(version.labels) == 2
    # The location's own setting, as a run of its pipeline file records it in the workspace.
    (ws / "locations").mkdir()
    (ws / "locations" / "town.json").write_text('{"overlapping_views": true}')
    again = write(
        tmp_path / "again.csv", HEADER + "town,A,town_A_t0002,p3\ntown,B,town_B_t0001,p3\n"
    )
    assert import_labels(ws, again).name == "v0002"


def test_json_labels_are_checked_with_line_numbers(ws, tmp_path):
    good = [
        {"tracklet_id": "town_A_t0001", "identity": "p1"},
        {"tracklet_id": "town_B_t0001", "identity": "p1"},
    ]
    version = import_labels(
        ws, write(tmp_path / "labels.json", json.dumps({"labels": good}, indent=2))
    )
    assert version.meta["format"] == "json" and set(version.labels["identity"]) == {"p1"}
    bad = good + [{"tracklet_id": "town_A_t0001", "identity": "p9"}]
    text = json.dumps(bad, indent=2)  # each object spans 4 lines; the third starts on line 10
    with pytest.raises(
        UserError, match=r"labels\.json:10 \(labels\[2\]\): tracklet 'town_A_t0001' is given two"
    ):
        import_labels(ws, write(tmp_path / "labels.json", text))
    assert [v.name for v in list_versions(ws)] == ["v0001"]


def test_export_package_opens_offline_and_ranks_candidates(ws, tmp_path):
    out = tmp_path / "package"
    import_labels(ws, write(tmp_path / "a.csv", HEADER + "town,B,town_B_t0001,p7\n"))
    summary = export_package(ws, "town", out, candidates=5)
    # validation only: the train tracklet is not there
    assert summary.tracklets == 4 and summary.cameras == 2
    text = (out / "labels.csv").read_text(encoding="utf-8")
    assert text.startswith("# label version: v0001\n")  # what the file starts from
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert [r["tracklet_id"] for r in rows] == [
        "town_A_t0001",
        "town_A_t0002",
        "town_B_t0002",
        "town_B_t0001",
    ]
    assert all((out / r["representative_crop"]).is_file() for r in rows)
    # the labels already made are filled in
    assert [r["identity"] for r in rows] == ["", "", "", "p7"]
    assert rows[0]["start"] == "2020-06-01T10:50:00.000+00:00" and rows[0]["n_crops"] == "4"
    sheet = cv2.imread(str(out / "sheets" / "town_A_t0001.png"))
    assert sheet is not None and sheet.shape[0] > 100
    page = (out / "index.html").read_text(encoding="utf-8")
    links = re.findall(r"(?:src|href)='([^'#]+)'", page)
    # relative links into the package
    assert links and all((out / link).is_file() for link in links)
    assert "http" not in page  # nothing fetched from the network
    # Candidates of A1 (10:50:00-01.5): B1 is 28.5 s later; B2 overlaps it in time, impossible at
    # cameras whose views do not overlap, so it comes last (their colours are equally unlike A1's);
    # A2 is the same camera.
    start = page.index("<section id='town_A_t0001'>")
    section = page[start : page.index("</section>", start)]
    assert re.findall(r"<figcaption>(\w+)<br>B, gap (-?[\d.]+) s", section) == [
        ("town_B_t0001", "28.5"),
        ("town_B_t0002", "-0.5"),
    ]
    with pytest.raises(UserError, match="already exists"):
        export_package(ws, "town", out)
    with pytest.raises(UserError, match="no tracklets of location 'nowhere'"):
        export_package(ws, "nowhere", tmp_path / "other")


def test_candidates_prefer_similar_colours_at_equal_times(tmp_path):
    from datetime import timedelta

    from synthetic_workspace import T0, Tracklet, make_workspace

    ws = make_workspace(
        tmp_path / "ws",
        [
            Tracklet("l_A_t0001", "A", T0, colour=(30, 30, 200), location="l"),
            Tracklet(
                "l_B_t0001", "B", T0 + timedelta(seconds=5), colour=(200, 200, 30), location="l"
            ),
            Tracklet(
                "l_B_t0002", "B", T0 + timedelta(seconds=5), colour=(30, 30, 200), location="l"
            ),
        ],
    )
    export_package(ws, "l", tmp_path / "p")
    page = (tmp_path / "p" / "index.html").read_text(encoding="utf-8")
    section = page[page.index("<section id='l_A_t0001'>") :]
    assert re.findall(r"<figcaption>(\w+)<br>", section)[:2] == ["l_B_t0002", "l_B_t0001"]


def test_labels_commands(ws, tmp_path):
    runner = CliRunner()
    app = cli_app()
    result = runner.invoke(
        app, ["labels", "export", str(ws), "--location", "town", "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 0, result.output
    assert "4 tracklets from 2 camera(s)" in result.output
    filled = (
        (tmp_path / "p" / "labels.csv")
        .read_text()
        .replace("crops/town_A_t0001.jpg,", "crops/town_A_t0001.jpg,p1")
    )
    write(tmp_path / "filled.csv", filled)
    result = runner.invoke(
        app, ["labels", "import", str(ws), str(tmp_path / "filled.csv"), "--by", "ann"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "label version v0001 (after none): 1 labelled tracklets, 1 identities, 0 junk, 0 unsure, "
        "4 validation tracklets unlabelled" in result.output
    )
    result = runner.invoke(
        app, ["labels", "import", str(ws), str(tmp_path / "filled.csv"), "--by", "ann"]
    )
    assert result.exit_code == 0 and "no change to label version v0001" in result.output
    result = runner.invoke(app, ["labels", "list", str(ws)])
    assert result.exit_code == 0 and re.search(
        r"v0001 .* ann .* 1 tracklets .* filled\.csv", result.output
    )
    bad = write(tmp_path / "bad.csv", HEADER + "town,A,town_A_t0404,p1\n")
    result = runner.invoke(app, ["labels", "import", str(ws), str(bad)])
    assert isinstance(result.exception, UserError) and "bad.csv:2: unknown tracklet" in str(
        result.exception
    )
    assert len(pd.read_parquet(ws / "labels" / "v0001" / "labels.parquet")) == 1


EXPORTED = "location,camera,tracklet_id,start,end,n_crops,representative_crop,identity\n"
GOOD_ROW = (
    "town,A,town_A_t0001,2020-06-01T12:50:00.000+02:00,2020-06-01T12:50:01.500+02:00,4,"
    "crops/town_A_t0001.jpg,p1\n"
)


@pytest.mark.parametrize(
    "column,value,phrase",
    [
        ("start", "yesterday", "start 'yesterday' is not a time with its UTC offset"),
        (
            "end",
            "2020-06-01T12:50:01",
            "end '2020-06-01T12:50:01' is not a time with its UTC offset",
        ),
        ("n_crops", "four", "n_crops 'four' is not a positive whole number"),
        ("n_crops", "0", "n_crops '0' is not a positive whole number"),
        ("representative_crop", "/etc/passwd", "representative_crop '/etc/passwd' is not a crop"),
    ],
)
def test_the_exported_columns_are_checked_when_present(ws, tmp_path, column, value, phrase):
    """start, end, n_crops and representative_crop are for the annotators' eyes; a file that
    carries them must carry them as exported, or it is not the exported file."""
    assert import_labels(ws, write(tmp_path / "good.csv", EXPORTED + GOOD_ROW)).name == "v0001"
    index = EXPORTED.strip().split(",").index(column)
    cells = GOOD_ROW.strip().split(",")
    cells[index] = value
    with pytest.raises(UserError, match=rf"bad\.csv:2: {re.escape(phrase)}"):
        import_labels(ws, write(tmp_path / "bad.csv", EXPORTED + ",".join(cells) + "\n"))


def version_of_0_1(ws: Path) -> None:
    """v0001 as cyclist-dataset 0.1 wrote it: p1 on town_A_t0001 and town_B_t0001, no boxes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cyclist_dataset.dataset.labels import read_crops, tracklet_fingerprints

    fingerprints = tracklet_fingerprints(read_crops(ws))
    old = ws / "labels" / "v0001"
    old.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "location": ["town", "town"],
                "camera": ["A", "B"],
                "tracklet_id": ["town_A_t0001", "town_B_t0001"],
                "identity": ["p1", "p1"],
                "tracklet_fingerprint": [
                    fingerprints["town_A_t0001"],
                    fingerprints["town_B_t0001"],
                ],
                "label_version": ["v0001", "v0001"],
                "source_line": [2, 3],
            }
        ),
        old / "labels.parquet",
    )
    (old / "meta.json").write_text(
        json.dumps(
            {
                "version": "v0001",
                "created_at": "2026-01-01T00:00:00+00:00",
                "created_by": "someone",
                "source_file": "labels.csv",
                "source_sha256": "0" * 64,
                "labelled_tracklets": 2,
                "identities": 1,
            }
        )
    )


def test_a_label_version_of_0_1_is_read_released_and_built_upon(ws, tmp_path):
    """Versions made by 0.1 (whole tracklets, identities only, no boxes) still work."""
    from cyclist_dataset.dataset.labels import get_version
    from cyclist_dataset.dataset.release import create_release

    version_of_0_1(ws)
    test = pd.read_parquet(create_release(ws, "old-labels") / "test.parquet")
    assert set(test.loc[test["pid"] > 0, "tracklet_id"]) == {"town_A_t0001", "town_B_t0001"}
    newer = import_labels(ws, write(tmp_path / "b.csv", HEADER + "town,A,town_A_t0002,p2\n"))
    labels = newer.labels.set_index("tracklet_id")
    assert labels["identity"].to_dict() == {
        "town_A_t0001": "p1",
        "town_B_t0001": "p1",
        "town_A_t0002": "p2",
    }
    assert labels.loc["town_A_t0001", "n_crops"] == 4 and len(newer.anchors) == 12
    assert get_version(ws, "1").labels["status"].tolist() == ["person", "person"]


def test_a_label_version_of_0_1_is_carried_as_far_as_it_can_be(ws):
    """No boxes were kept by 0.1: labels whose tracklets are unchanged are carried (today's boxes
    are theirs), those of changed tracklets are reported lost; the app opens."""
    import pyarrow.parquet as pq

    from cyclist_dataset.core import schemas
    from cyclist_dataset.dataset.labels import Session, carry_version, read_crops

    version_of_0_1(ws)
    path = ws / "manifests" / "crops" / "town_A.parquet"
    frame = pd.read_parquet(path)
    moved = frame["tracklet_id"] == "town_A_t0001"
    frame.loc[moved, "x2"] += 30.0
    pq.write_table(schemas.from_pandas(schemas.CROPS, frame), path)
    made, report = carry_version(ws, read_crops(ws))
    assert made.name == "v0002"
    assert set(made.labels["tracklet_id"]) == {"town_B_t0001"}
    [lost] = report.lost
    assert lost["unit"].startswith("town_A_t0001@") and "0.1" in lost["why"]
    assert Session(ws, "town", "ana").status("town_B_t0001") == "labelled"
