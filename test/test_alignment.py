# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""X-to-RGB alignment on generated camera rigs with known geometry.

Scenes are ray-cast independently of the code under test: rays come from OpenCV's own undistortion, ground
truth is the X image rendered directly in the RGB camera, and edges are compared both as edge maps (1 pixel
tolerance) and as sub-pixel level crossings.
"""

from __future__ import annotations

import types

import cv2
import numpy as np
import pytest

from rxssnet_core.alignment import AlignmentConfig, XAligner
from rxssnet_core.camera_geometry import AlignmentError, CameraModel, fit_homography, homography_from_cameras

# ---------------------------------------------------------------------------------------------------------------
# Rig and renderer

RGB_CAMERA = CameraModel(K=[[260.0, 0, 159.5], [0, 262.0, 119.2], [0, 0, 1]],
                         D=[-0.05, 0.01, 0.001, -0.0005, 0.0], distortion_model="plumb_bob", width=320, height=240)
X_DISTORTIONS = {
    "plumb_bob": [-0.25, 0.06, 0.001, 0.002, 0.0],
    "rational_polynomial": [0.1, -0.05, 0.001, -0.002, 0.01, 0.2, -0.03, 0.01],
    "equidistant": [0.05, -0.01, 0.002, 0.001],
}
# A thermal-like X camera: lower resolution, narrower field of view, its own lens.
X_K = [[150.0, 0, 80.3], [0, 151.0, 63.7], [0, 0, 1]]
ROTATION = cv2.Rodrigues(np.array([0.02, -0.03, 0.01]))[0]
TRANSLATION = np.array([0.08, -0.02, 0.01])
PLANE_M = 4.0
LEVEL = 130.0  # halfway between the two checker values


def x_camera(model: str) -> CameraModel:
    return CameraModel(K=X_K, D=X_DISTORTIONS[model], distortion_model=model, width=160, height=128)


def opencv_rays(camera: CameraModel, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised rays of raw pixels, by OpenCV's undistortion (independent of rxssnet_core's)."""
    points = np.stack([u.ravel(), v.ravel()], -1).reshape(-1, 1, 2).astype(np.float64)
    criteria = (cv2.TERM_CRITERIA_COUNT, 20, 0)
    if camera.distortion_model == "equidistant":
        out = cv2.fisheye.undistortPoints(points, camera.K, camera.D, criteria=criteria)
    elif camera.distortion_model == "none":
        out = cv2.undistortPoints(points, camera.K, None)
    elif hasattr(cv2, "undistortPointsIter"):
        out = cv2.undistortPointsIter(points, camera.K, camera.D, None, None, criteria)
    else:
        out = cv2.undistortPoints(points, camera.K, camera.D, criteria=criteria)
    out = out.reshape(-1, 2)
    return out[:, 0].reshape(u.shape), out[:, 1].reshape(u.shape)


def opencv_project(camera: CameraModel, points: np.ndarray) -> np.ndarray:
    points = points.reshape(-1, 1, 3).astype(np.float64)
    if camera.distortion_model == "equidistant":
        out, _ = cv2.fisheye.projectPoints(points, np.zeros((1, 1, 3)), np.zeros((1, 1, 3)), camera.K, camera.D)
    else:
        out, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), camera.K, camera.D)
    return out.reshape(-1, 2)


def supersampled_grid(camera: CameraModel, samples: int) -> tuple[np.ndarray, np.ndarray]:
    offsets = (np.arange(samples) + 0.5) / samples - 0.5
    u = (np.arange(camera.width)[:, None] + offsets[None]).ravel()
    v = (np.arange(camera.height)[:, None] + offsets[None]).ravel()
    return np.meshgrid(u, v)


