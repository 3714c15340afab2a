"""Shared checks for the language-model tests: what a model predicts, read without sampling."""

import numpy as np
import torch

from mdlstm_utils.kinetics import transition_counts


@torch.no_grad()
def predicted_transition_matrix(model, data: np.ndarray, window: int) -> np.ndarray:
    """Mean predicted next-state distribution per current state over ``data`` cut into windows.

    For data from a Markov chain a perfect model predicts the chain's row
    whatever the history, so this is the transition matrix the model has
    learned, free of the sampling noise of generated trajectories.
    """
    model.eval()
    n = model.n_states
    x = np.asarray(data)
    x = x[:, : x.shape[1] // window * window].reshape(-1, window)
    probs = torch.softmax(model(torch.as_tensor(x))[0].float(), dim=-1).numpy().reshape(-1, n)
    cur = x.reshape(-1)
    return np.stack([probs[cur == i].mean(0) for i in range(n)])


def empirical_transition_matrix(data: np.ndarray, n_states: int) -> np.ndarray:
    """Row-normalized transition counts at lag 1: what the data let a model learn."""
    c = transition_counts(data, n_states, 1)
    return c / c.sum(1, keepdims=True)
