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

from datetime import date

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


class ParentOverlapError(TransferError):
    """The parent's evaluation weights have seen days of the child's test period."""


def check_parent_overlap(parent: ModelBundle, child_test_start: date) -> date:
    """The last day the parent's evaluation weights were fitted on; raises :class:`ParentOverlapError`
    unless it lies before ``child_test_start`` (the child's first test target day).

    A child evaluated from parent weights that saw its test days would be scored partly in-sample (the
    parent learned the market on those days). The cut-off is the last day the parent's evaluation
    weights depend on: its train part plus the early-stopping half of validation
    (``eval_weights_end``; the later half only calibrated lambdas and intervals, which a child does not
    inherit). Older bundles fall back to the validation end, and without a recorded split to the data
    end.
    """
    if parent.eval_state_dict is not None or parent.refit_end is None:
        cutoff = parent.eval_weights_end or parent.val_end or parent.data_end
    else:
        cutoff = parent.refit_end
    if cutoff is None:
        raise ParentOverlapError(
            f"parent {parent.ticker} records no data range, so it cannot be shown to predate the child's "
            f"test period (starting {child_test_start}); retrain the parent"
        )
    if cutoff >= child_test_start:
        raise ParentOverlapError(
            f"parent {parent.ticker}'s evaluation weights were fitted on data up to {cutoff}, but the "
            f"child's test period starts {child_test_start}: the child would be evaluated on days the "
            f"parent has seen; use a parent trained on data ending before {child_test_start} (data.end) "
            f"or a child with more recent data"
        )
    return cutoff


def prepare_transfer(
    parent: ModelBundle,
    strategy: TransferStrategy,
    child_feature_spec: FeatureSpec,
    child_model_config: ModelConfig | None = None,
    *,
    evaluation: bool = False,
    member: int = 0,
) -> LSTMForecaster:
    """A network for the child, holding the parent's weights, with ``strategy`` applied.

    ``evaluation`` picks the parent's evaluation weights (fitted before its test part) instead of its
    served, refitted ones; ``member`` picks the parent's ensemble member (cycled when the child has more
    members than the parent). The network uses the parent's shape; ``child_model_config`` (if given) must
    match it in every shape field and contributes its dropout. Returned in train mode on CPU.
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
        members = parent.eval_members if evaluation else parent.members
        weights = members[member % len(members)]
        network.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise TransferError(f"parent {parent.ticker} weights do not fit its own model config: {exc}") from exc
    for parameter in network.lstm.parameters():
        parameter.requires_grad_(strategy != "freeze")
    for parameter in network.head.parameters():
        parameter.requires_grad_(True)
    return network.train()
