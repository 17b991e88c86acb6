"""The labelling app's API on a synthetic workspace: every action, undo, every validation rule,
drafts that survive a killed server, commit through the import's checks, and the app's guards."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from synthetic_workspace import T0, Tracklet, make_workspace, town

from cyclist_dataset.core import schemas
from cyclist_dataset.dataset.labels import Session, import_labels, list_versions

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return town(tmp_path / "ws")


def client(ws: Path, annotator: str = "ana", location: str = "town", token=None) -> TestClient:
    from cyclist_dataset.web.app import create_app

    return TestClient(create_app(Session(ws, location, annotator), token))


def act(c: TestClient, **action) -> dict:
    response = c.post("/api/actions", json=action)
    assert response.status_code == 200, response.text
    return response.json()


def labels_of(c: TestClient, tracklet_id: str) -> list[str]:
    return [p["label"] for p in c.get(f"/api/tracklets/{tracklet_id}").json()["parts"]]


def problems(c: TestClient) -> list[str]:
    return [p["message"] for p in c.get("/api/problems").json()]


def test_queue_page_and_filters(ws):
    c = client(ws)
    page = c.get("/queue")
    assert page.status_code == 200 and "town_A_t0001" in page.text and "city_C" not in page.text
    assert "0 labelled" in page.text and "4 to do of 4" in page.text
    queue = c.get("/api/queue").json()
    assert [r["tracklet_id"] for r in queue["rows"]] == [
        "town_A_t0001",
        "town_A_t0002",
        "town_B_t0002",
        "town_B_t0001",
    ]
    assert [r["tracklet_id"] for r in c.get("/api/queue?camera=B").json()["rows"]] == [
        "town_B_t0002",
        "town_B_t0001",
    ]
    timed = c.get("/api/queue?start=10:50:01&end=10:51").json()["rows"]
    assert [r["tracklet_id"] for r in timed] == ["town_B_t0002", "town_B_t0001"]
    act(c, op="junk", tracklet_id="town_A_t0002")
    assert [r["tracklet_id"] for r in c.get("/api/queue?status=junk").json()["rows"]] == [
        "town_A_t0002"
    ]
    assert c.get("/api/queue").json()["counts"] == {
        "all": 4,
        "unlabelled": 3,
        "partial": 0,
        "labelled": 0,
        "unsure": 0,
        "junk": 1,
        "review": 0,
    }
    assert c.get("/api/queue?start=noon").status_code == 400


def test_queue_pages_through_many_tracklets(tmp_path):
    many = [
        Tracklet(f"big_A_t{i:04d}", "A", T0 + timedelta(seconds=3 * i), location="big")
        for i in range(120)
    ]
    c = client(make_workspace(tmp_path / "ws", many), location="big")
    first, third = c.get("/api/queue").json(), c.get("/api/queue?page=3").json()
    assert first["pages"] == 3 and len(first["rows"]) == 50 and len(third["rows"]) == 20
    assert third["rows"][-1]["tracklet_id"] == "big_A_t0119"
    assert 'rel="next"' in c.get("/queue").text


def test_tracklet_view_ranks_candidates_per_camera(ws):
    c = client(ws)
    shown = c.get("/api/tracklets/town_A_t0001").json()
    # B1 (30 s later) before B2 (overlaps A1 in time: impossible at views that do not overlap)
    assert [x["tracklet_id"] for x in shown["candidates"]["B"]] == ["town_B_t0001", "town_B_t0002"]
    assert [x["number"] for x in shown["candidates"]["B"]] == [1, 2]
    assert len(shown["crops"]) == 4 and shown["parts"][0]["label"] == "unlabelled"
    page = c.get("/tracklets/town_A_t0001")
    assert page.status_code == 200 and 'data-number="1"' in page.text
    assert c.get("/api/tracklets/nope").status_code == 400


def test_every_action_and_its_undo(ws):
    c = client(ws)
    # same as a candidate without an identity: both get a new one
    act(c, op="same", tracklet_id="town_A_t0001", other="town_B_t0001")
    assert labels_of(c, "town_A_t0001") == ["p1"] and labels_of(c, "town_B_t0001") == ["p1"]
    # the identity's other sightings: its part of the graph across cameras
    seen = c.get("/api/tracklets/town_A_t0001").json()["sightings"]
    assert [(x["tracklet_id"], x["camera"]) for x in seen["p1"]] == [("town_B_t0001", "B")]
    assert "is also" in c.get("/tracklets/town_A_t0001").text
    act(c, op="new", tracklet_id="town_B_t0002")
    assert labels_of(c, "town_B_t0002") == ["p2"]
    act(c, op="name", tracklet_id="town_A_t0002", identity="red-coat")
    assert labels_of(c, "town_A_t0002") == ["red-coat"]
    # the candidate has an identity: take it
    act(c, op="same", tracklet_id="town_A_t0002", other="town_B_t0001")
    assert labels_of(c, "town_A_t0002") == ["p1"]
    act(c, op="unsure", tracklet_id="town_A_t0002")
    assert labels_of(c, "town_A_t0002") == ["unsure"]
    act(c, op="clear", tracklet_id="town_A_t0002")
    assert labels_of(c, "town_A_t0002") == ["unlabelled"]
    # split at a crop: the second part starts unlabelled, each part takes its own label
    frames = [x["frame"] for x in c.get("/api/tracklets/town_B_t0002").json()["crops"]]
    act(c, op="split", tracklet_id="town_B_t0002", at_frame=frames[2])
    assert labels_of(c, "town_B_t0002") == ["p2", "unlabelled"]
    act(c, op="junk", tracklet_id="town_B_t0002", first_frame=frames[2])
    parts = c.get("/api/tracklets/town_B_t0002").json()["parts"]
    assert [(p["first_frame"], p["last_frame"], p["label"]) for p in parts] == [
        (frames[0], frames[1], "p2"),
        (frames[2], frames[3], "junk"),
    ]
    # undo, one action at a time, newest first
    for expected in (["p2", "unlabelled"], ["p2"]):
        assert c.post("/api/undo", json={}).json()["undone"]
        assert labels_of(c, "town_B_t0002") == expected
    act(c, op="split", tracklet_id="town_B_t0002", at_frame=frames[1])
    act(c, op="unsplit", tracklet_id="town_B_t0002", at_frame=frames[1])
    assert labels_of(c, "town_B_t0002") == ["p2"]
    # a split must leave a crop on each side; unknown actions are refused
    bad = c.post(
        "/api/actions", json={"op": "split", "tracklet_id": "town_B_t0002", "at_frame": frames[0]}
    )
    assert bad.status_code == 400 and "at least one crop" in bad.json()["error"]
    assert (
        c.post("/api/actions", json={"op": "merge", "tracklet_id": "town_B_t0002"}).status_code
        == 400
    )
    assert (
        c.post(
            "/api/actions", json={"op": "name", "tracklet_id": "town_B_t0002", "identity": "Junk"}
        ).status_code
        == 400
    )


def test_impossible_labels_show_at_once(ws):
    c = client(ws)
    # A1 and B2 overlap in time at two cameras whose views do not overlap
    act(c, op="new", tracklet_id="town_A_t0001")
    act(c, op="same", tracklet_id="town_B_t0002", other="town_A_t0001")
    [found] = problems(c)
    assert "is at B (town_B_t0002) and at A (town_A_t0001) at overlapping times" in found
    assert found in c.get("/api/tracklets/town_A_t0001").json()["problems"]
    assert "1 impossible label(s)" in c.get("/queue").text
    c.post("/api/undo", json={})
    assert problems(c) == []
    # names differing only in case
    act(c, op="name", tracklet_id="town_B_t0001", identity="P1")
    assert any("differ only in case" in p for p in problems(c))
    # committing with a problem is refused, nothing is written
    response = c.post("/api/commit", json={})
    assert response.status_code == 400 and "differ only in case" in response.json()["error"]
    assert list_versions(ws) == []


def test_one_identity_twice_at_one_camera_and_at_two_locations(tmp_path):
    ws = make_workspace(
        tmp_path / "ws",
        [
            Tracklet("l_A_t0001", "A", T0, n=8, location="l"),  # 10:50:00-03.5
            # overlaps it by 0.5 s (a tracker's handover), then by 1.5 s (two tracks at once)
            Tracklet("l_A_t0002", "A", T0 + timedelta(seconds=3), location="l"),
            Tracklet("l_A_t0003", "A", T0 + timedelta(seconds=1), location="l"),
            Tracklet("m_A_t0001", "A", T0, location="m"),
        ],
    )
    import_labels(ws, _csv(tmp_path / "m.csv", "m_A_t0001,walker"))
    c = client(ws, location="l")
    act(c, op="name", tracklet_id="l_A_t0001", identity="p1")
    act(c, op="same", tracklet_id="l_A_t0002", other="l_A_t0001")
    assert problems(c) == []
    act(c, op="same", tracklet_id="l_A_t0003", other="l_A_t0001")
    assert any("is twice at A" in p and "for 1.5 s at once" in p for p in problems(c))
    c.post("/api/undo", json={})
    c.post("/api/undo", json={})
    act(c, op="name", tracklet_id="l_A_t0002", identity="walker")
    assert any("identity 'walker' is at location 'm' and at 'l'" in p for p in problems(c))


def _csv(path: Path, *rows: str) -> Path:
    path.write_text("tracklet_id,identity\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_killed_server_loses_nothing_and_a_torn_line_is_dropped(ws):
    c = client(ws)
    act(c, op="new", tracklet_id="town_A_t0001")
    act(c, op="junk", tracklet_id="town_A_t0002")
    del c  # the server dies: nothing but the draft file remains
    draft = ws / "labels" / "drafts" / "town" / "ana.jsonl"
    with open(draft, "a", encoding="utf-8") as f:  # killed while writing its next action
        f.write('{"op": "set", "records": [{"tracklet_')
    again = Session(ws, "town", "ana")
    assert again.draft.dropped_torn_line
    assert [p["identity"] for p in again.record("town_A_t0001")["parts"]] == ["p1"]
    assert [p["label"] for p in again.tracklet("town_A_t0002")["parts"]] == ["junk"]
    assert draft.read_text(encoding="utf-8").endswith("\n")
    # another annotator has a draft of their own
    other = Session(ws, "town", "ben")
    assert other.status("town_A_t0001") == "unlabelled"


def test_commit_makes_a_version_with_exactly_the_drafts_labels(ws):
    c = client(ws)
    act(c, op="same", tracklet_id="town_A_t0001", other="town_B_t0001")
    act(c, op="junk", tracklet_id="town_A_t0002")
    frames = [x["frame"] for x in c.get("/api/tracklets/town_B_t0002").json()["crops"]]
    act(c, op="split", tracklet_id="town_B_t0002", at_frame=frames[2])
    act(c, op="unsure", tracklet_id="town_B_t0002", first_frame=frames[2])
    done = c.post("/api/commit", json={}).json()
    assert done["version"] == "v0001" and done["created"] and done["identities"] == 1
    labels = list_versions(ws)[0].labels
    by_unit = {
        (t, s, i)
        for t, s, i in zip(
            labels["tracklet_id"], labels["status"], labels["identity"].fillna(""), strict=True
        )
    }
    assert by_unit == {
        ("town_A_t0001", "person", "p1"),
        ("town_B_t0001", "person", "p1"),
        ("town_A_t0002", "junk", ""),
        ("town_B_t0002", "unlabelled", ""),
        ("town_B_t0002", "unsure", ""),
    }
    assert list_versions(ws)[0].meta["created_by"] == "ana"
    # the draft is empty again, the labels now come from the version
    assert c.post("/api/commit", json={}).status_code == 400
    assert labels_of(c, "town_A_t0001") == ["p1"]
    # a second annotator's commit merges into the latest version
    b = client(ws, annotator="ben")
    act(b, op="same", tracklet_id="town_A_t0002", other="town_A_t0001")  # was junk in v0001
    committed = b.post("/api/commit", json={})
    assert committed.status_code == 200, committed.text
    assert committed.json()["version"] == "v0002"
    latest = list_versions(ws)[-1].labels
    assert set(latest.loc[latest["identity"] == "p1", "tracklet_id"]) == {
        "town_A_t0001",
        "town_B_t0001",
        "town_A_t0002",
    }


def test_labels_are_carried_when_the_app_opens_after_a_rerun(ws, tmp_path):
    c = client(ws)
    act(c, op="same", tracklet_id="town_A_t0001", other="town_B_t0001")
    c.post("/api/commit", json={})
    act(c, op="junk", tracklet_id="town_A_t0002")  # left in the draft
    # a rerun: boxes a little wider, tracklets renumbered
    path = ws / "manifests" / "crops" / "town_A.parquet"
    frame = pd.read_parquet(path)
    frame["x2"] += 2.0
    frame["tracklet_id"] = frame["tracklet_id"].str.replace("_t000", "_t010")
    pq.write_table(schemas.from_pandas(schemas.CROPS, frame), path)
    again = client(ws)
    assert labels_of(again, "town_A_t0101") == ["p1"]
    assert labels_of(again, "town_A_t0102") == ["junk"]  # the draft's label, carried too
    version = list_versions(ws)[-1]
    assert version.meta["source"] == "carry" and (version.path / "carry_report.json").is_file()
    report = json.loads((version.path / "carry_report.json").read_text())
    first = int(frame.loc[frame["tracklet_id"] == "town_A_t0101", "frame_index"].min())
    carried = {"to": f"town_A_t0101@{first}", "from": [f"town_A_t0001@{first}"], "label": "p1"}
    assert carried in report["carried"]


def test_guards_token_json_only_and_crops_only(ws):
    c = client(ws, token="s3cret")
    assert c.get("/queue").status_code == 403
    assert c.get("/queue?token=wrong").status_code == 403
    assert c.get("/queue?token=s3cret").status_code == 200
    assert c.get("/queue").status_code == 200  # the cookie the first answer set
    local = client(ws)
    assert (
        local.post("/api/undo", content="{}", headers={"Content-Type": "text/plain"}).status_code
        == 415
    )
    crop = local.get("/api/tracklets/town_A_t0001").json()["crops"][0]["path"]
    assert local.get(f"/crops/{crop}").status_code == 200
    assert local.get("/crops/manifests/crops/town_A.parquet").status_code == 404
    assert local.get("/crops/../../etc/passwd").status_code == 404
    page = local.get("/tracklets/town_A_t0001").text
    assert "http://" not in page and "https://" not in page  # nothing from a CDN


def test_drafts_are_kept_per_location(tmp_path):
    ws = town(tmp_path / "ws")
    c = client(ws)
    act(c, op="junk", tracklet_id="town_A_t0002")
    Session(ws, "city", "ana")  # the same annotator at another location
    assert Session(ws, "town", "ana").status("town_A_t0002") == "junk"


def test_two_annotators_get_distinct_new_identities_and_a_later_commit_is_not_overwritten(ws):
    ana, ben = client(ws, "ana"), client(ws, "ben")
    act(ana, op="new", tracklet_id="town_A_t0002")
    act(ben, op="new", tracklet_id="town_B_t0001")
    assert labels_of(ana, "town_A_t0002") == ["p1"] and labels_of(ben, "town_B_t0001") == ["p2"]
    # both change town_A_t0001; ben commits first
    act(ana, op="name", tracklet_id="town_A_t0001", identity="walker")
    act(ben, op="unsure", tracklet_id="town_A_t0001")
    assert ben.post("/api/commit", json={}).json()["version"] == "v0001"
    refused = ana.post("/api/commit", json={})
    assert refused.status_code == 400
    assert "town_A_t0001 was labelled again in v0001" in refused.json()["error"]
    assert "a keeps yours" in refused.json()["error"]
    act(ana, op="confirm", tracklet_id="town_A_t0001")  # checked: ana's label stands
    assert ana.post("/api/commit", json={}).json()["version"] == "v0002"
    latest = list_versions(ws)[-1].labels.set_index("tracklet_id")
    assert latest.loc["town_A_t0001", "identity"] == "walker"
    assert latest.loc["town_B_t0001", "identity"] == "p2"  # ben's other label stays


def test_an_older_package_cannot_undo_labels_made_since(ws, tmp_path):
    from cyclist_dataset.dataset.labels import export_package

    import_labels(ws, _csv(tmp_path / "a.csv", "town_A_t0001,p1"))
    export_package(ws, "town", tmp_path / "package")  # exported from v0001
    c = client(ws)
    act(c, op="name", tracklet_id="town_A_t0002", identity="p9")
    c.post("/api/commit", json={})  # v0002
    package = (tmp_path / "package" / "labels.csv").read_text(encoding="utf-8")
    # saved by a spreadsheet: the marker line quoted and padded with empty cells
    package = package.replace("# label version: v0001", '"# label version: v0001",,,,,,,,')
    edited = package.replace("crops/town_B_t0001.jpg,", "crops/town_B_t0001.jpg,p1")
    # its row of town_A_t0002 is still empty, as exported: no change, p9 stays
    (tmp_path / "edited.csv").write_text(edited, encoding="utf-8")
    labels = import_labels(ws, tmp_path / "edited.csv").labels.set_index("tracklet_id")
    assert labels["identity"].to_dict() == {
        "town_A_t0001": "p1",
        "town_A_t0002": "p9",
        "town_B_t0001": "p1",
    }
    # a row changed in the file, of a tracklet labelled since the export: refused
    relabelled = edited.replace("crops/town_A_t0002.jpg,", "crops/town_A_t0002.jpg,p5")
    (tmp_path / "relabelled.csv").write_text(relabelled, encoding="utf-8")
    with pytest.raises(Exception, match=r"town_A_t0002 was labelled again in v0002 .* export"):
        import_labels(ws, tmp_path / "relabelled.csv")


def labelled_then_grown(ws: Path, crops: int) -> None:
    """town_B_t0001 labelled p1 and committed; then a rerun finds ``crops`` more of it, before
    its first (the tracklet grows, its id stays)."""
    c = client(ws)
    act(c, op="new", tracklet_id="town_B_t0001")
    c.post("/api/commit", json={})
    path = ws / "manifests" / "crops" / "town_B.parquet"
    frame = pd.read_parquet(path)
    mine = frame[frame["tracklet_id"] == "town_B_t0001"].sort_values("frame_index")
    earlier = mine.iloc[:crops].assign(
        frame_index=mine["frame_index"].iloc[0] - crops + np.arange(crops),
        crop_path=[f"crops/x{i}.jpg" for i in range(crops)],
    )
    pq.write_table(schemas.from_pandas(schemas.CROPS, pd.concat([frame, earlier])), path)


def test_a_grown_tracklet_is_stale_and_its_new_crops_are_split_off(ws):
    from cyclist_dataset.dataset.labels import labels_out_of_date, stale_units

    labelled_then_grown(ws, 2)  # the same person found 2 crops earlier; the id stays
    version = list_versions(ws)[-1]
    from cyclist_dataset.dataset.labels import read_crops

    assert len(stale_units(version.labels, read_crops(ws))) == 1
    assert "labels carry" in labels_out_of_date(ws)
    again = Session(ws, "town", "ana")
    parts = again.record("town_B_t0001")["parts"]
    assert [(p["status"], p["identity"]) for p in parts] == [("unlabelled", None), ("person", "p1")]
    assert again.status("town_B_t0001") == "review"
    # reviewed: the 2 crops are the same person; join them; commit clears the review
    again.act({"op": "unsplit", "tracklet_id": "town_B_t0001", "at_frame": parts[1]["first_frame"]})
    again.commit()
    assert Session(ws, "town", "ana").status("town_B_t0001") == "labelled"


def test_confirming_a_carried_label_is_kept_even_when_nothing_changed(ws):
    labelled_then_grown(ws, 1)
    session = Session(ws, "town", "ana")
    assert session.status("town_B_t0001") == "review"
    session.act({"op": "confirm", "tracklet_id": "town_B_t0001"})
    made = session.commit()
    assert made.created and made.meta["reviewed"] == ["town_B_t0001"]
    assert Session(ws, "town", "ana").status("town_B_t0001") == "partial"


def test_an_import_override_of_overlapping_views_holds_for_later_commits(ws, tmp_path):
    import_labels(
        ws, _csv(tmp_path / "a.csv", "town_A_t0001,p1", "town_B_t0002,p1"), overlapping_views=True
    )
    city = client(ws, location="city")
    assert problems(city) == []
    act(city, op="new", tracklet_id="city_C_t0001")
    assert city.post("/api/commit", json={}).status_code == 200


def test_reserved_words_are_not_names(ws, tmp_path):
    c = client(ws)
    refused = c.post(
        "/api/actions", json={"op": "name", "tracklet_id": "town_A_t0001", "identity": "Unlabelled"}
    )
    assert refused.status_code == 400 and "are not names" in refused.json()["error"]
    with pytest.raises(Exception, match="reserved word"):
        import_labels(ws, _csv(tmp_path / "a.csv", "town_A_t0001,unlabelled"))


def test_bad_requests_are_answered_not_crashed(ws):
    c = client(ws)
    for bad in (
        {"op": "split", "tracklet_id": "town_A_t0001"},
        {"op": "split", "tracklet_id": "town_A_t0001", "at_frame": "x"},
        {"op": "junk", "tracklet_id": "town_A_t0001", "first_frame": [1]},
    ):
        response = c.post("/api/actions", json=bad)
        assert response.status_code == 400 and "frame number" in response.json()["error"]
    guarded = client(ws, token="s3cret")
    assert guarded.get("/queue?token=%C3%A9").status_code == 403
    from cyclist_dataset.web.app import create_app

    local = TestClient(create_app(Session(ws, "town", "ana"), hosts=["127.0.0.1", "localhost"]))
    assert local.get("/queue").status_code == 400  # Host: testserver, not this machine
    assert local.get("/queue", headers={"Host": "127.0.0.1:8000"}).status_code == 200


def test_a_split_tracklet_with_an_unlabelled_part_is_still_to_do(ws):
    c = client(ws)
    act(c, op="new", tracklet_id="town_A_t0001")
    frames = [x["frame"] for x in c.get("/api/tracklets/town_A_t0001").json()["crops"]]
    act(c, op="split", tracklet_id="town_A_t0001", at_frame=frames[2])
    assert [r["tracklet_id"] for r in c.get("/api/queue?status=partial").json()["rows"]] == [
        "town_A_t0001"
    ]
    assert "4 to do of 4" in c.get("/queue").text


def test_a_conflict_is_not_forgotten_when_the_annotator_acts_on_the_tracklet_again(ws):
    ana, ben = client(ws, "ana"), client(ws, "ben")
    act(ana, op="name", tracklet_id="town_A_t0001", identity="walker")
    act(ben, op="unsure", tracklet_id="town_A_t0001")
    ben.post("/api/commit", json={})
    # ana sees what ben committed, and acting again does not make it hers
    shown = ana.get("/api/tracklets/town_A_t0001").json()["committed_since"]
    assert shown == {"version": "v0001", "labels": ["unsure"]}
    frames = [x["frame"] for x in ana.get("/api/tracklets/town_A_t0001").json()["crops"]]
    act(ana, op="split", tracklet_id="town_A_t0001", at_frame=frames[2])
    assert ana.post("/api/commit", json={}).status_code == 400
    assert "committed other labels" in ana.get("/tracklets/town_A_t0001").text


def test_new_identities_are_unique_over_locations(ws):
    town_, city = client(ws, "ana"), client(ws, "bob", location="city")
    act(town_, op="new", tracklet_id="town_A_t0001")
    act(city, op="new", tracklet_id="city_C_t0001")
    assert labels_of(town_, "town_A_t0001") == ["p1"] and labels_of(city, "city_C_t0001") == ["p2"]


def test_a_cleared_label_in_a_draft_is_carried_over_a_rerun(ws, tmp_path):
    import_labels(ws, _csv(tmp_path / "a.csv", "town_A_t0001,p1"))
    c = client(ws)
    act(c, op="clear", tracklet_id="town_A_t0001")  # in the draft only
    path = ws / "manifests" / "crops" / "town_A.parquet"
    frame = pd.read_parquet(path)
    frame["tracklet_id"] = frame["tracklet_id"].str.replace("_t000", "_t030")
    pq.write_table(schemas.from_pandas(schemas.CROPS, frame), path)
    again = Session(ws, "town", "ana")
    assert again.status("town_A_t0301") == "unlabelled"  # the clearing holds, p1 does not return
    assert (
        list_versions(ws)[-1].labels.set_index("tracklet_id").at["town_A_t0301", "identity"] == "p1"
    )


def test_a_frame_number_must_be_plain_digits(ws):
    c = client(ws)
    response = c.post(
        "/api/actions", json={"op": "split", "tracklet_id": "town_A_t0001", "at_frame": "²"}
    )
    assert response.status_code == 400 and "frame number" in response.json()["error"]
