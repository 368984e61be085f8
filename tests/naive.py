"""Naive re-implementations of the seeds' equations, one gate at a time, one sequence at a time.

Nothing here is shared with rnnkit's cells except the parameter tensors they read: every gate has
its own matrix slice, the loop runs one sequence for exactly its length, and reversal is a Python
``reversed``. The tests compare rnnkit's batched, masked, reversed ``unroll`` against these.
"""
from __future__ import annotations

import torch


def _gate(W, k, H):
    """Block k (width H) of a weight stored (in, G*H)."""
    return W[..., k * H:(k + 1) * H]


def elman_step(cell, x, h):
    """The Theano notebook: h_t = act(x_t W_ih + h_{t-1} W_hh + b_h); o_t = act_o(h_t W_ho + b_o)."""
    pre = x @ cell.weight_ih + h @ cell.weight_hh
    if cell.bias is not None:
        pre = pre + cell.bias
    h = {"tanh": torch.tanh, "relu": torch.relu}[cell.activation_name](pre)
    if cell.has_output_map:
        return cell.act_o(h @ cell.weight_ho + cell.bias_o), h
    return h, h


def basic_step(cell, x, s):
    """Albert's notes: u(x, s) = f(A_u x + B_u s), v(x, s) = tanh(A_v x + B_v s) (+ biases)."""
    u = x @ cell.A_u + s @ cell.B_u
    v = x @ cell.A_v + s @ cell.B_v
    if cell.b_u is not None:
        u, v = u + cell.b_u, v + cell.b_v
    return cell.f(u), torch.tanh(v)


def _layer_norm(v, ln):
    mu = v.mean(-1, keepdim=True)
    var = ((v - mu) ** 2).mean(-1, keepdim=True)
    out = (v - mu) / torch.sqrt(var + ln.eps) * ln.weight
    return out + ln.bias if ln.bias is not None else out


def lstm_step(cell, x, state):
    """The RNN 1 notes' LSTM (u = update, i = input, o = output, f = forget) with TF1's options (the ML@B slides)."""
    h, c = state
    H = cell.hidden_size
    act = {"tanh": torch.tanh, "relu": torch.relu, "softsign": torch.nn.functional.softsign}[cell.activation_name]
    names = ["i", "f", "u", "o"] if cell.forget_gate else ["i", "u", "o"]
    xw = x @ cell.weight_ih
    hw = h @ cell.weight_hh
    if cell.layer_norm:
        xw, hw = _layer_norm(xw, cell.ln_ih), _layer_norm(hw, cell.ln_hh)
    a = {}
    for k, name in enumerate(names):
        a[name] = _gate(xw, k, H) + _gate(hw, k, H)
        if cell.bias is not None:
            a[name] = a[name] + _gate(cell.bias, k, H)
    if cell.peepholes:
        a["i"] = a["i"] + cell.weight_ci * c
        if cell.forget_gate:
            a["f"] = a["f"] + cell.weight_cf * c
    i = torch.sigmoid(a["i"])
    u = act(a["u"])
    if cell.forget_gate:
        f = torch.sigmoid(a["f"] + cell.forget_bias)
        c_new = f * c + i * u
    else:
        c_new = c + i * u
    if cell.cell_clip is not None:
        c_new = torch.clamp(c_new, -cell.cell_clip, cell.cell_clip)
    if cell.peepholes:
        a["o"] = a["o"] + cell.weight_co * c_new
    o = torch.sigmoid(a["o"])
    m = o * act(_layer_norm(c_new, cell.ln_c) if cell.layer_norm else c_new)
    if cell.proj_size:
        m = m @ cell.weight_proj
        if cell.proj_clip is not None:
            m = torch.clamp(m, -cell.proj_clip, cell.proj_clip)
    return m, (m, c_new)


