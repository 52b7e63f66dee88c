# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     name: python3
#     display_name: Python 3
# ---

# %% [markdown]
# # lambda-control on the LIA motion space (FLOAT figure 6 analogue)
#
# FLOAT's motion latent is a combination of orthonormal directions; moving one coefficient lambda_k
# while holding the others changes one aspect of the motion. Here: the directions with the largest
# spread over the training clips, each varied from -2 to +2 standard deviations around the source's
# own motion, rendered from one held-out source. Needs only the fitted representation (no generator).
# Smoke preset: under a minute (the pictures are coarse at 64 px and 20 fit steps).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

import sandbox
from sandbox.data.frames import to_tensor
from sandbox.pipeline.components import reference_motion
from sandbox.pipeline.render import render_motion

PRESET = os.environ.get("NOTEBOOK_PRESET", "smoke")
run = sandbox.run_crossing("rep=lia", "gen=flow", f"preset={PRESET}", "stage=extract")
rep, renderer, store = run.rep, run.renderer, run.store
source = np.asarray(store.load(store.ids("test")[0]).frames[0])

# %%
train = torch.cat([rep.denormalize(torch.from_numpy(run.extracted.load(c)["motion"])) for c in store.ids("train")])
lam = rep.coefficients(train)  # [N, M]
spread = lam.std(0)
top = torch.argsort(spread, descending=True)[:3].tolist()
print("directions by spread:", [(k, round(float(spread[k]), 3)) for k in top])

# %%
m0 = reference_motion(rep, to_tensor(source))
steps = np.linspace(-2, 2, 5)
grid = []
for k in top:
    motions = torch.stack([rep.edit(m0, k, delta=float(s * spread[k])) for s in steps])
    grid.append(render_motion(rep, renderer, source, motions.numpy()))
fig, axes = plt.subplots(len(top), len(steps), figsize=(2 * len(steps), 2 * len(top)))
for i, k in enumerate(top):
    for j, s in enumerate(steps):
        axes[i, j].imshow(grid[i][j])
        axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
        axes[0, j].set_title(f"{s:+.0f} sd")
    axes[i, 0].set_ylabel(f"lambda_{k}")
plt.tight_layout()

# %% [markdown]
# Each edit changes only its own coefficient (the basis is orthonormal), and the picture moves with it:

# %%
for i, k in enumerate(top):
    edited = rep.coefficients(torch.from_numpy(np.stack([rep.edit(m0, k, delta=float(s * spread[k])).numpy()
                                                         for s in steps])))
    others = [j for j in range(edited.shape[1]) if j != k]
    assert torch.allclose(edited[:, others], edited[2:3, others], atol=1e-4)
    change = np.abs(grid[i][0].astype(float) - grid[i][-1].astype(float)).mean()
    print(f"lambda_{k}: mean pixel change from -2 to +2 sd: {change:.2f}")
    assert change > 0.5
