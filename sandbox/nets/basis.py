"""A learned orthonormal dictionary of motion directions (LIA / FLOAT eq. 9, GoHD eq. 9).

The directions are the columns of Q = qr(W).Q for a learned, unconstrained W [d, M]: orthonormality
holds by construction (re-parameterisation), so no orthogonality loss is needed. Shared by the lia
auto-encoder (w_{r->D} = sum lambda_m q_m) and GoHD's navigator (eta = sum xi_i m_i).
"""
from __future__ import annotations

import torch
from torch import nn


def orthonormal_basis(weight: torch.Tensor) -> torch.Tensor:
    """Q [d, M] with Q^T Q = I from any full-rank W [d, M] (reduced QR re-parameterisation)."""
    return torch.linalg.qr(weight, mode="reduced").Q


class OrthonormalBasis(nn.Module):
    """M orthonormal directions in R^d; ``forward(coeffs [..., M]) -> sum_m coeffs_m q_m [..., d]``."""

    def __init__(self, dim: int, n_directions: int):
        super().__init__()
        if n_directions > dim:
            raise ValueError(f"n_directions M={n_directions} must be <= dim d={dim} (at most d orthonormal directions)")
        self.weight = nn.Parameter(torch.randn(dim, n_directions))

    def basis(self) -> torch.Tensor:
        """Q [d, M]."""
        return orthonormal_basis(self.weight)

    def forward(self, coeffs: torch.Tensor) -> torch.Tensor:
        return coeffs @ self.basis().T.to(coeffs)

    def coefficients(self, vec: torch.Tensor) -> torch.Tensor:
        """Projection coefficients <vec, q_m> [..., M] of vectors [..., d]."""
        return vec @ self.basis().to(vec)
