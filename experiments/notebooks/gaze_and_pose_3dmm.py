# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     name: python3
#     display_name: Python 3
# ---

# %% [markdown]
# # Setting head pose and gaze in the 3DMM space (GoHD figure 1 analogue)
#
# GoHD's motion is explicit: head pose (rotation, translation), expression coefficients and gaze
# angles, so pose and gaze are set directly. Here a held-out source is re-posed (yaw) and its gaze
# turned, then rendered by the mesh-warp renderer, and the face analyser reads the yaw back.
# Smoke preset: about a minute.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import sandbox
from sandbox.analysis.face import FaceAnalyser
from sandbox.data.frames import to_tensor
from sandbox.geometry.rotation import rotvec_to_euler
from sandbox.pipeline.components import reference_motion
from sandbox.pipeline.render import render_motion

PRESET = os.environ.get("NOTEBOOK_PRESET", "smoke")
run = sandbox.run_crossing("rep=3dmm", "gen=flow", f"preset={PRESET}", "stage=fit")
rep, renderer, store = run.rep, run.renderer, run.store
source = np.asarray(store.load(store.ids("test")[0]).frames[0])
m0 = reference_motion(rep, to_tensor(source))

# %%
yaws = np.radians([-20, -10, 0, 10, 20])
posed = render_motion(rep, renderer, source, np.stack([rep.edit(m0, pose_offset=(y, 0, 0)).numpy() for y in yaws]))
gazes = [(0.0, -0.3), (0.0, 0.0), (0.0, 0.3), (0.2, 0.0), (-0.2, 0.0)]
gazed = render_motion(rep, renderer, source, np.stack([rep.edit(m0, gaze=g).numpy() for g in gazes]))
fig, axes = plt.subplots(2, 5, figsize=(10, 4.4))
for j in range(5):
    axes[0, j].imshow(posed[j]), axes[0, j].set_title(f"yaw {np.degrees(yaws[j]):+.0f} deg")
    axes[1, j].imshow(gazed[j]), axes[1, j].set_title(f"gaze {gazes[j]}", fontsize=8)
for a in axes.ravel():
    a.set_xticks([]), a.set_yticks([])
plt.tight_layout()

# %% [markdown]
# The analyser's yaw of the re-posed frames should grow with the yaw that was set:

# %%
a = FaceAnalyser(video=False).analyse(posed)
measured = np.degrees(rotvec_to_euler(a.pose[:, :3])[:, 0])
print("set:", np.degrees(yaws).round(), "measured:", measured.round(1))
ok = np.isfinite(measured)
assert ok.sum() >= 3 and np.corrcoef(np.degrees(yaws)[ok], measured[ok])[0, 1] > 0.8
