"""The implicit-keypoint motion space (LivePortrait's motion, as JoyVASA generates it).

Layout (dim 70, JoyVASA's numbers):  exp    0:63   expression deltas delta [K=21, 3], keypoint-major
                                                    (exp[3k:3k+3] = delta_k = (x, y, z))
                                      scale  63:64  s (raw, ~1)
                                      t      64:67  translation (t_x, t_y, t_z); t_z is kept but unused
                                      rot    67:70  (pitch, yaw, roll) in degrees
Keypoints (LivePortrait): x = s * (x_c R + delta) + [t_x, t_y, 0], with x_c [K, 3] the canonical
keypoints of the SOURCE image (from :meth:`reference`, never generated) and R = angles_to_matrix(rot)
for row vectors (sandbox.geometry.rotation: pitch -> Rx, yaw -> Ry, roll -> Rz, R = (Rz Ry Rx)^T).
Frame: x right, y down, z into the screen, in [-1, 1]. Every geometric method takes un-normalised
motion; ``norm="zscore"`` z-scores all 70 dims, ``norm="joyvasa"`` z-scores exp and min-max scales the 7
pose dims (s, t, angles) to [0, 1] on the training frames.

Named keypoints: the network is trained from scratch, so indices mean nothing by themselves. The lip
set is JoyVASA's (LIP_KP, driven absolutely there); the eye and brow indices are our choice. Each
becomes the named part of the face only to the degree the landmark-guide loss (GUIDE_LANDMARKS:
keypoint -> MediaPipe 478-mesh landmark) ties it there during fit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from representations.base import Normalizer, Representation
from sandbox.config import forwards_kwargs
from sandbox.data.frames import resize_square
from sandbox.geometry.rotation import angles_to_matrix, matrix_to_angles
from sandbox.nets.keypoint_extractor import (
    KeypointExtractor,
    bins_to_degrees,
    spiral_keypoints,
)
from sandbox.nets.keypoint_warp import WarpNetworks

N_KP = 21  # the named indices below assume LivePortrait's 21 keypoints (more are allowed, fewer not)
DIM = 70  # at N_KP; in general n_kp * 3 + 7 (layout in KeypointRepresentation._layout)
NORMS = ("zscore", "joyvasa")
DRIVINGS = ("relative", "absolute")
ANGLES = ("pitch", "yaw", "roll")

# -- the ONE place naming keypoints (subject's left/right, as MediaPipe; subject's right = image left) --
LIP_KP = (6, 12, 14, 17, 19, 20)  # JoyVASA's lip keypoints
R_EYE = {"outer": 1, "inner": 2, "upper": 3, "lower": 4}
L_EYE = {"outer": 8, "inner": 9, "upper": 10, "lower": 11}
R_BROW, L_BROW = 15, 16
EYE_KP = tuple(R_EYE.values()) + tuple(L_EYE.values())
BROW_KP = (R_BROW, L_BROW)
REGIONS = {"lips": LIP_KP, "eyes": EYE_KP + BROW_KP}  # "eyes" = lids, corners and brows
# keypoint index -> MediaPipe landmark for the landmark-guide (Wing) loss: 14 keypoints
GUIDE_LANDMARKS = {
    R_EYE["outer"]: 33, R_EYE["inner"]: 133, R_EYE["upper"]: 159, R_EYE["lower"]: 145,
    L_EYE["outer"]: 263, L_EYE["inner"]: 362, L_EYE["upper"]: 386, L_EYE["lower"]: 374,
    R_BROW: 105, L_BROW: 334,  # mid upper brow row
    6: 61, 12: 291,  # mouth corners (right, left)
    14: 13, 17: 14,  # inner lip centre (upper, lower); lip keypoints 19, 20 stay free
}  # fmt: skip
AUX_NAMES = ("eye_open_r", "eye_open_l", "brow_height_r", "brow_height_l")


def default_canonical(n_kp: int = N_KP) -> torch.Tensor:
    """A fixed face-like x_c [n_kp, 3] (named keypoints where GUIDE_LANDMARKS sends them, the free ones
    on nose, forehead, chin and cheeks, extra ones on a spiral): the extractor's starting bias and
    x_c_mean before fit, so aux_features and region edits mean something from the start."""
    x = spiral_keypoints(n_kp, radius=0.8)
    face = {
        0: (0.0, 0.1, -0.2), 5: (0.0, -0.6, 0.0), 7: (0.0, 0.75, 0.0), 13: (-0.6, 0.2, 0.05), 18: (0.6, 0.2, 0.05),
        R_EYE["outer"]: (-0.45, -0.15, 0.0), R_EYE["inner"]: (-0.15, -0.15, 0.0),
        R_EYE["upper"]: (-0.3, -0.2, -0.02), R_EYE["lower"]: (-0.3, -0.1, -0.02),
        L_EYE["outer"]: (0.45, -0.15, 0.0), L_EYE["inner"]: (0.15, -0.15, 0.0),
        L_EYE["upper"]: (0.3, -0.2, -0.02), L_EYE["lower"]: (0.3, -0.1, -0.02),
        R_BROW: (-0.3, -0.35, -0.02), L_BROW: (0.3, -0.35, -0.02),
        6: (-0.22, 0.42, 0.0), 12: (0.22, 0.42, 0.0), 14: (0.0, 0.37, -0.05), 17: (0.0, 0.47, -0.05),
        19: (0.0, 0.27, -0.06), 20: (0.0, 0.57, -0.06),
    }  # fmt: skip
    for k, v in face.items():
        x[k] = torch.tensor(v)
    return x


@dataclass
class KeypointConfig:
    size: int = 128  # image side the extractor (and the warp networks) work at; LivePortrait 256
    n_kp: int = N_KP  # K keypoints
    width: int = 16  # extractor channels after the stem (doubling per block)
    max_width: int = 128  # extractor channel cap
    depth: int = 4  # extractor down-sampling blocks
    stem_stride: int = 1  # extractor stem: 1 (3x3 conv at full size) | 4 (ConvNeXt's patchify stem)
    pool: str = "mean"  # extractor features: global "mean" (LivePortrait's head) | "flatten" (keeps where)


@dataclass
class KeypointReference:
    x_c: torch.Tensor  # canonical keypoints of the source [K, 3]
    motion: torch.Tensor  # the source's own motion [70] (exp, s, t, rot), un-normalised
    image: torch.Tensor  # the source at the representation's size [3, size, size]
    features: torch.Tensor | None = None  # appearance volume [C, D, H', W'] of the warp networks
    size: int = 0


class KeypointRepresentation(Representation):
    name = "keypoint"
    learned = True
    default_renderer = "keypoint_warp"  # read by sandbox.registry.default_renderer (class attribute)
    # config keys the fit never reads (the extract stage fits the normaliser): changing one reuses the fit
    fit_ignores = ("norm",)

    @forwards_kwargs(KeypointConfig)
    def __init__(self, norm: str = "zscore", driving: str = "relative", warp: dict | None = None, **cfg):
        """norm: zscore | joyvasa; driving: relative | absolute (see drive); warp: keyword arguments of
        sandbox.nets.keypoint_warp.WarpNetworks (its CPU defaults when None); cfg: KeypointConfig fields."""
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if driving not in DRIVINGS:
            raise ValueError(f"driving must be one of {DRIVINGS}, got {driving!r}")
        self.config = KeypointConfig(**cfg)
        K = self.config.n_kp
        if K < N_KP:
            raise ValueError(f"n_kp={K}: the named keypoints (lips, eyes, guide) need n_kp >= {N_KP}")
        dim = K * 3 + 7  # exp K*3 + s 1 + t 3 + rot 3
        super().__init__(dim, self._layout(K))
        self.norm = Normalizer(dim, minmax=range(K * 3, dim) if norm == "joyvasa" else None)
        if warp is not None and OmegaConf.is_config(warp):  # plain dicts only, so checkpoints load weights_only
            warp = OmegaConf.to_container(warp, resolve=True)
        warp = dict(warp or {})
        self.norm_scheme, self.driving, self.warp_config = norm, driving, warp
        c = self.config
        self.extractor = KeypointExtractor(c.size, K, c.width, c.max_width, c.depth, kp_init=default_canonical(K),
                                           pool=c.pool, stem_stride=c.stem_stride)  # fmt: skip
        self.register_buffer("x_c_mean", default_canonical(K))  # mean canonical keypoints; set by fit
        self.warp = self._build_warp(warp)

    @staticmethod
    def _layout(K: int) -> dict[str, slice]:
        e = K * 3
        return {"exp": slice(0, e), "scale": slice(e, e + 1), "t": slice(e + 1, e + 4), "rot": slice(e + 4, e + 7)}

    def _build_warp(self, warp: dict) -> WarpNetworks:
        """The warp networks (sandbox.nets.keypoint_warp.WarpNetworks(**warp)) at this space's size and K."""
        own = {"size": self.config.size, "num_keypoints": self.config.n_kp}
        clash = {k: warp[k] for k in own if k in warp and warp[k] != own[k]}
        if clash:
            raise ValueError(f"warp {clash} disagrees with the representation's {own}; leave them out of warp")
        return WarpNetworks(**{**warp, **own})

    # -- vector <-> parts -----------------------------------------------------------------------
    def split(self, motion: torch.Tensor) -> dict[str, torch.Tensor]:
        """motion [..., dim] -> exp [..., K, 3], scale [..., 1], t [..., 3], rot [..., 3] (pitch, yaw, roll)."""
        p = {k: motion[..., s] for k, s in self.parts.items()}
        p["exp"] = p["exp"].unflatten(-1, (self.config.n_kp, 3))
        return p

    def join(self, exp: torch.Tensor, scale: torch.Tensor, t: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
        return torch.cat([exp.flatten(-2), scale, t, rot], -1)

    def _motion_from(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        rot = torch.stack([bins_to_degrees(out[a]) for a in ANGLES], -1)
        return self.join(out["exp"], out["scale"], out["t"], rot)

    # -- geometry (un-normalised motion, differentiable) ----------------------------------------
    def rotation(self, motion: torch.Tensor) -> torch.Tensor:
        """motion [..., dim] -> R [..., 3, 3] (row vectors: x' = x R)."""
        return angles_to_matrix(*motion[..., self.parts["rot"]].unbind(-1))

    def keypoints(self, x_c: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """x = s (x_c R + delta) + [t_x, t_y, 0]: x_c [..., K, 3] and motion [..., dim] (broadcast) ->
        [..., K, 3]. t_z is dropped, as LivePortrait."""
        p = self.split(motion)
        t = p["t"] * torch.tensor([1.0, 1.0, 0.0], dtype=motion.dtype, device=motion.device)
        return p["scale"][..., None] * (x_c.to(motion) @ self.rotation(motion) + p["exp"]) + t[..., None, :]

    def drive(self, ref: KeypointReference, motion: torch.Tensor, first: torch.Tensor | None = None) -> torch.Tensor:
        """Driving motion [T, dim] -> the motion to render the source with [T, dim] (un-normalised).

        relative (LivePortrait's default): relative to ``first`` (default motion[0]) and applied to the
        source's motion s: R = R_i R_first^T R_s (back to angles), delta = delta_s + delta_i - delta_first,
        scale = s_s * s_i / s_first, t = t_s + t_i - t_first with t_z = 0. A frame equal to ``first``
        reproduces the source's keypoints. absolute: the motion as is, with the source's scale."""
        src = ref.motion.to(motion)
        if self.driving == "absolute":
            out = motion.clone()
            out[..., self.parts["scale"]] = src[self.parts["scale"]]
            return out
        d0 = (motion[0] if first is None else first).to(motion)
        P, P0, Ps = self.split(motion), self.split(d0), self.split(src)
        R = self.rotation(motion) @ self.rotation(d0).transpose(-1, -2) @ self.rotation(src)
        rot = torch.stack(matrix_to_angles(R), -1)
        t = Ps["t"] + P["t"] - P0["t"]
        t = torch.cat([t[..., :2], torch.zeros_like(t[..., 2:])], -1)
        return self.join(Ps["exp"] + P["exp"] - P0["exp"], Ps["scale"] * P["scale"] / P0["scale"], t, rot)

    # -- structure for generators ---------------------------------------------------------------
    def aux_features(self, motion: torch.Tensor) -> torch.Tensor:
        """The analogue of GoHD's eye features, [..., 4] (AUX_NAMES) from un-normalised motion [..., dim]:

        eye_open_{r,l}     (y_lower_lid - y_upper_lid) / |outer - inner corner| of each eye;
        brow_height_{r,l}  (mean y of the eye's corners - y_brow) / the same eye width.
        Measured on x_c_mean + delta (pose, scale and translation zeroed, as GoHD zeroes the pose), so
        it is linear in delta up to the width and differentiable in ``motion``. x_c_mean is a constant
        here. Honest caveat: these are eyelid / brow measures only to the degree the landmark-guide loss
        ties those keypoints to the lids, corners and brows (GUIDE_LANDMARKS); before fit and without
        the guide they are distances between arbitrary keypoints. LivePortrait adds delta after the
        rotation, so leftover pose can leak into them."""
        x = self.x_c_mean.detach().to(motion) + self.split(motion)["exp"]
        feats = []
        for eye, brow in ((R_EYE, R_BROW), (L_EYE, L_BROW)):
            width = (x[..., eye["outer"], :2] - x[..., eye["inner"], :2]).square().sum(-1).clamp_min(1e-8).sqrt()
            corners_y = (x[..., eye["outer"], 1] + x[..., eye["inner"], 1]) / 2
            feats.append(((x[..., eye["lower"], 1] - x[..., eye["upper"], 1]) / width,
                          (corners_y - x[..., brow, 1]) / width))  # fmt: skip
        return torch.stack([feats[0][0], feats[1][0], feats[0][1], feats[1][1]], -1)

    def edit(self, motion: torch.Tensor, yaw=None, pitch=None, roll=None, yaw_offset=None, pitch_offset=None,
             roll_offset=None, region: str | None = None, source: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """Edit un-normalised motion [..., dim] (a new tensor).

        region: drive only that region, every other number from ``source`` (a motion [dim] or [..., dim],
        e.g. the reference's): "lips" / "eyes" = source pose and expression except the deltas of
        REGIONS[region] (eyes: lids, corners and brows), taken from ``motion``; "pose" = source expression
        with the pose (s, t, angles) of ``motion``.
        Then yaw / pitch / roll (degrees, scalar or per-frame [...]) set those angles and *_offset add
        to them."""
        out = motion.clone()
        if region is not None:
            if region not in (*REGIONS, "pose"):
                raise ValueError(f"region must be one of {(*REGIONS, 'pose')} or None, got {region!r}")
            if source is None:
                raise ValueError(f"region={region!r} needs source= (the motion the other parts come from)")
            out = source.to(motion).expand_as(motion).clone()
            if region == "pose":
                for k in ("scale", "t", "rot"):
                    out[..., self.parts[k]] = motion[..., self.parts[k]]
            else:
                exp = self.parts["exp"]
                idx = torch.tensor([exp.start + 3 * k + j for k in REGIONS[region] for j in range(3)], device=out.device)
                out[..., idx] = motion[..., idx]
        rot0 = self.parts["rot"].start
        for i, (value, offset) in enumerate(((pitch, pitch_offset), (yaw, yaw_offset), (roll, roll_offset))):
            if value is not None:
                out[..., rot0 + i] = torch.as_tensor(value, dtype=out.dtype, device=out.device)
            if offset is not None:
                out[..., rot0 + i] += torch.as_tensor(offset, dtype=out.dtype, device=out.device)
        return out

    # -- mapping --------------------------------------------------------------------------------
    def _prepare(self, frames: torch.Tensor) -> torch.Tensor:
        return resize_square(frames, self.config.size, self.x_c_mean.device)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        was = self.extractor.training
        self.extractor.eval()
        out = [self._motion_from(self.extractor(self._prepare(frames[i : i + batch_size])))
               for i in range(0, frames.shape[0], batch_size)]  # fmt: skip
        self.extractor.train(was)
        return torch.cat(out) if out else torch.zeros(0, self.dim)

    @torch.no_grad()
    def reference(self, source_image: torch.Tensor) -> KeypointReference:
        was = self.extractor.training
        self.extractor.eval()
        img = self._prepare(source_image[None])
        out = self.extractor(img)
        self.extractor.train(was)
        was = self.warp.training
        features = self.warp.eval().appearance(img)[0]
        self.warp.train(was)
        return KeypointReference(x_c=out["kp"][0], motion=self._motion_from(out)[0], image=img[0],
                                 features=features, size=self.config.size)  # fmt: skip

    def reference_motion(self, ref: KeypointReference) -> torch.Tensor:
        return ref.motion

    # -- learning -------------------------------------------------------------------------------
    def fit(
        self,
        data,
        steps: int = 2000,
        batch_size: int = 8,
        lr: float = 2e-4,
        weights: dict[str, float] | None = None,
        loss_weights: dict[str, float] | None = None,
        pyramid_levels: int = 3,
        kp_depth: float = 0.0,
        kp_margin: float = 0.0025,
        equivariance_affine: dict[str, float] | None = None,
        motion_readout: float = 0.0,
        readout_gain: float = 50.0,
        run_dir: str | Path | None = None,
        num_workers: int = 0,
        val_pairs: int = 64,
        seed: int = 0,
        **trainer_kwargs,
    ) -> dict[str, float]:
        """Train the extractor and the warp networks on pairs of ``data`` (representations.keypoint_fit:
        what is LivePortrait's and what the sandbox adds). ``weights``: the component-weighted L1's mouth
        and eyes weights; ``loss_weights``: the other terms (keypoint_fit.DEFAULT_WEIGHTS);
        ``kp_depth``: the keypoint prior's mean depth (face-vid2vid 0.33 in its own frame; 0 here, the
        middle of the warp volume); ``kp_margin``: its squared separation margin (face-vid2vid 0.1, which
        pushes keypoints 0.32 apart: eyelid keypoints tied by the guide sit ~0.05 apart);
        ``equivariance_affine``: random_affine's ranges; ``motion_readout`` > 0 (sandbox addition, as
        rep=lia's): that much squared error of a training-only linear readout from readout_gain x
        (delta_d - delta_s) to the world's 3dmm motion difference. ``trainer_kwargs`` go to make_trainer."""
        from representations.keypoint_fit import fit_keypoint

        return fit_keypoint(self, data, steps, batch_size, lr, weights, loss_weights, pyramid_levels, kp_depth,
                            kp_margin, equivariance_affine, run_dir, num_workers, val_pairs, seed,
                            motion_readout=motion_readout, readout_gain=readout_gain, **trainer_kwargs)

    @torch.no_grad()
    def evaluate(self, data, split: str = "val", max_pairs: int = 64) -> dict[str, float]:
        """Same-identity reconstruction of fixed (source, driving) pairs: L1, PSNR (dB), SSIM."""
        from representations.keypoint_fit import evaluate

        return evaluate(self, data, split, max_pairs)

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One file: config + flags + state_dict (extractor, warp networks, x_c_mean, the normaliser)."""
        torch.save({"config": asdict(self.config), "norm": self.norm_scheme, "driving": self.driving,
                    "warp": self.warp_config, "state_dict": self.state_dict()}, path)  # fmt: skip

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "KeypointRepresentation":
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
        rep = cls(norm=ckpt["norm"], driving=ckpt["driving"], warp=ckpt["warp"], **ckpt["config"])
        rep.load_state_dict(ckpt["state_dict"])
        return rep.eval()
