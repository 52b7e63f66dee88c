# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     name: python3
#     display_name: Python 3
# ---

# %% [markdown]
# # A tour: one crossing end to end through the Python API
#
# `rep=lia gen=flow` (FLOAT's pairing) from the synthetic dataset to a video and its report, through
# `sandbox.run_crossing`, the same run as `python -m sandbox.run rep=lia gen=flow`. On the smoke preset
# (what CI runs) this takes about a minute on 2 CPU cores and the numbers mean little; set
# `NOTEBOOK_PRESET=default` for the main job (~20 minutes).

# %%
import os

from IPython.display import Markdown, Video, display

import sandbox

PRESET = os.environ.get("NOTEBOOK_PRESET", "smoke")
run = sandbox.run_crossing("rep=lia", "gen=flow", f"preset={PRESET}")
print(run.run_dir)

# %% [markdown]
# The run directory holds the generated videos (`samples/`), the baselines (`eval/<row>/`), the report
# and `metrics.json`. The report's table (every row measured by the same face analyser):

# %%
display(Markdown((run.run_dir / "report.md").read_text().split("## Flags")[0]))

# %% [markdown]
# A generated video, with its driving audio (held-out voice, sentence and identity):

# %%
mp4 = sorted((run.run_dir / "samples").glob("*.mp4"))[0]
display(Video(str(mp4), embed=True, width=256))

# %% [markdown]
# Every number comes with its 95% bootstrap interval over the test clips. The lip-sync confidence of
# the still head is ~0 by construction (its mouth does not move beyond the analyser's noise); the
# ground truth's must be clearly above it, or the metric is broken.

# %%
rows, ci = run.metrics["rows"], run.metrics["ci"]
for row in rows:
    print(f"{row:15s} sync {rows[row]['sync_confidence']:+.3f}  CI {ci[row]['sync_confidence']}")
assert rows["ground_truth"]["sync_confidence"] > rows["static"]["sync_confidence"] + 0.2
