# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     name: python3
#     display_name: Python 3
# ---

# %% [markdown]
# # Emotion redirection (FLOAT's emotion guidance)
#
# The same held-out audio driven with each of the seven emotion labels, then with the emotion
# guidance scale varied for one label. FLOAT conditions on a speech-emotion label and guides it
# (classifier-free); here the label is given. Reads a trained lia x flow run (the tour's run on the
# same preset is reused from the cache). Smoke preset: about a minute; the effects are small there.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import sandbox
from sandbox.constants import EMOTIONS

PRESET = os.environ.get("NOTEBOOK_PRESET", "smoke")
run = sandbox.run_crossing("rep=lia", "gen=flow", f"preset={PRESET}", "stage=train")
clip = run.store.load(run.store.ids("test")[0])
source, audio = np.asarray(clip.frames[0]), clip.audio

# %%
outs = {e: run.animate(source, audio, emotion=e, seed=0) for e in EMOTIONS}
fig, axes = plt.subplots(1, len(EMOTIONS), figsize=(2 * len(EMOTIONS), 2.3))
mid = len(outs["neutral"].frames) // 2
for ax, (e, o) in zip(axes, outs.items()):
    ax.imshow(o.frames[mid]), ax.set_title(e), ax.axis("off")
plt.tight_layout()

# %% [markdown]
# How far each label moves the motion from the neutral one (mean absolute difference over frames and
# dimensions), and how the emotion guidance scale scales that move for "happy":

# %%
base = outs["neutral"].motion
for e, o in outs.items():
    print(f"{e:9s} {np.abs(o.motion - base).mean():.4f}")
scales = [0.0, 1.0, 2.0, 4.0]
moves = [np.abs(run.animate(source, audio, emotion="happy", seed=0, guidance={"audio": 2.0, "emotion": g}).motion
                - run.animate(source, audio, emotion="neutral", seed=0, guidance={"audio": 2.0, "emotion": g}).motion).mean()
         for g in scales]
print("happy vs neutral by emotion scale:", dict(zip(scales, np.round(moves, 4))))
assert any(np.abs(o.motion - base).mean() > 0 for e, o in outs.items() if e != "neutral")
