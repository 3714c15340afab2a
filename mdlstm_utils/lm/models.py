"""Next-state language models over discrete state tokens.

A model reads a sequence of state labels ``s_1 .. s_t`` and returns logits of
``p(s_{t+1} | s_1 .. s_t)`` over the ``n_states`` tokens. Every model has the
same interface, used by :mod:`mdlstm_utils.lm.train` and
:mod:`mdlstm_utils.lm.generate`:

* ``forward(tokens, state=None) -> (logits, state)`` on a ``(batch, time)``
  tensor of ``int64`` labels;
* ``init_state(batch_size, device)`` and ``step(tokens, state) -> (logits, state)``
  for step-by-step generation, carrying the recurrent state (LSTM) or a
  key/value cache (Transformer), so a step costs one token's work (no re-encoding);
* ``config``: the constructor arguments, so a checkpoint can rebuild the model.

Models with a finite memory (:class:`TransformerLM`) also have
``receptive_field``: the number of most recent tokens that determine the next
distribution. The LSTM has none (its memory is unbounded).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mdlstm_utils._checks import check_int as _check_int

__all__ = ["LSTMLM", "TransformerLM", "KVCache", "LSTMConfig", "TransformerConfig", "model_from_config",
           "count_parameters"]


@dataclass(frozen=True)
class LSTMConfig:
    """The sizes of an :class:`LSTMLM`; the defaults are the suite's LSTM (embedding 32, one layer of 128 units).

    ``build(n_states)`` makes the model for a vocabulary of ``n_states`` tokens, ``replace(...)`` a changed copy.
    """

    embed_dim: int = 32
    hidden_dim: int = 128
    n_layers: int = 1
    dropout: float = 0.0
    msm_prior: bool = False  # logits start from a lag-1 MSM's (see LSTMLM)

    def build(self, n_states: int) -> LSTMLM:
        return LSTMLM(n_states, **asdict(self))

    def replace(self, **changes) -> "LSTMConfig":
        return replace(self, **changes)


@dataclass(frozen=True)
class TransformerConfig:
    """The sizes of a :class:`TransformerLM`; the defaults are the suite's Transformer (``d_model`` 96, 4 heads,
    2 layers, attention window 128), about as many parameters as the default LSTM on a few states.
    """

    d_model: int = 96
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int | None = None
    dropout: float = 0.0
    context: int = 128

    def build(self, n_states: int) -> TransformerLM:
        return TransformerLM(n_states, **asdict(self))

    def replace(self, **changes) -> "TransformerConfig":
        return replace(self, **changes)


class LSTMLM(nn.Module):
    """Embedding -> LSTM -> linear over states (the model of Tsai, Kuo & Tiwary, 2020).

    Parameters
    ----------
    n_states
        Vocabulary size: the number of state labels.
    embed_dim, hidden_dim, n_layers
        Embedding width, LSTM hidden size and number of stacked LSTM layers.
    dropout
        Dropout between LSTM layers and before the output layer (training only).
    msm_prior
        Start from a Markov state model: the logits of the next state are
        ``log T[s_t] + head(h_t)``, where ``T`` is a transition matrix given by
        :meth:`set_prior` (a lag-1 MSM of the training labels, set by
        :func:`~mdlstm_utils.lm.experiment.learn_and_compare`) and the output layer
        starts at zero. An untrained model is then exactly the MSM; training
        learns only the correction that the history adds. A remedy for the rare
        transitions that the next-token loss barely sees: the model no longer
        has to learn them from scratch. Measured with the recipe and 3 seeds
        (``bench/bench_convergence.py``): on the toy's microstates it halves
        the slow-process error (0.34 against 0.68; the MSM baseline 0.13), on
        its two core sets it does not help (0.40 against 0.29, a wide spread).
    """

    #: ``step`` keeps a state of fixed shape and no Python-side counters, so a
    #: block of steps can be captured in a CUDA graph (see :mod:`~mdlstm_utils.lm.generate`).
    graph_safe_step = True

    def __init__(
        self,
        n_states: int,
        embed_dim: int = LSTMConfig.embed_dim,
        hidden_dim: int = LSTMConfig.hidden_dim,
        n_layers: int = LSTMConfig.n_layers,
        dropout: float = LSTMConfig.dropout,
        msm_prior: bool = LSTMConfig.msm_prior,
    ) -> None:
        super().__init__()
        _check_int("n_states", n_states, 2)
        _check_int("embed_dim", embed_dim, 1)
        _check_int("hidden_dim", hidden_dim, 1)
        _check_int("n_layers", n_layers, 1)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.config = {
            "kind": "LSTMLM",
            "n_states": n_states,
            "embed_dim": embed_dim,
            "hidden_dim": hidden_dim,
            "n_layers": n_layers,
            "dropout": float(dropout),
        }
        if msm_prior:
            self.config["msm_prior"] = True  # only when on, so that older configs and checkpoints stay the same
        self.msm_prior = bool(msm_prior)
        self.n_states = n_states
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.embed = nn.Embedding(n_states, embed_dim)
        self.lstm = nn.LSTM(
            embed_dim, hidden_dim, num_layers=n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0.0
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_dim, n_states)
        if self.msm_prior:
            self.register_buffer("prior_logits", torch.zeros(n_states, n_states))
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def set_prior(self, transition_matrix) -> None:
        """Set the MSM the logits start from (``msm_prior=True`` only): a row-stochastic ``(n_states, n_states)``
        matrix with no zero entries (smooth the counts, as :meth:`~mdlstm_utils.kinetics.markov.MarkovChain.transition_matrix` does)."""
        if not self.msm_prior:
            raise ValueError("set_prior needs a model built with msm_prior=True")
        t = torch.as_tensor(np.asarray(transition_matrix, dtype=np.float64))
        if t.shape != (self.n_states, self.n_states):
            raise ValueError(f"transition_matrix must be ({self.n_states}, {self.n_states}), got {tuple(t.shape)}")
        if not bool(torch.all(t > 0)) or not torch.allclose(t.sum(1), torch.ones(self.n_states, dtype=t.dtype), atol=1e-6):
            raise ValueError("transition_matrix must have positive entries and rows that sum to 1")
        self.prior_logits.copy_(torch.log(t).to(self.prior_logits))

    def _prior(self, tokens: torch.Tensor) -> torch.Tensor | float:
        return self.prior_logits[tokens.long()] if self.msm_prior else 0.0

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        if tokens.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"tokens must be an integer tensor, got dtype {tokens.dtype}")

    def forward(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Logits for every position: ``(batch, time)`` tokens -> ``(batch, time, n_states)``."""
        self._check_tokens(tokens)
        h, state = self.lstm(self.embed(tokens.long()), state)
        return self.head(self.drop(h)) + self._prior(tokens), state

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Zero ``(h, c)``, each of shape ``(n_layers, batch, hidden_dim)``."""
        w = self.head.weight
        z = torch.zeros(self.n_layers, batch_size, self.hidden_dim, device=device, dtype=w.dtype)
        return z, z.clone()

    def step(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One generation step: ``(batch,)`` tokens -> ``(batch, n_states)`` logits and the new state.

        Uses the LSTM's own weights through fused LSTM cells, which is faster than
        calling ``nn.LSTM`` on length-1 sequences and gives the same numbers.
        """
        h0, c0 = state
        x = self.embed(tokens.long())
        hs, cs = [], []
        for k in range(self.n_layers):
            h, c = torch.lstm_cell(
                x,
                (h0[k], c0[k]),
                getattr(self.lstm, f"weight_ih_l{k}"),
                getattr(self.lstm, f"weight_hh_l{k}"),
                getattr(self.lstm, f"bias_ih_l{k}"),
                getattr(self.lstm, f"bias_hh_l{k}"),
            )
            hs.append(h)
            cs.append(c)
            x = h
        return self.head(x) + self._prior(tokens), (torch.stack(hs), torch.stack(cs))

    @torch.no_grad()
    def step_function(self) -> Callable[[torch.Tensor, tuple[torch.Tensor, torch.Tensor]],
                                        tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]]:
        """A function with the signature and results of :meth:`step` that does less work per step (for generation).

        The first layer's input projection is computed once for every state
        (``embedding @ W_ih.T + b_ih + b_hh``, a ``(n_states, 4 * hidden_dim)``
        table), so a step looks its gates' input part up instead of multiplying
        an embedding: one gather and one hidden-to-hidden matrix product per
        layer. On CUDA the gate nonlinearities run in the same fused kernel that
        ``torch.lstm_cell`` uses. The numbers equal :meth:`step`'s up to float
        rounding; a test compares them.

        The function holds a snapshot of the current weights: build a new one
        after they change (:func:`~mdlstm_utils.lm.generate.generate` builds one per
        call). Inference only: it records no gradients.
        """
        w_hh0 = self.lstm.weight_hh_l0.detach().clone()  # layers above the first keep all four of theirs in `upper`
        table = (self.embed.weight @ self.lstm.weight_ih_l0.T + self.lstm.bias_ih_l0 + self.lstm.bias_hh_l0).detach()
        upper = [
            tuple(getattr(self.lstm, f"{n}_l{k}").detach().clone() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            for k in range(1, self.n_layers)
        ]
        head_w, head_b = self.head.weight.detach().clone(), self.head.bias.detach().clone()
        prior = self.prior_logits.detach().clone() if self.msm_prior else None
        fused = torch.ops.aten._thnn_fused_lstm_cell if table.is_cuda else None

        def first_cell(tokens, h0, c0):
            gates_in = table.index_select(0, tokens.long())
            gates_h = h0 @ w_hh0.T
            if fused is not None:
                h, c, _ = fused(gates_in, gates_h, c0)
                return h, c
            i, f, g, o = (gates_in + gates_h).chunk(4, dim=1)
            c = torch.sigmoid(f) * c0 + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c

        def step(tokens, state):
            h0, c0 = state
            h, c = first_cell(tokens, h0[0], c0[0])
            hs, cs = [h], [c]
            for k, weights in enumerate(upper, start=1):
                h, c = torch.lstm_cell(h, (h0[k], c0[k]), *weights)
                hs.append(h)
                cs.append(c)
            logits = torch.addmm(head_b, h, head_w.T)
            if prior is not None:
                logits = logits + prior.index_select(0, tokens.long())
            if len(hs) == 1:
                return logits, (h.unsqueeze(0), c.unsqueeze(0))
            return logits, (torch.stack(hs), torch.stack(cs))

        return step


class KVCache(NamedTuple):
    """Sliding-window key/value cache of a :class:`TransformerLM` (its generation state).

    ``keys`` and ``values`` are ring buffers of shape
    ``(n_layers, batch, n_heads, context, head_dim)``: the token at absolute
    position ``p`` sits in slot ``p % context``, with its rotary position
    already applied. ``length`` is the number of tokens read so far (the
    absolute position of the next one); only the last ``min(length, context)``
    slots hold keys. :meth:`TransformerLM.step` updates the buffers in place,
    so a cache that was passed to ``step`` must not be used again.
    """

    keys: torch.Tensor
    values: torch.Tensor
    length: int


def _rope_angles(inv_freq: torch.Tensor, start: int, n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` of the rotary angles of positions ``start .. start + n - 1``, shape ``(n, head_dim / 2)``.

    The angles are formed in float64, so positions of very long generated
    trajectories (millions of frames) keep float32-exact relative rotations.
    """
    dev = inv_freq.device
    if dev.type == "mps":  # no float64 on MPS: compute on the CPU and move
        cos, sin = _rope_angles(inv_freq.cpu(), start, n, dtype)
        return cos.to(dev), sin.to(dev)
    ang = torch.arange(start, start + n, dtype=torch.float64, device=dev)[:, None] * inv_freq[None, :]
    return ang.cos().to(dtype), ang.sin().to(dtype)


def _apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the two halves of the last dimension of ``x`` (``(..., time, head_dim)``) by the given angles."""
    h = x.shape[-1] // 2
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


class _Block(nn.Module):
    """Pre-norm Transformer block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))`` (attention done by the model)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)


class TransformerLM(nn.Module):
    """Causal decoder-only Transformer over state tokens with rotary positions and sliding-window attention.

    Token embedding, ``n_layers`` pre-norm blocks (LayerNorm -> multi-head
    self-attention -> residual; LayerNorm -> GELU MLP -> residual), a final
    LayerNorm and a linear head over the ``n_states`` tokens. Positions enter
    through rotary embeddings (RoPE) of queries and keys, so attention depends
    only on the distance between two tokens: a key cached at one absolute
    position stays exact however far the window has slid.

    Every attention layer sees at most the last ``context`` tokens (itself
    included): sequences up to ``context`` long get plain causal attention,
    longer ones a causal band of width ``context``. Because layer ``l`` reads
    layer ``l - 1`` states that themselves saw ``context`` tokens, the next-step
    distribution depends on the last :attr:`receptive_field`
    ``= n_layers * (context - 1) + 1`` tokens. :meth:`step` with its
    :class:`KVCache` gives the same logits as :meth:`forward` over the whole
    history, and as re-encoding the last ``receptive_field`` tokens (for
    ``n_layers=1`` that is the last ``context`` tokens).

    Parameters
    ----------
    n_states
        Vocabulary size: the number of state labels.
    d_model, n_heads, n_layers
        Model width, attention heads (``d_model / n_heads`` must be even for
        the rotary embedding) and number of blocks.
    d_ff
        Width of the MLP hidden layer; ``None`` for ``4 * d_model``.
    dropout
        Dropout on attention weights and on each residual branch (training only).
    context
        Attention window: the most tokens one attention layer looks at, and the
        size of the generation cache. Training windows (``seq_len`` of
        :func:`mdlstm_utils.lm.train.fit`) up to ``context`` use causal attention
        from the window's start; longer ones train the sliding window itself.
    rope_base
        Base of the rotary frequencies.
    """

    def __init__(
        self,
        n_states: int,
        d_model: int = TransformerConfig.d_model,
        n_heads: int = TransformerConfig.n_heads,
        n_layers: int = TransformerConfig.n_layers,
        d_ff: int | None = TransformerConfig.d_ff,
        dropout: float = TransformerConfig.dropout,
        context: int = TransformerConfig.context,
        rope_base: float = 10000.0,
    ) -> None:
        super().__init__()
        _check_int("n_states", n_states, 2)
        _check_int("d_model", d_model, 2)
        _check_int("n_heads", n_heads, 1)
        _check_int("n_layers", n_layers, 1)
        _check_int("context", context, 1)
        if d_ff is None:
            d_ff = 4 * d_model
        _check_int("d_ff", d_ff, 1)
        if d_model % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads, got d_model={d_model}, n_heads={n_heads}")
        if (d_model // n_heads) % 2:
            raise ValueError(
                f"the head width d_model / n_heads must be even for rotary embeddings, "
                f"got {d_model} / {n_heads} = {d_model // n_heads}"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        if isinstance(rope_base, bool) or not isinstance(rope_base, (int, float)) or not (
            math.isfinite(rope_base) and rope_base > 1.0
        ):
            raise ValueError(f"rope_base must be a finite number > 1, got {rope_base!r}")
        self.config = {
            "kind": "TransformerLM",
            "n_states": n_states,
            "d_model": d_model,
            "n_heads": n_heads,
            "n_layers": n_layers,
            "d_ff": d_ff,
            "dropout": float(dropout),
            "context": context,
            "rope_base": float(rope_base),
        }
        self.n_states = n_states
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.head_dim = d_model // n_heads
        self.context = context
        self.dropout = float(dropout)
        self.embed = nn.Embedding(n_states, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, d_ff, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_states)
        self._inv_freq64: dict[torch.device, torch.Tensor] = {}
        self.apply(self._init_weights)
        for blk in self.blocks:  # GPT-2: scale the residual projections with depth
            for lin in (blk.proj, blk.mlp[2]):
                nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * n_layers))

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    @property
    def receptive_field(self) -> int:
        """Number of most recent tokens that determine the next-step distribution."""
        return self.n_layers * (self.context - 1) + 1

    def _inv_freq(self, device: torch.device) -> torch.Tensor:
        """Rotary frequencies in float64 on ``device`` (kept out of the state dict and of ``.to(dtype)``)."""
        f = self._inv_freq64.get(device)
        if f is None:
            base = self.config["rope_base"]
            f = base ** (-torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim)
            f = f if device.type == "mps" else f.to(device)
            self._inv_freq64[device] = f
        return f

    def _check_tokens(self, tokens: torch.Tensor, ndim: int) -> None:
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"tokens must be a torch.Tensor, got {type(tokens).__name__}")
        if tokens.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"tokens must be an integer tensor, got dtype {tokens.dtype}")
        if tokens.ndim != ndim or tokens.numel() == 0:
            want = "(batch, time)" if ndim == 2 else "(batch,)"
            raise ValueError(f"tokens must be a non-empty tensor of shape {want}, got shape {tuple(tokens.shape)}")

    def _check_state(self, state, batch: int) -> None:
        if not isinstance(state, KVCache):
            raise TypeError(
                f"state must be a KVCache from TransformerLM.init_state / forward / step, got {type(state).__name__}"
            )
        want = (self.n_layers, batch, self.n_heads, self.context, self.head_dim)
        if tuple(state.keys.shape) != want or tuple(state.values.shape) != want:
            raise ValueError(
                f"state holds a cache of shape {tuple(state.keys.shape)}, expected {want} "
                f"(n_layers, batch, n_heads, context, head_dim) for this model and batch {batch}"
            )

    def _split_heads(self, blk: _Block, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        b, t, _ = x.shape
        q, k, v = blk.qkv(blk.norm1(x)).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return _apply_rope(q, cos, sin), _apply_rope(k, cos, sin), v

    def _merge(self, blk: _Block, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        b, _, t, _ = a.shape
        x = x + blk.drop(blk.proj(a.transpose(1, 2).reshape(b, t, self.d_model)))
        return x + blk.drop(blk.mlp(blk.norm2(x)))

    def forward(self, tokens: torch.Tensor, state: KVCache | None = None) -> tuple[torch.Tensor, KVCache]:
        """Logits for every position: ``(batch, time)`` tokens -> ``(batch, time, n_states)``, and the cache.

        With ``state=None`` the tokens are a sequence of their own (training).
        With a :class:`KVCache` they continue the sequence it holds (e.g. a
        prompt read before :meth:`step`); that cache is not modified. The
        returned cache holds the keys and values of the last ``context``
        positions (detached from autograd).
        """
        self._check_tokens(tokens, 2)
        b, t = tokens.shape
        w = self.context
        start = 0 if state is None else state.length
        if state is not None:
            self._check_state(state, b)
        n_old = min(start, w)
        s = n_old + t
        dev = tokens.device
        cos, sin = _rope_angles(self._inv_freq(dev), start, t, self.head.weight.dtype)
        if n_old == 0 and t <= w:
            mask, causal = None, True
        else:  # causal band of width `context` over (cached + new) keys
            q_pos = torch.arange(start, start + t, device=dev)[:, None]
            k_pos = torch.arange(start - n_old, start + t, device=dev)[None, :]
            mask, causal = (k_pos <= q_pos) & (q_pos - k_pos < w), False
        m = min(w, s)  # positions kept in the returned cache
        slots = torch.arange(start + t - m, start + t, device=dev) % w
        cache_shape = (self.n_layers, b, self.n_heads, w, self.head_dim)
        keys = torch.zeros(cache_shape, device=dev, dtype=self.head.weight.dtype)
        values = torch.zeros_like(keys)
        p = self.dropout if self.training else 0.0
        x = self.embed(tokens.long())
        for i, blk in enumerate(self.blocks):
            q, k, v = self._split_heads(blk, x, cos, sin)
            if n_old:
                k = torch.cat((self._chronological(state.keys[i], start).to(k.dtype), k), dim=2)
                v = torch.cat((self._chronological(state.values[i], start).to(v.dtype), v), dim=2)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
            x = self._merge(blk, x, a)
            keys[i].index_copy_(2, slots, k[:, :, s - m :].detach().to(keys.dtype))
            values[i].index_copy_(2, slots, v[:, :, s - m :].detach().to(values.dtype))
        return self.head(self.norm(x)), KVCache(keys, values, start + t)

    def _chronological(self, buf: torch.Tensor, length: int) -> torch.Tensor:
        """The valid part of a ring buffer ``(batch, heads, context, head_dim)``, oldest position first."""
        w = self.context
        if length <= w:
            return buf[:, :, :length]
        r = length % w
        return torch.cat((buf[:, :, r:], buf[:, :, :r]), dim=2)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> KVCache:
        """An empty :class:`KVCache` for ``batch_size`` sequences."""
        _check_int("batch_size", batch_size, 1)
        shape = (self.n_layers, batch_size, self.n_heads, self.context, self.head_dim)
        keys = torch.zeros(shape, device=device, dtype=self.head.weight.dtype)
        return KVCache(keys, torch.zeros_like(keys), 0)

    def step(self, tokens: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        """One generation step: ``(batch,)`` tokens -> ``(batch, n_states)`` logits and the advanced cache.

        The token's keys and values are written into ring slot
        ``length % context`` of every layer (in place), overwriting the oldest
        position once the window is full, and the token attends to the
        ``min(length + 1, context)`` cached positions: one token's work per
        step, whatever the length of the trajectory.
        """
        self._check_tokens(tokens, 1)
        b = tokens.shape[0]
        self._check_state(state, b)
        pos = state.length
        slot = pos % self.context
        n = min(pos + 1, self.context)
        cos, sin = _rope_angles(self._inv_freq(tokens.device), pos, 1, self.head.weight.dtype)
        x = self.embed(tokens.long())[:, None, :]
        for i, blk in enumerate(self.blocks):
            q, k, v = self._split_heads(blk, x, cos, sin)
            state.keys[i, :, :, slot] = k[:, :, 0]
            state.values[i, :, :, slot] = v[:, :, 0]
            a = F.scaled_dot_product_attention(q, state.keys[i, :, :, :n], state.values[i, :, :, :n])
            x = self._merge(blk, x, a)
        return self.head(self.norm(x[:, 0])), KVCache(state.keys, state.values, pos + 1)


_MODELS: dict[str, type[nn.Module]] = {"LSTMLM": LSTMLM, "TransformerLM": TransformerLM}


def model_from_config(config: dict) -> nn.Module:
    """Rebuild a model (untrained weights) from its ``config`` dict."""
    if not isinstance(config, dict) or "kind" not in config:
        raise ValueError(f"config must be a model config dict with a 'kind' key, got {config!r}")
    kind = config["kind"]
    if kind not in _MODELS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(_MODELS)}")
    kwargs = {k: v for k, v in config.items() if k != "kind"}
    return _MODELS[kind](**kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
