"""A load-time check for TorchScript models that normalise their input themselves.

The classifier wrapper applies the card's ``mean``/``std`` (default 0.5/0.5)
before the network. A TorchScript model exported with its own normalisation
(``x = (x - mean) / std`` as its first operations) then sees its input
normalised twice: it still runs and predicts, only worse (issue 17: 32.5 %
instead of 90.8 % on a reference model), with nothing to tell the user.

:func:`self_normalisation_warning` inspects the TorchScript graph: when the
first operations on the model's input (skipping dtype/layout no-ops) are an
elementwise subtraction/addition and division/multiplication by constants or
stored tensors (not a convolution or another layer), and the card's
normalisation is not the identity (mean 0, std 1), it returns a one-line
warning that says what to change. It never changes the card or the model.
"""

from __future__ import annotations

from typing import Any

#: operations that only change dtype/layout/device: followed through
_PASS_THROUGH = {"aten::to", "aten::contiguous", "aten::clone", "aten::float", "aten::type_as", "aten::detach",
                 "prim::TupleConstruct"}
#: elementwise affine operations a normalisation is made of
_SHIFT = {"aten::sub", "aten::sub_", "aten::add", "aten::add_", "aten::rsub"}
_SCALE = {"aten::div", "aten::div_", "aten::mul", "aten::mul_", "aten::true_divide"}


def _graph(network: Any) -> Any:
    for attr in ("inlined_graph", "graph"):
        try:
            g = getattr(network, attr)
        except Exception:  # noqa: BLE001 - not a ScriptModule: nothing to inspect
            return None
        if g is not None:
            return g
    return None


def _first_ops(value: Any, depth: int = 0) -> list[str]:
    """Kinds of the first real operations applied to ``value`` (following pass-through ops, a few levels)."""
    kinds: list[str] = []
    for use in value.uses():
        node = use.user
        kind = node.kind()
        if kind in _PASS_THROUGH and depth < 4:
            for out in node.outputs():
                kinds += _first_ops(out, depth + 1)
        else:
            kinds.append(kind)
            if kind in _SHIFT | _SCALE and depth < 4:     # a normalisation: what follows the first step
                for out in node.outputs():
                    kinds += [f"then:{k}" for k in _first_ops(out, depth + 1)]
    return kinds


def normalises_itself(network: Any) -> bool:
    """True when the TorchScript ``network`` starts by shifting and scaling its input (a built-in normalisation)."""
    graph = _graph(network)
    if graph is None:
        return False
    inputs = list(graph.inputs())
    if len(inputs) < 2:                  # inputs[0] is the module itself
        return False
    try:
        kinds = _first_ops(inputs[1])
    except Exception:  # noqa: BLE001 - an unusual graph: no claim
        return False
    first = [k for k in kinds if not k.startswith("then:")]
    if not first or not all(k in _SHIFT | _SCALE for k in first):
        return False
    then = {k[5:] for k in kinds if k.startswith("then:")}
    return bool((set(first) & _SHIFT and then & _SCALE) or (set(first) & _SCALE and then & _SHIFT))


def self_normalisation_warning(network: Any, card: Any) -> str | None:
    """The warning for a TorchScript model that normalises itself while the card normalises too, else None."""
    if getattr(card, "format", "") != "torchscript":
        return None
    mean, std = list(card.mean), list(card.std)
    if all(m == 0 for m in mean) and all(s == 1 for s in std):
        return None
    if not normalises_itself(network):
        return None
    return (f"Model '{card.name}' seems to normalise its input itself (its first operations shift and scale the "
            f"image), and the card normalises it too (mean {mean}, std {std}): the input would be normalised twice "
            "and accuracy silently drop. If the model normalises itself, set \"mean\": [0] and \"std\": [1] in the "
            "model card.")
