r"""The efficient unitary recurrent cell, EUNN (Jing et al. 2017, "Tunable Efficient Unitary Neural Networks
(EUNN) and their application to RNNs"; the ML@B slides close with it: unitary matrices "completely
sidestep the vanishing gradient problem").

The hidden state ``h`` is complex (N units). The recurrent matrix ``W`` is unitary by construction: a
product of layers of 2×2 rotations on pairs of units, then a diagonal of phases,

.. math::
    W = D \, F_L \cdots F_2 F_1, \qquad
    R(\theta, \phi) = \begin{pmatrix} e^{i\phi}\cos\theta & -e^{i\phi}\sin\theta \\
                                      \sin\theta & \cos\theta \end{pmatrix}, \qquad
    D = \mathrm{diag}(e^{i\omega_1}, \dots, e^{i\omega_N}),

    h_t = \mathrm{modReLU}(W h_{t-1} + U x_t), \qquad
    \mathrm{modReLU}(z)_k = \frac{z_k}{|z_k|}\,\max(0, |z_k| + b_k).

Each ``F_l`` rotates disjoint pairs of units, so ``||W h|| = ||h||`` and the product of Jacobians
through time neither shrinks nor grows through ``W`` (only modReLU's bias can shrink it). Layouts:

- tunable (``capacity=L``): layers alternate between the pairs (0,1), (2,3), ... and (1,2), (3,4), ...;
  L = N spans every unitary matrix, a small L is cheaper and already remembers;
- FFT-style (``fft=True``, N a power of two): log₂ N layers, layer k pairing units i and i + 2^k.

A layer is applied as ``h' = v ⊙ h + w ⊙ h[partner]`` over all pairs at once (vectors ``v``, ``w`` of
the rotations' entries, ``partner`` the index of each unit's pair), never as a dense N×N product.

The state is carried as real numbers ``[Re h, Im h]`` (B, 2N), so the wrappers, the masking model and
the distributed trainer treat it as any other state; the output is that same vector (2N) or, with
``output_size``, a linear map of it.

>>> cell = EUNNCell(3, 8, capacity=4)
>>> y, h = cell(torch.randn(2, 3), cell.initial_state(2))
>>> tuple(y.shape), tuple(h.shape)
((2, 16), (2, 16))
>>> W = cell.recurrent_matrix()
>>> bool(torch.allclose(W @ W.conj().T, torch.eye(8, dtype=W.dtype), atol=1e-6))
True
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .base import Cell, check_size

__all__ = ["EUNNCell", "mod_relu", "pairings"]


def pairings(n: int, *, capacity: int = 2, fft: bool = False) -> list[list[tuple[int, int]]]:
    """The pairs of units each layer rotates: tunable (alternating (0,1),(2,3),... and (1,2),(3,4),...)
    or FFT-style (layer k pairs i and i + 2^k).

    >>> pairings(4, capacity=2)
    [[(0, 1), (2, 3)], [(1, 2)]]
    >>> pairings(4, fft=True)
    [[(0, 1), (2, 3)], [(0, 2), (1, 3)]]
    """
    if fft:
        return [[(i, i + 2 ** k) for i in range(n) if not i & 2 ** k] for k in range(int(math.log2(n)))]
    return [[(i, i + 1) for i in range(layer % 2, n - 1, 2)] for layer in range(capacity)]


def mod_relu(re: Tensor, im: Tensor, bias: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """modReLU (Arjovsky et al. 2016) on ``z = re + i im``: keep the phase, shift the modulus by ``bias``.

    >>> mod_relu(torch.tensor([3.0]), torch.tensor([4.0]), torch.tensor([-1.0]))   # |z| = 5 -> 4
    (tensor([2.4000]), tensor([3.2000]))
    """
    modulus = torch.sqrt(re * re + im * im + eps * eps)
    scale = torch.relu(modulus + bias) / modulus
    return re * scale, im * scale


class EUNNCell(Cell):
    """EUNN: complex state (carried as ``[Re h, Im h]``), unitary recurrence, modReLU (module docstring).

    ``capacity`` (tunable layout, ``1 <= L``) or ``fft=True`` (N a power of two) choose the layout;
    ``output_size`` adds a linear map of ``[Re h, Im h]``.
    Initialisation: the input map in U(-0.01, 0.01), as the authors' code, small so that T steps of input do not
    swamp the state (on the copy problem at T = 100 it learned faster than torch.nn.Linear's U(-1/sqrt(D),
    1/sqrt(D)); benchmarks/README.md); modReLU bias -0.01; the rotation angles and phases by ``rotations``:
    ``"identity"`` draws them from U(-0.01, 0.01), so W starts near the identity and carries the state
    unchanged; ``"uniform"`` from U(-pi, pi), a random unitary W, as the EUNN authors' copying-task code
    (Jing et al. 2017, EUNN-tensorflow's ``EUNN_param``) initialises its angles.
    """

    hoists_input = True
    eps = 1e-5                                    # modReLU's guard: |z| is taken as sqrt(|z|^2 + eps^2)

    def __init__(self, input_size: int, hidden_size: int, *, capacity: int = 2, fft: bool = False,
                 output_size: int | None = None, rotations: str = "identity"):
        super().__init__()
        check_size("input_size", input_size)
        check_size("hidden_size", hidden_size)
        check_size("output_size", output_size, allow_none=True)
        check_size("capacity", capacity)
        if fft and hidden_size & (hidden_size - 1):
            raise ValueError(f"the FFT-style EUNN needs hidden_size a power of two; received {hidden_size}")
        if hidden_size < 2:
            raise ValueError(f"EUNN rotates pairs of units: hidden_size must be at least 2; received {hidden_size}")
        if rotations not in ("identity", "uniform"):
            raise ValueError(f"rotations must be identity or uniform; received {rotations!r}")
        self.input_size, self.hidden_size, self.fft, self.rotation_init = input_size, hidden_size, fft, rotations
        self.layers = pairings(hidden_size, capacity=capacity, fft=fft)
        self.capacity = len(self.layers)
        self.weight_ih = nn.Parameter(torch.empty(input_size, 2 * hidden_size))      # U = [U_re | U_im]
        sizes = [len(pairs) for pairs in self.layers]
        self.theta = nn.ParameterList(nn.Parameter(torch.empty(s)) for s in sizes)
        self.phi = nn.ParameterList(nn.Parameter(torch.empty(s)) for s in sizes)
        self.omega = nn.Parameter(torch.empty(hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size))                           # modReLU's b
        self.out = nn.Linear(2 * hidden_size, output_size) if output_size is not None else None
        self.output_size = output_size if output_size is not None else 2 * hidden_size
        # per layer and unit: the index of its pair, its role (0 first, 1 second, 2 left alone), its partner
        pair = torch.zeros(self.capacity, hidden_size, dtype=torch.long)
        role = torch.full((self.capacity, hidden_size), 2, dtype=torch.long)
        partner = torch.arange(hidden_size).repeat(self.capacity, 1)
        for l, pairs in enumerate(self.layers):
            for k, (a, b) in enumerate(pairs):
                pair[l, a], pair[l, b], role[l, a], role[l, b] = k, k, 0, 1
                partner[l, a], partner[l, b] = b, a
        self.register_buffer("_pair", pair, persistent=False)
        self.register_buffer("_role", role, persistent=False)
        self.register_buffer("_partner", partner, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        angle = math.pi if self.rotation_init == "uniform" else 0.01
        nn.init.uniform_(self.weight_ih, -0.01, 0.01)
        for p in [*self.theta, *self.phi, self.omega]:
            nn.init.uniform_(p, -angle, angle)
        nn.init.constant_(self.bias, -0.01)
        if self.out is not None:
            self.out.reset_parameters()

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return self._zeros(batch_size, 2 * self.hidden_size, device, dtype)        # [Re h, Im h]

    def rotations(self) -> tuple[Tensor, Tensor, Tensor]:
        """Per layer the vectors of ``h' = v ⊙ h + w ⊙ h[partner]``: ``v``, ``w`` (L, 2N), then the
        diagonal ``e^{iω}`` (2N,), each complex vector as ``[re | im]`` (real arithmetic throughout, so
        the step exports to ONNX, which has no complex type). Units a layer leaves alone have v = 1, w = 0."""
        N = self.hidden_size
        one, zero = self.omega.new_ones(N), self.omega.new_zeros(N)
        vs, ws = [], []
        for l in range(self.capacity):
            if not len(self.theta[l]):                                       # a layer with no pair (N = 2)
                vs.append(torch.cat([one, zero])), ws.append(torch.cat([zero, zero]))
                continue
            pair, first, second = self._pair[l], self._role[l] == 0, self._role[l] == 1
            theta, phi = self.theta[l][pair], self.phi[l][pair]                    # (N,) each unit's angles
            c, s, pc, ps = torch.cos(theta), torch.sin(theta), torch.cos(phi), torch.sin(phi)
            # R(θ, φ) on the pair (a, b): a' = e^{iφ}(c a - s b), b' = s a + c b
            vs.append(torch.cat([torch.where(first, pc * c, torch.where(second, c, one)),
                                 torch.where(first, ps * c, zero)]))
            ws.append(torch.cat([torch.where(first, -pc * s, torch.where(second, s, zero)),
                                 torch.where(first, -ps * s, zero)]))
        diag = torch.cat([torch.cos(self.omega), torch.sin(self.omega)])
        return torch.stack(vs), torch.stack(ws), diag

    def rotate(self, h: Tensor, coefficients: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        """``W h`` for ``h`` (B, 2N) as ``[re | im]``: one vectorised pass per layer, then the phases."""
        N = self.hidden_size
        v, w, diag = coefficients
        re, im = h[:, :N], h[:, N:]
        for l in range(self.capacity):
            p = self._partner[l]
            v_re, v_im, w_re, w_im = v[l, :N], v[l, N:], w[l, :N], w[l, N:]
            re, im = (v_re * re - v_im * im + w_re * re[:, p] - w_im * im[:, p],
                      v_re * im + v_im * re + w_re * im[:, p] + w_im * re[:, p])
        d_re, d_im = diag[:N], diag[N:]
        return torch.cat([d_re * re - d_im * im, d_re * im + d_im * re], dim=-1)

    def recurrent_matrix(self) -> Tensor:
        """The dense unitary ``W`` (N, N), complex: the rotations applied to the identity's columns."""
        N = self.hidden_size
        eye = torch.eye(N, dtype=self.omega.dtype, device=self.omega.device)
        columns = self.rotate(torch.cat([eye, torch.zeros_like(eye)], dim=-1), self.rotations())   # (N, 2N)
        return torch.complex(columns[:, :N], columns[:, N:]).T

    def project_input(self, x: Tensor) -> Tensor:
        """``U x`` as ``[Re, Im]`` (..., 2N), for all steps at once."""
        return x @ self.weight_ih

    def step(self, gx: Tensor, state: Tensor, coefficients=None) -> tuple[Tensor, Tensor]:
        """One step from the projected input ``gx`` (B, 2N); ``coefficients`` from ``rotations()`` when a
        runner computes them once per sequence."""
        N = self.hidden_size
        coefficients = coefficients if coefficients is not None else self.rotations()
        z = self.rotate(state, coefficients) + gx                                    # (B, 2N)
        re, im = mod_relu(z[:, :N], z[:, N:], self.bias, self.eps)
        h = torch.cat([re, im], dim=-1)                                              # (B, 2N)
        return (self.out(h) if self.out is not None else h), h

    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        self.check_step_input(x)
        return self.step(self.project_input(x), state)

    def extra_repr(self) -> str:
        layout = "fft" if self.fft else f"capacity={self.capacity}"
        return f"{self.input_size}, {self.hidden_size}, {layout}, output_size={self.output_size}"
