# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     name: python3
#     display_name: Python 3
# ---

# %% [markdown]
# # One audio through every representation
#
# The same held-out clip driven through `gen=flow` in each motion space: the LIA latent (FLOAT), 3DMM
# pose + expression + gaze (GoHD) and implicit keypoints (JoyVASA). Each space gets a jaw read-out, a
# least-squares line from its training motion to the world's jaw opening, so the curves share units;
# the frames are each renderer's. Smoke preset: about three minutes (three representations fitted).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

import sandbox
from sandbox.metrics.motion import fit_jaw_readout, read_jaw
from sandbox.pipeline.eval import jaw_target

PRESET = os.environ.get("NOTEBOOK_PRESET", "smoke")
runs = {rep: sandbox.run_crossing(f"rep={rep}", "gen=flow", f"preset={PRESET}", "stage=train")
        for rep in ("lia", "3dmm", "keypoint")}

# %%
store = runs["lia"].store
clip = store.load(store.ids("test")[0])
source, audio = np.asarray(clip.frames[0]), clip.audio
truth = jaw_target(clip, clip.num_frames)
curves, frames = {}, {}
for rep, r in runs.items():
    ids = r.store.ids("train")
    train = [r.extracted.load(c)["motion"] for c in ids]
    line = fit_jaw_readout(train, [jaw_target(r.store.load(c, frames=False), len(m)) for c, m in zip(ids, train)])
    out = r.animate(source, audio, seed=0)
    curves[rep] = read_jaw(line, r.rep.normalize(torch.from_numpy(out.motion)).numpy())
    frames[rep] = out.frames

# %%
fig, (ax, *faces) = plt.subplots(1, 4, figsize=(13, 3), gridspec_kw={"width_ratios": [3, 1, 1, 1]})
ax.plot(truth, "k", lw=2, label="true jaw (audio)")
for rep, c in curves.items():
    ax.plot(c, label=f"{rep}: corr {np.corrcoef(c[: len(truth)], truth[: len(c)])[0, 1]:+.2f}")
ax.legend(fontsize=8), ax.set_xlabel("frame")
peak = int(np.argmax(truth))
for a, (rep, f) in zip(faces, frames.items()):
    a.imshow(f[min(peak, len(f) - 1)]), a.set_title(f"{rep}, frame {peak}"), a.axis("off")
plt.tight_layout()

# %%
assert all(len(c) == clip.num_frames for c in curves.values())
assert all(f.shape[0] == clip.num_frames and f.dtype == np.uint8 for f in frames.values())
