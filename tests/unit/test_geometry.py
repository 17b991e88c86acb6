"""Box geometry and the Detections type on synthetic boxes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.geometry import clip_box, coverage, iou, iou_matrix, pad_box, union_box


def random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 100, (n, 2))
    return np.hstack([xy, xy + rng.uniform(1, 50, (n, 2))])


def test_pairwise_and_matrix_iou_agree():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 7), random_boxes(rng, 9)
    matrix = iou_matrix(a, b)
    assert matrix.shape == (7, 9) and 0 < matrix.max() <= 1
    for i in range(7):
        for j in range(9):
            assert iou(a[i].tolist(), b[j].tolist()) == pytest.approx(matrix[i, j], abs=1e-12)
    np.testing.assert_allclose(np.diag(iou_matrix(a, a)), 1.0)


def test_iou_and_coverage_of_known_boxes():
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [10, 0, 20, 10]) == 0.0  # touching edges share no area
    # A rider's box covering half of a bicycle's box: coverage is asymmetric, IOU is not.
    rider, bicycle = np.array([[0, 0, 10, 20]]), np.array([[5, 10, 15, 20]])
    assert coverage(rider, bicycle)[0, 0] == pytest.approx(0.5)
    assert coverage(bicycle, rider)[0, 0] == pytest.approx(0.25)


def test_box_operations():
    assert clip_box(np.array([-3.2, 4.7, 50.1, 99.9]), 40, 90) == (0, 4, 40, 90)
    np.testing.assert_allclose(
        union_box(np.array([0, 5, 10, 10.0]), np.array([2, 0, 12, 8.0])), [0, 0, 12, 10]
    )
    np.testing.assert_allclose(pad_box(np.array([10, 10, 20, 30.0]), 0.1), [9, 8, 21, 32])


def test_detections_slice_with_their_data_and_round_trip_through_a_table():
    found = Detections(
        np.array([[0, 0, 10, 20], [5, 5, 9, 9], [1, 1, 2, 2.0]]),
        np.array([0.9, 0.3, 0.6]),
        np.array(["person", "bicycle", "person"], dtype=object),
        {"frame_index": np.array([4, 4, 5])},
    )
    persons = found[found.class_name == "person"]
    assert len(persons) == 2 and persons.data["frame_index"].tolist() == [4, 5]
    np.testing.assert_allclose(persons.bottom_center, [[5, 20], [1.5, 2]])
    back = Detections.from_table(pa.table(found.columns()), data=["frame_index"])
    np.testing.assert_array_equal(back.xyxy, found.xyxy)
    assert back.class_name.tolist() == found.class_name.tolist() and back.data[
        "frame_index"
    ].tolist() == [4, 4, 5]
    assert len(Detections.empty()) == 0


def test_detections_refuse_arrays_of_another_length():
    with pytest.raises(ValueError, match="score has 1 entries for 2 boxes"):
        Detections(np.zeros((2, 4)), np.zeros(1), np.array(["a", "b"], dtype=object))
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        Detections(np.zeros((2, 3)), np.zeros(2), np.array(["a", "b"], dtype=object))
