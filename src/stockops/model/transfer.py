"""Parent -> child transfer: start a child's network from its parent's weights.

A parent (``^GSPC`` by default) has decades of history; a child ticker may have a few years. The parent's
LSTM has learned how return/momentum/volatility features evolve; the child reuses that and adapts:

* ``freeze``: the LSTM keeps the parent's weights bit for bit (``requires_grad=False``, and the optimiser
  only sees trainable parameters), only the head learns the child's mapping. Cheapest, least overfitting.
* ``fine-tune``: every parameter trains, at a lower learning rate
  (:meth:`~stockops.model.config.TransferConfig.effective_learning_rate`) so it adjusts the parent's
  representation instead of overwriting it.

Transfer only makes sense between identical input/output definitions, so anything that differs (feature
columns, feature-set version, window, network shape) is refused with :class:`TransferError` listing
every difference.
"""

from __future__ import annotations

from stockops.model.bundle import FeatureSpec, ModelBundle
from stockops.model.config import ModelConfig, TransferStrategy
from stockops.model.network import LSTMForecaster

SHAPE_FIELDS = ("hidden_size", "num_layers", "context_days", "horizon_days")


class TransferError(ValueError):
    """The parent cannot seed this child (incompatible spec or model, unknown strategy)."""


def transfer_incompatibilities(
    parent: ModelBundle, child_feature_spec: FeatureSpec, child_model_config: ModelConfig | None = None
) -> list[str]:
    """Every reason the parent cannot seed the child; empty when transfer is possible."""
    problems = [
        f"feature spec {d} (parent vs child)" for d in parent.feature_spec.differences(child_feature_spec)
    ]
    if child_model_config is not None:
        for name in SHAPE_FIELDS:
            mine, theirs = getattr(parent.model_config, name), getattr(child_model_config, name)
            if mine != theirs:
                problems.append(f"model {name}: parent {mine} != child {theirs}")
    return problems


def prepare_transfer(
    parent: ModelBundle,
    strategy: TransferStrategy,
    child_feature_spec: FeatureSpec,
    child_model_config: ModelConfig | None = None,
) -> LSTMForecaster:
    """A network for the child, holding the parent's weights, with ``strategy`` applied.

    The network uses the parent's shape; ``child_model_config`` (if given) must match it in every shape
    field and contributes its dropout. Returned in train mode on CPU.
    """
    if strategy not in ("freeze", "fine-tune"):
        raise TransferError(f"unknown transfer strategy {strategy!r}; use 'freeze' or 'fine-tune'")
    problems = transfer_incompatibilities(parent, child_feature_spec, child_model_config)
    if problems:
        raise TransferError(
            f"cannot transfer from parent {parent.ticker} to this child: " + "; ".join(problems)
        )
    config = parent.model_config
    if child_model_config is not None:
        config = config.model_copy(update={"dropout": child_model_config.dropout})
    network = LSTMForecaster(child_feature_spec.n_features, config)
    try:
        network.load_state_dict(parent.state_dict, strict=True)
    except RuntimeError as exc:
        raise TransferError(f"parent {parent.ticker} weights do not fit its own model config: {exc}") from exc
    for parameter in network.lstm.parameters():
        parameter.requires_grad_(strategy != "freeze")
    for parameter in network.head.parameters():
        parameter.requires_grad_(True)
    return network.train()
