"""MediaPipe Face Mesh topology: triangles and named landmark index sets (ordered contours).

Indices follow MediaPipe's 478-point mesh (468 face points + 10 iris points with
``refine_landmarks=True``). The edge sets come from ``mediapipe.solutions.face_mesh_connections``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

N_LANDMARKS = 478
N_FACE = 468
# one landmark on the upper lip / lid of each opening contour: which side is upper cannot be read off a photo
# whose mouth or eyes are closed (the two sides coincide)
UPPER_SIDE = {"lips_inner": 13, "lips_outer": 0, "left_eye": 386, "right_eye": 159}
RIGHT_IRIS = np.arange(468, 473)  # centre first, then 4 rim points; inside contours()["right_eye"]
LEFT_IRIS = np.arange(473, 478)  # subject's left eye (MediaPipe's FACEMESH_LEFT_IRIS)


def _connections():
    import mediapipe as mp

    return mp.solutions.face_mesh_connections


def _cycle(edges) -> np.ndarray:
    """Order a set of undirected edges forming one closed loop into a vertex cycle."""
    adj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    start = min(adj)
    order, prev, cur = [start], None, start
    while True:
        nxt = [v for v in adj[cur] if v != prev]
        if not nxt:
            break
        prev, cur = cur, nxt[0]
        if cur == start:
            break
        order.append(cur)
    return np.array(order, dtype=np.int64)


def _split_loops(edges) -> list[np.ndarray]:
    """Split an edge set into its connected loops, each ordered."""
    edges = [tuple(e) for e in edges]
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    seen: set[int] = set()
    loops = []
    for v in sorted(adj):
        if v in seen:
            continue
        comp, stack = set(), [v]
        while stack:
            u = stack.pop()
            if u in comp:
                continue
            comp.add(u)
            stack.extend(adj[u] - comp)
        seen |= comp
        loops.append(_cycle([e for e in edges if e[0] in comp]))
    return loops


@lru_cache(maxsize=1)
def triangles() -> np.ndarray:
    """Face triangles [F, 3] of the 468-point mesh (3-cliques of the tesselation edge graph)."""
    edges = _connections().FACEMESH_TESSELATION
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    tris = set()
    for a, b in edges:
        for c in adj[a] & adj[b]:
            tris.add(tuple(sorted((a, b, c))))
    return np.array(sorted(tris), dtype=np.int64)


@lru_cache(maxsize=1)
def contours() -> dict[str, np.ndarray]:
    """Ordered closed contours: lips_outer, lips_inner, left_eye, right_eye, left_brow, right_brow, face_oval.

    'left'/'right' are the subject's, as in MediaPipe (subject's left eye appears on the image right).
    """
    c = _connections()
    lips = _split_loops(c.FACEMESH_LIPS)
    # the outer lip loop contains the mouth corner 61 and more points on the outside; pick by area later,
    # here by a known outer-only vertex (0 = upper lip top centre)
    outer = next(l for l in lips if 0 in l)
    inner = next(l for l in lips if 0 not in l)
    out = {
        "lips_outer": outer,
        "lips_inner": inner,
        "left_eye": _cycle(c.FACEMESH_LEFT_EYE),
        "right_eye": _cycle(c.FACEMESH_RIGHT_EYE),
        "face_oval": _cycle(c.FACEMESH_FACE_OVAL),
    }
    # brows are open curves (upper + lower rows); keep their vertex sets
    out["left_brow"] = np.array(sorted({i for e in c.FACEMESH_LEFT_EYEBROW for i in e}), dtype=np.int64)
    out["right_brow"] = np.array(sorted({i for e in c.FACEMESH_RIGHT_EYEBROW for i in e}), dtype=np.int64)
    return out
