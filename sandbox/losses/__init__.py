"""Shared losses: one implementation each, used by every generator and renderer."""
from sandbox.losses.flow import flow_matching_loss, ot_interpolate, ot_target_velocity
from sandbox.losses.image import masked_component_l1, masked_l1
from sandbox.losses.motion import (
    difference,
    masked_mean,
    smoothness_loss,
    velocity_loss,
)

__all__ = [
    "difference",
    "flow_matching_loss",
    "masked_component_l1",
    "masked_l1",
    "masked_mean",
    "ot_interpolate",
    "ot_target_velocity",
    "smoothness_loss",
    "velocity_loss",
]
