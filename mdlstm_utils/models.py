"""Next-state language models over discrete state tokens.

A model reads a sequence of state labels ``s_1 .. s_t`` and returns logits of
``p(s_{t+1} | s_1 .. s_t)`` over the ``n_states`` tokens. Every model has the
same interface, used by :mod:`mdlstm_utils.train` and
:mod:`mdlstm_utils.generate`:

* ``forward(tokens, state=None) -> (logits, state)`` on a ``(batch, time)``
  tensor of ``int64`` labels;
* ``init_state(batch_size, device)`` and ``step(tokens, state) -> (logits, state)``
  for step-by-step generation, carrying the recurrent state (no re-encoding);
* ``config``: the constructor arguments, so a checkpoint can rebuild the model.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LSTMLM", "model_from_config", "count_parameters"]


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


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
    """

    def __init__(
        self,
        n_states: int,
        embed_dim: int = 64,
        hidden_dim: int = 128,
        n_layers: int = 1,
        dropout: float = 0.0,
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
        self.n_states = n_states
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.embed = nn.Embedding(n_states, embed_dim)
        self.lstm = nn.LSTM(
            embed_dim, hidden_dim, num_layers=n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0.0
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_dim, n_states)

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        if tokens.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"tokens must be an integer tensor, got dtype {tokens.dtype}")

    def forward(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Logits for every position: ``(batch, time)`` tokens -> ``(batch, time, n_states)``."""
        self._check_tokens(tokens)
        h, state = self.lstm(self.embed(tokens.long()), state)
        return self.head(self.drop(h)), state

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
        return self.head(x), (torch.stack(hs), torch.stack(cs))


_MODELS: dict[str, type[nn.Module]] = {"LSTMLM": LSTMLM}


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