def checker(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A rotated checkerboard on the plane (metres in the X frame): edges of every orientation."""
    angle, square = 0.35, 0.35
    a = x * np.cos(angle) + y * np.sin(angle)
    b = -x * np.sin(angle) + y * np.cos(angle)
    return np.where((np.floor(a / square) + np.floor(b / square)) % 2 == 0, 220.0, 40.0)


def plane_points_seen_by(camera: CameraModel, u: np.ndarray, v: np.ndarray, rotation: np.ndarray,
                         translation: np.ndarray) -> np.ndarray:
    """X-frame points of the plane z_x = PLANE_M hit by the rays of a camera at p_cam = R p_x + t."""
    xn, yn = opencv_rays(camera, u, v)
    rays = np.stack([xn, yn, np.ones_like(xn)], -1)
    normal = rotation[:, 2]
    scale = (PLANE_M + normal @ translation) / (rays @ normal)
    return (scale[..., None] * rays - translation) @ rotation  # R^T (p_cam - t)


def render_plane(camera: CameraModel, rotation: np.ndarray, translation: np.ndarray, samples: int = 4
                 ) -> np.ndarray:
    """The checker plane as seen by a camera, area-sampled like a real sensor."""
    u, v = supersampled_grid(camera, samples)
    points = plane_points_seen_by(camera, u, v, rotation, translation)
    values = checker(points[..., 0], points[..., 1])
    return values.reshape(camera.height, samples, camera.width, samples).mean(axis=(1, 3))


def plane_roi(x_cam: CameraModel, margin: float = 2.0) -> np.ndarray:
    """RGB pixels whose scene point the X camera sees (with a margin)."""
    u, v = np.meshgrid(np.arange(RGB_CAMERA.width, dtype=float), np.arange(RGB_CAMERA.height, dtype=float))
    points = plane_points_seen_by(RGB_CAMERA, u, v, ROTATION, TRANSLATION)
    uv = opencv_project(x_cam, points).reshape(*u.shape, 2)
    return ((uv[..., 0] >= margin) & (uv[..., 0] <= x_cam.width - 1 - margin)
            & (uv[..., 1] >= margin) & (uv[..., 1] <= x_cam.height - 1 - margin))


# ---------------------------------------------------------------------------------------------------------------
# Edge measures


def edge_map(image: np.ndarray, level: float) -> np.ndarray:
    above = image >= level
    edges = np.zeros_like(above)
    edges[:, :-1] |= above[:, :-1] != above[:, 1:]
    edges[:-1, :] |= above[:-1, :] != above[1:, :]
    return edges


def edge_distances(edges: np.ndarray, reference: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """For each edge pixel in roi, the distance (pixels) to the nearest reference edge pixel."""
    distance = cv2.distanceTransform((~reference).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return distance[edges & roi]


def subpixel_edge_offsets(image: np.ndarray, truth: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """Distance between matching sub-pixel level crossings of image and truth, along rows and columns.

    Only crossings across edges that run mostly perpendicular to the scan direction are used, where a
    crossing's position is well defined.
    """
    offsets = []
    grad_u = cv2.Sobel(truth, cv2.CV_64F, 1, 0, ksize=3)
    grad_v = cv2.Sobel(truth, cv2.CV_64F, 0, 1, ksize=3)
    for img, ref, mask, along, across in ((image, truth, roi, grad_u, grad_v),
                                          (image.T, truth.T, roi.T, grad_v.T, grad_u.T)):
        crossings = []
        for array in (img, ref):
            left, right = array[:, :-1], array[:, 1:]
            rows, cols = np.nonzero((left < LEVEL) != (right < LEVEL))
            position = cols + (LEVEL - left[rows, cols]) / (right[rows, cols] - left[rows, cols])
            crossings.append((rows, cols, position, right[rows, cols] > left[rows, cols]))
        rows_i, _, pos_i, rising_i = crossings[0]
        for row, col, pos, rising in zip(*crossings[1]):
            if not (mask[row, col] and mask[row, col + 1]) or abs(along[row, col]) < 2 * abs(across[row, col]):
                continue
            candidates = pos_i[(rows_i == row) & (rising_i == rising)]
            offsets.append(np.abs(candidates - pos).min() if candidates.size else np.inf)
    return np.asarray(offsets)


def edge_agreement(aligned: np.ndarray, truth: np.ndarray, roi: np.ndarray) -> dict[str, float]:
    aligned_edges, true_edges = edge_map(aligned, LEVEL), edge_map(truth, LEVEL)
    forward = edge_distances(aligned_edges, true_edges, roi)
    backward = edge_distances(true_edges, aligned_edges, roi)
    offsets = subpixel_edge_offsets(aligned, truth, roi)
    return {
        "edge_pixels": float(forward.size),
        "within_1px": float(min((forward <= 1.0).mean(), (backward <= 1.0).mean())),
        "max_px": float(max(forward.max(), backward.max())),
        "subpixel_median": float(np.median(offsets)),
        "subpixel_p95": float(np.percentile(offsets, 95)),
        "crossings": float(offsets.size),
    }


@pytest.fixture(scope="module")
def plane_scenes() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per X lens model: (X image, X rendered directly in the RGB camera, comparison roi)."""
    truth = render_plane(RGB_CAMERA, ROTATION, TRANSLATION).astype(np.float32)
    scenes = {}
    for model in X_DISTORTIONS:
        cam = x_camera(model)
        image = render_plane(cam, np.eye(3), np.zeros(3)).astype(np.float32)
        scenes[model] = (image, truth, plane_roi(cam))
    return scenes


# ---------------------------------------------------------------------------------------------------------------
# Lens models


@pytest.mark.parametrize("model", sorted(X_DISTORTIONS))
def test_lens_models_match_opencv(model: str) -> None:
    cam = x_camera(model)
    rng = np.random.default_rng(0)
    points = rng.uniform(-0.5, 0.5, size=(500, 2))
    u, v = cam.project(points[:, 0], points[:, 1])
    expected = opencv_project(cam, np.c_[points, np.ones(len(points))])
    np.testing.assert_allclose(np.c_[u, v], expected, atol=1e-9)
    x, y = cam.normalize(u, v)
    np.testing.assert_allclose(np.c_[x, y], points, atol=1e-9)


def test_distortion_beyond_the_lens_model_is_invalid_not_folded() -> None:
    # Strong barrel distortion turns back at r ~ 1.2: farther points must not fold into the image.
    cam = CameraModel(K=X_K, D=[-0.45, 0.05, 0, 0, 0], distortion_model="plumb_bob", width=160, height=128)
    u, _ = cam.project(np.array([0.5, 3.0]), np.array([0.0, 0.0]))
    assert np.isfinite(u[0]) and np.isnan(u[1])


# ---------------------------------------------------------------------------------------------------------------
# Homography mode


@pytest.mark.parametrize("model", sorted(X_DISTORTIONS))
def test_homography_from_cameras_registers_a_plane_within_a_pixel(plane_scenes, model: str) -> None:
    image, truth, roi = plane_scenes[model]
    aligner = XAligner(AlignmentConfig(mode="homography", extrinsic_rotation=ROTATION,
                                       extrinsic_translation=TRANSLATION, plane_distance_m=PLANE_M))
    assert aligner.needs_camera_info
    aligned = aligner.align(image, (240, 320), RGB_CAMERA, x_camera(model))
    assert aligned.shape == (240, 320) and aligned.dtype == np.float32
    stats = edge_agreement(aligned, truth, roi)
    assert stats["edge_pixels"] > 3000 and stats["crossings"] > 3000, stats
    assert stats["within_1px"] == 1.0 and stats["max_px"] <= 1.0, stats
    assert stats["subpixel_median"] < 0.2 and stats["subpixel_p95"] < 0.5, stats


def test_homography_edge_measure_detects_a_one_pixel_misregistration(plane_scenes) -> None:
    # 2 cm of extrinsic error at 4 m moves the image by 260 * 0.02 / 4 = 1.3 px: the measures must see it.
    image, truth, roi = plane_scenes["plumb_bob"]
    config = AlignmentConfig(mode="homography", extrinsic_rotation=ROTATION,
                             extrinsic_translation=TRANSLATION + np.array([0.02, 0, 0]), plane_distance_m=PLANE_M)
    aligner = XAligner(config)
    stats = edge_agreement(aligner.align(image, (240, 320), RGB_CAMERA, x_camera("plumb_bob")), truth, roi)
    assert stats["within_1px"] < 0.95 and stats["subpixel_median"] > 0.8, stats


def test_homography_from_point_pairs_on_undistorted_cameras() -> None:
    """The calibrate workflow: four clicked pairs -> x_homography -> aligned X, no camera_info needed."""
    rgb = CameraModel(K=RGB_CAMERA.K, width=320, height=240)
    cam = CameraModel(K=X_K, width=160, height=128)
    corners = np.array([[-1.2, -0.9, PLANE_M], [1.3, -1.0, PLANE_M], [1.1, 0.8, PLANE_M], [-1.0, 1.0, PLANE_M]])
    x_points = opencv_project(cam, corners)
    rgb_points = opencv_project(rgb, corners @ ROTATION.T + TRANSLATION)
    H, errors, inliers = fit_homography(x_points, rgb_points)
    assert errors.max() < 1e-3 and inliers.all()
    from_geometry = homography_from_cameras(rgb, cam, ROTATION, TRANSLATION, PLANE_M)
    np.testing.assert_allclose(H, from_geometry / from_geometry[2, 2], rtol=1e-4, atol=1e-7)
    image = render_plane(cam, np.eye(3), np.zeros(3)).astype(np.float32)
    truth = _render_in(rgb)
    aligner = XAligner(AlignmentConfig(mode="homography", homography=H.ravel().tolist()))
    assert not aligner.needs_camera_info
    aligned = aligner.align(image, (240, 320))
    roi = np.zeros((240, 320), dtype=bool)
    mapped = cv2.perspectiveTransform(np.array([[[3, 3], [156, 3], [156, 124], [3, 124]]], dtype=np.float64), H)
    cv2.fillConvexPoly(roi.view(np.uint8), mapped.reshape(-1, 2).round().astype(np.int32), 1)
    roi = cv2.erode(roi.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    stats = edge_agreement(aligned, truth, roi)
    assert stats["within_1px"] == 1.0 and stats["subpixel_median"] < 0.2, stats


def _render_in(camera: CameraModel) -> np.ndarray:
    return render_plane(camera, ROTATION, TRANSLATION).astype(np.float32)


def test_homography_maps_are_cached_and_rebuilt_when_the_extrinsic_changes(plane_scenes) -> None:
    image = plane_scenes["plumb_bob"][0]
    aligner = XAligner(AlignmentConfig(mode="homography", plane_distance_m=PLANE_M))
    with pytest.raises(AlignmentError, match="x_extrinsic_rotation"):
        aligner.align(image, (240, 320), RGB_CAMERA, x_camera("plumb_bob"))
    aligner.set_extrinsic(ROTATION, TRANSLATION)  # as x_extrinsic_source: tf does
    first = aligner.align(image, (240, 320), RGB_CAMERA, x_camera("plumb_bob"))
    plan = aligner._plan
    again = aligner.align(image, (240, 320), RGB_CAMERA, x_camera("plumb_bob"))
    assert aligner._plan is plan and np.array_equal(first, again)
    aligner.set_extrinsic(ROTATION, TRANSLATION + np.array([0.05, 0, 0]))
    moved = aligner.align(image, (240, 320), RGB_CAMERA, x_camera("plumb_bob"))
    assert aligner._plan is not plan and not np.array_equal(first, moved)


def test_homography_nearest_for_depth_never_invents_values(depth_scene) -> None:
    depth = depth_scene[0]
    aligner = XAligner(AlignmentConfig(mode="homography", modality="depth", plane_distance_m=3.0,
                                       extrinsic_rotation=DEPTH_ROTATION, extrinsic_translation=DEPTH_TRANSLATION))
    aligned = aligner.align(depth, (240, 320), RGB_CAMERA, DEPTH_CAMERA)
    assert np.isin(aligned, np.append(depth.ravel(), 0.0)).all()
    assert (aligned > 0).mean() > 0.7


def test_homography_keeps_dtype_and_channels() -> None:
    H = np.array([[2.0, 0, 3], [0, 2.0, 1], [0, 0, 1]])
    aligner = XAligner(AlignmentConfig(mode="homography", homography=H))
    thermal16 = np.arange(20 * 30, dtype=np.uint16).reshape(20, 30) * 50
    out = aligner.align(thermal16, (40, 60))
    assert out.dtype == np.uint16 and out.shape == (40, 60)
    # RGB pixel (u, v) shows X pixel ((u - 3) / 2, (v - 1) / 2): (9, 5) <- (3, 2) exactly.
    assert out[5, 9] == thermal16[2, 3]
    polar = np.random.default_rng(0).random((20, 30, 5)).astype(np.float32)
    out = aligner.align(polar, (40, 60))
    assert out.shape == (40, 60, 5)
    np.testing.assert_allclose(out[5, 9], polar[2, 3], atol=1e-6)
    assert out[0, 0].tolist() == [0.0] * 5  # outside the X field of view


# ---------------------------------------------------------------------------------------------------------------
# Depth mode

DEPTH_CAMERA = CameraModel(K=[[300.0, 0, 160.2], [0, 301.0, 119.6], [0, 0, 1]],
                           D=[-0.1, 0.02, 0.0005, -0.001, 0.0], distortion_model="plumb_bob", width=320, height=240)
DEPTH_ROTATION = cv2.Rodrigues(np.array([0.01, -0.02, 0.005]))[0]
DEPTH_TRANSLATION = np.array([0.05, 0.004, -0.002])
BACKGROUND_NORMAL = np.array([0.1, -0.15, 1.0]) / np.linalg.norm([0.1, -0.15, 1.0])
BACKGROUND_M, FOREGROUND_M, FOREGROUND_BOX = 3.0, 1.2, (-0.35, 0.15, -0.2, 0.25)


def two_depth_scene(camera: CameraModel, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """z in the viewing camera of a tilted wall at ~3 m and a box face at 1.2 m (defined in the depth frame);
    the viewing camera sits at p_view = R p_depth + t."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=float), np.arange(camera.height, dtype=float))
    xn, yn = opencv_rays(camera, u, v)
    rays = np.stack([xn, yn, np.ones_like(xn)], -1)
    wall_normal = rotation @ BACKGROUND_NORMAL
    wall = (BACKGROUND_M + wall_normal @ translation) / (rays @ wall_normal)
    box_normal = rotation[:, 2]
    box = (FOREGROUND_M + box_normal @ translation) / (rays @ box_normal)
    on_box = (box[..., None] * rays - translation) @ rotation
    x0, x1, y0, y1 = FOREGROUND_BOX
    inside = (on_box[..., 0] >= x0) & (on_box[..., 0] <= x1) & (on_box[..., 1] >= y0) & (on_box[..., 1] <= y1)
    return np.where(inside & (box < wall), box, wall)


@pytest.fixture(scope="module")
def depth_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(depth image in the depth camera, depth rendered in the RGB camera, pixels the depth camera sees)."""
    depth = two_depth_scene(DEPTH_CAMERA, np.eye(3), np.zeros(3)).astype(np.float32)
    truth = two_depth_scene(RGB_CAMERA, DEPTH_ROTATION, DEPTH_TRANSLATION)
    u, v = np.meshgrid(np.arange(320, dtype=float), np.arange(240, dtype=float))
    xn, yn = opencv_rays(RGB_CAMERA, u, v)
    in_depth_frame = (np.stack([xn * truth, yn * truth, truth], -1) - DEPTH_TRANSLATION) @ DEPTH_ROTATION
    uv = opencv_project(DEPTH_CAMERA, in_depth_frame).reshape(240, 320, 2)
    inside = (uv[..., 0] >= 1) & (uv[..., 0] <= 318) & (uv[..., 1] >= 1) & (uv[..., 1] <= 238)
    column = np.clip(np.rint(uv[..., 0]).astype(int), 0, 319)
    row = np.clip(np.rint(uv[..., 1]).astype(int), 0, 239)
    not_occluded = np.abs(depth[row, column] - in_depth_frame[..., 2]) < 0.05
    return depth, truth, inside & not_occluded


def test_depth_mode_registers_two_depths_with_z_buffer(depth_scene) -> None:
    depth, truth, visible = depth_scene
    aligner = XAligner(AlignmentConfig(mode="depth", modality="depth", extrinsic_rotation=DEPTH_ROTATION,
                                       extrinsic_translation=DEPTH_TRANSLATION))
    assert aligner.needs_camera_info
    aligned = aligner.align(depth, (240, 320), RGB_CAMERA, DEPTH_CAMERA)
    assert aligned.dtype == np.float32 and aligned.shape == (240, 320)
    valid = aligned > 0
    # Every RGB pixel whose surface the depth camera sees gets a depth; occluded ones stay 0.
    assert valid[visible].all()
    hidden = ~visible & (truth > 2.5)
    hidden[:, :40] = hidden[:, -40:] = False
    assert hidden.sum() > 100 and (~valid[hidden]).mean() > 0.9
    # Foreground edges (the 1.2 m box over the 3 m wall) land within one pixel, in both directions.
    roi = cv2.erode(visible.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    found = edge_map((valid & (aligned < 2.0)).astype(np.float32), 0.5)
    expected = edge_map((truth < 2.0).astype(np.float32), 0.5)
    forward = edge_distances(found, expected, roi)
    backward = edge_distances(expected, found, roi)
    assert forward.size > 200 and forward.max() <= 1.0 and backward.max() <= 1.0
    # Away from edges the value is the scene depth seen from the RGB camera (not from the depth camera).
    near_edge = cv2.dilate(expected.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    interior = valid & ~near_edge
    relative = np.abs(aligned[interior] - truth[interior]) / truth[interior]
    assert relative.max() < 2e-3


def test_depth_mode_uint16_millimetres_and_invalid_pixels(depth_scene) -> None:
    depth = depth_scene[0]
    config = AlignmentConfig(mode="depth", extrinsic_rotation=DEPTH_ROTATION,
                             extrinsic_translation=DEPTH_TRANSLATION, depth_scale_m=0.001)
    millimetres = np.rint(depth * 1000).astype(np.uint16)
    millimetres[100:110, 100:110] = 0  # sensor dropouts
    aligned = XAligner(config).align(millimetres, (240, 320), RGB_CAMERA, DEPTH_CAMERA)
    assert aligned.dtype == np.uint16
    metres = XAligner(config).align(depth, (240, 320), RGB_CAMERA, DEPTH_CAMERA)
    both = (aligned > 0) & (metres > 0)
    assert np.abs(aligned[both] / 1000.0 - metres[both]).max() <= 0.0021  # 1 mm input rounding + 1 mm output
    assert (aligned == 0).sum() > (metres == 0).sum()  # dropouts stay holes, they are not filled
    noisy = depth.copy()
    noisy[0, :50] = np.nan
    noisy[1, :50] = np.inf
    noisy[2, :50] = -1.0
    out = XAligner(config).align(noisy, (240, 320), RGB_CAMERA, DEPTH_CAMERA)
    assert np.isfinite(out).all() and (out >= 0).all()


def test_depth_z_buffer_keeps_the_nearest_surface() -> None:
    # A depth camera with twice the RGB focal length on the same axis: each RGB pixel receives a 2x2 block.
    rgb = CameraModel(K=[[10.0, 0, 1.5], [0, 10.0, 1.5], [0, 0, 1]], width=4, height=4)
    depth_cam = CameraModel(K=[[20.0, 0, 3.5], [0, 20.0, 3.5], [0, 0, 1]], width=8, height=8)
    rng = np.random.default_rng(3)
    depth = rng.uniform(1.0, 5.0, size=(8, 8)).astype(np.float32)
    depth[rng.random((8, 8)) < 0.3] = 0.0
    depth[0:2, 6:8] = 0.0  # a block with no measurement at all
    aligner = XAligner(AlignmentConfig(mode="depth", extrinsic_translation=[0, 0, 0]))
    aligned = aligner.align(depth, (4, 4), rgb, depth_cam)
    blocks = np.where(depth > 0, depth, np.inf).reshape(4, 2, 4, 2).min(axis=(1, 3))
    expected = np.where(np.isinf(blocks), 0.0, blocks)
    np.testing.assert_array_equal(aligned, expected.astype(np.float32))
    assert aligned[0, 3] == 0.0


# ---------------------------------------------------------------------------------------------------------------
# none and resize


def test_none_mode_passes_matching_x_and_names_both_sizes_otherwise() -> None:
    aligner = XAligner(AlignmentConfig(mode="none"))
    x = np.zeros((48, 64), dtype=np.uint8)
    assert aligner.align(x, (48, 64)) is x
    assert not aligner.needs_camera_info
    with pytest.raises(AlignmentError) as error:
        aligner.align(np.zeros((32, 40), np.uint8), (48, 64, 3))
    message = str(error.value)
    assert "40x32" in message and "64x48" in message and "resize" in message and "homography" in message


def test_resize_mode_never_invents_depth_values_and_interpolates_thermal() -> None:
    rng = np.random.default_rng(1)
    depth = np.where(rng.random((24, 32)) < 0.5, 1200, 3400).astype(np.uint16)
    depth[:4] = 0
    out = XAligner(AlignmentConfig(mode="resize", modality="depth")).align(depth, (48, 64))
    assert out.shape == (48, 64) and out.dtype == np.uint16
    assert set(np.unique(out)) <= {0, 1200, 3400}
    # Nearest with pixel-centre alignment: a 2x upscale repeats each value as a 2x2 block.
    np.testing.assert_array_equal(out, np.repeat(np.repeat(depth, 2, axis=0), 2, axis=1))
    thermal = np.tile(np.linspace(0, 255, 32, dtype=np.float32), (24, 1))
    smooth = XAligner(AlignmentConfig(mode="resize", modality="thermal")).align(thermal, (48, 64))
    assert len(np.unique(smooth)) > 40  # linear interpolation creates intermediate values
    forced = XAligner(AlignmentConfig(mode="resize", modality="thermal", interpolation="nearest"))
    assert len(np.unique(forced.align(thermal, (48, 64)))) == 32
    three = XAligner(AlignmentConfig(mode="resize")).align(np.zeros((24, 32, 1), np.uint8), (48, 64))
    assert three.shape == (48, 64, 1)


# ---------------------------------------------------------------------------------------------------------------
# Bad calibration input: the message names the parameter


def camera_info(**overrides) -> types.SimpleNamespace:
    """A CameraInfo-like message (rosbags and rclpy messages expose the same fields)."""
    fields = {"k": [150.0, 0, 80.0, 0, 150.0, 64.0, 0, 0, 1], "d": [0.0] * 5, "distortion_model": "plumb_bob",
              "width": 160, "height": 128}
    fields.update(overrides)
    return types.SimpleNamespace(**fields)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"k": [0.0, 0, 80, 0, 150, 64, 0, 0, 1]}, "x camera_info has zero focal length (k[0]=0)"),
    ({"k": [150.0, 0, 80, 0, 0, 64, 0, 0, 1]}, "x camera_info has zero focal length (k[4]=0)"),
    ({"k": [150.0, 0, 80, 0, float("nan"), 64, 0, 0, 1]}, "x camera_info k contains NaN"),
    ({"k": [150.0, 0, 80, 0, 150]}, "x camera_info k must have 9 numbers"),
    ({"distortion_model": "foo"},
     "x camera_info distortion_model 'foo' is not supported; use plumb_bob, rational_polynomial or equidistant"),
    ({"d": [0.1, 0.0, 0.0]}, "mismatched distortion model: plumb_bob needs 5 coefficients, got 3"),
    ({"distortion_model": "equidistant", "d": [0.1] * 5},
     "mismatched distortion model: equidistant needs 4 coefficients, got 5"),
    ({"d": [0.1, float("nan"), 0, 0, 0]}, "x camera_info d contains NaN"),
    ({"width": 320}, "x camera_info is for 320x128 images but the X image is 160x128"),
])
def test_bad_x_camera_info_names_the_parameter(overrides, expected) -> None:
    aligner = XAligner(AlignmentConfig(mode="homography", extrinsic_translation=[0.1, 0, 0], plane_distance_m=3))
    with pytest.raises(AlignmentError) as error:
        aligner.align(np.zeros((128, 160), np.uint8), (240, 320), RGB_CAMERA, camera_info(**overrides))
    assert expected in str(error.value)


def test_camera_info_from_a_real_sensor_msgs_message() -> None:
    msg_module = pytest.importorskip("sensor_msgs.msg")
    msg = msg_module.CameraInfo(width=160, height=128, distortion_model="plumb_bob")
    msg.k = [150.0, 0.0, 80.0, 0.0, 151.0, 64.0, 0.0, 0.0, 1.0]
    msg.d = [0.1, -0.01, 0.0, 0.0, 0.0]
    camera = CameraModel.from_camera_info(msg, name="x camera_info")
    assert camera.K[1, 1] == 151.0 and camera.D.tolist() == [0.1, -0.01, 0.0, 0.0, 0.0]
    assert camera.has_distortion and (camera.width, camera.height) == (160, 128)
    # An uncalibrated driver publishes an all-zero k: named, with the fix.
    with pytest.raises(AlignmentError, match=r"x camera_info has zero focal length \(k\[0\]=0\).*calibrat"):
        CameraModel.from_camera_info(msg_module.CameraInfo(width=160, height=128), name="x camera_info")


@pytest.mark.parametrize(("config", "expected"), [
    ({"mode": "homography", "homography": [[1, 2, 3], [2, 4, 6], [0, 0, 1]]}, "x_homography is not invertible (det=0"),
    ({"mode": "homography", "homography": np.zeros((3, 3))}, "x_homography is not invertible"),
    ({"mode": "homography", "homography": [[1, 0, float("nan")], [0, 1, 0], [0, 0, 1]]},
     "x_homography contains NaN"),
    ({"mode": "homography", "homography": [[1, 0], [0, 1]]}, "x_homography must have shape (3, 3)"),
    ({"mode": "homography", "homography": "identity"}, "x_homography must be numbers"),
    ({"mode": "depth", "extrinsic_rotation": np.eye(3) * 2}, "x_extrinsic_rotation is not a rotation matrix"),
    ({"mode": "depth", "extrinsic_rotation": [[1, 0, 0], [0, 1, 0], [0, 0, float("inf")]]},
     "x_extrinsic_rotation contains NaN or inf"),
    ({"mode": "depth", "extrinsic_translation": [0.1, 0.0]}, "x_extrinsic_translation must have shape (3,)"),
    ({"mode": "homography", "plane_distance_m": -2.0}, "alignment_plane_m=-2.0 must be > 0"),
    ({"mode": "homography", "plane_distance_m": float("nan")}, "alignment_plane_m=nan must be > 0"),
    ({"mode": "register"}, "x_alignment='register' is unknown"),
    ({"mode": "resize", "interpolation": "bicubic"}, "x_interpolation='bicubic' is unknown"),
    ({"mode": "depth", "depth_scale_m": 0}, "depth_scale_m=0 must be > 0"),
])
def test_bad_alignment_config_names_the_parameter(config, expected) -> None:
    with pytest.raises(AlignmentError) as error:
        AlignmentConfig(**config)
    assert expected in str(error.value)


def test_missing_calibration_is_named_at_align_time() -> None:
    thermal = np.zeros((128, 160), np.uint8)
    needs_cameras = XAligner(AlignmentConfig(mode="homography", plane_distance_m=4.0,
                                             extrinsic_translation=[0.1, 0, 0]))
    with pytest.raises(AlignmentError, match="rgb_camera and x_camera is missing"):
        needs_cameras.align(thermal, (240, 320))
    no_plane = XAligner(AlignmentConfig(mode="homography", extrinsic_translation=[0.1, 0, 0]))
    with pytest.raises(AlignmentError, match="needs alignment_plane_m"):
        no_plane.align(thermal, (240, 320), RGB_CAMERA, x_camera("plumb_bob"))
    depth = XAligner(AlignmentConfig(mode="depth"))
    with pytest.raises(AlignmentError, match="x_camera is missing"):
        depth.align(np.ones((240, 320), np.float32), (240, 320), RGB_CAMERA)
    with pytest.raises(AlignmentError, match=r"x_extrinsic_rotation .* x_extrinsic_translation .* tf"):
        depth.align(np.ones((240, 320), np.float32), (240, 320), RGB_CAMERA, DEPTH_CAMERA)
    depth.set_extrinsic(np.eye(3), [0.05, 0, 0])
    with pytest.raises(AlignmentError, match="1-channel depth image"):
        depth.align(np.ones((240, 320, 3), np.float32), (240, 320), RGB_CAMERA, DEPTH_CAMERA)
    with pytest.raises(AlignmentError, match=r"uint16 .* or float32"):
        depth.align(np.ones((240, 320), np.uint8), (240, 320), RGB_CAMERA, DEPTH_CAMERA)
    with pytest.raises(AlignmentError, match="X image dtype bool"):
        depth.align(np.ones((240, 320), bool), (240, 320), RGB_CAMERA, DEPTH_CAMERA)
    with pytest.raises(AlignmentError, match="X image must be a numpy array"):
        depth.align([[1.0]], (240, 320), RGB_CAMERA, DEPTH_CAMERA)
    with pytest.raises(AlignmentError, match="rgb_shape"):
        depth.align(np.ones((240, 320), np.float32), (0, 320), RGB_CAMERA, DEPTH_CAMERA)


def test_config_from_node_parameters() -> None:
    config = AlignmentConfig.from_params({
        "x_alignment": "homography", "x_homography": [2.0, 0, 1, 0, 2.0, 1, 0, 0, 1],
        "x_extrinsic_rotation": [], "x_extrinsic_translation": [], "alignment_plane_m": 0.0,
        "x_interpolation": "", "unrelated_parameter": 5,
    })
    assert config.mode == "homography" and config.homography[0, 0] == 2.0
    assert config.extrinsic_rotation is None and config.plane_distance_m is None
    assert config.resolved_interpolation == "linear"
    assert AlignmentConfig(modality="depth").resolved_interpolation == "nearest"