def gru_step(cell, x, h):
    """GRU, gate order r, z, n; Albert's notes' B_v(R o y) when reset_after=False."""
    H = cell.hidden_size
    xw, hw = x @ cell.weight_ih, h @ cell.weight_hh
    if cell.layer_norm:
        xw, hw = _layer_norm(xw, cell.ln_ih), _layer_norm(hw, cell.ln_hh)
    bi = cell.bias_ih if cell.bias_ih is not None else torch.zeros(3 * H, dtype=x.dtype)
    bh = cell.bias_hh if cell.bias_hh is not None else torch.zeros(3 * H, dtype=x.dtype)
    r = torch.sigmoid(_gate(xw, 0, H) + _gate(bi, 0, H) + _gate(hw, 0, H) + _gate(bh, 0, H))
    z = torch.sigmoid(_gate(xw, 1, H) + _gate(bi, 1, H) + _gate(hw, 1, H) + _gate(bh, 1, H))
    if cell.reset_after:
        n = torch.tanh(_gate(xw, 2, H) + _gate(bi, 2, H) + r * (_gate(hw, 2, H) + _gate(bh, 2, H)))
    else:
        n = torch.tanh(_gate(xw, 2, H) + _gate(bi, 2, H) + (r * h) @ _gate(cell.weight_hh, 2, H) + _gate(bh, 2, H))
    h = z * h + (1 - z) * n
    return h, h


def run_sequence(step, cell, x, s0, reverse=False):
    """Step one sequence x (T, D) from state s0 (leaves of shape (1, ...)); returns outputs (T, O), final state."""
    T = x.shape[0]
    order = list(reversed(range(T))) if reverse else list(range(T))
    ys = [None] * T
    s = s0
    for t in order:
        y, s = step(cell, x[t:t + 1], s)
        ys[t] = y[0]
    return (torch.stack(ys) if ys else None), s


def _positive(v):
    return torch.where(v >= 0, v + 0.5, 1 / (1 + torch.exp(-v)))


_G = {"positive": _positive, "identity": lambda v: v, "tanh": torch.tanh}


def mingru_step(cell, x, h):
    """Feng et al. 2024, minGRU: z = sigma(x W_z + b_z), h~ = g(x W_h + b_h), h = (1 - z) h + z h~."""
    H = cell.hidden_size
    W, b = cell.weight_ih, cell.bias
    z = 1 / (1 + torch.exp(-(x @ W[:, :H] + b[:H])))
    cand = _G[cell.activation_name](x @ W[:, H:] + b[H:])
    h = (1 - z) * h + z * cand
    return h, h


def minlstm_step(cell, x, h):
    """Feng et al. 2024, minLSTM: f, i = sigma(.), normalised by f + i; h = f' h + i' g(x W_h + b_h)."""
    H = cell.hidden_size
    W, b = cell.weight_ih, cell.bias
    f = 1 / (1 + torch.exp(-(x @ W[:, :H] + b[:H])))
    i = 1 / (1 + torch.exp(-(x @ W[:, H:2 * H] + b[H:2 * H])))
    cand = _G[cell.activation_name](x @ W[:, 2 * H:] + b[2 * H:])
    h = f / (f + i) * h + i / (f + i) * cand
    return h, h


def rotation_matrix(n, a, b, theta, phi):
    """The N×N identity with the 2×2 rotation R(theta, phi) of Jing et al. 2017 on units (a, b)."""
    R = torch.eye(n, dtype=torch.complex128)
    e = torch.exp(1j * phi.to(torch.complex128))
    c, s = torch.cos(theta).to(torch.complex128), torch.sin(theta).to(torch.complex128)
    R[a, a], R[a, b], R[b, a], R[b, b] = e * c, -e * s, s, c
    return R


def eunn_matrix(cell):
    """W = D F_L ... F_1 as a dense product of one N×N matrix per rotation, in complex128."""
    n = cell.hidden_size
    W = torch.eye(n, dtype=torch.complex128)
    for l, pairs in enumerate(cell.layers):
        for k, (a, b) in enumerate(pairs):
            W = rotation_matrix(n, a, b, cell.theta[l][k], cell.phi[l][k]) @ W
    return torch.diag(torch.exp(1j * cell.omega.to(torch.complex128))) @ W


def eunn_step(cell, x, h):
    """Jing et al. 2017: h = modReLU(W h + U x) with W the dense product above, complex arithmetic;
    |z| is taken as sqrt(|z|^2 + 1e-10), the cell's guard against dividing by zero."""
    n = cell.hidden_size
    z_prev = torch.complex(h[:, :n], h[:, n:])
    u = x @ cell.weight_ih
    z = z_prev @ eunn_matrix(cell).T + torch.complex(u[:, :n], u[:, n:])
    modulus = torch.sqrt(z.abs() ** 2 + 1e-10)
    z = z / modulus * torch.relu(modulus + cell.bias)
    h = torch.cat([z.real, z.imag], dim=-1)
    return (cell.out(h) if cell.out is not None else h), h
