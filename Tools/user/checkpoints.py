"""Find the state_dict inside a PyTorch checkpoint, by the same rules as `capsconv import`.

A checkpoint is what `torch.save` wrote. Accepted:

- a plain state_dict (a dict whose values are all tensors);
- a wrapper holding one: the dict under `--key NAME` when given (`a/b` for nested dicts), otherwise
  the entries that are dicts of tensors, searched up to two levels deep (so the tutorial checkpoint
  `{'epoch', 'model_state_dict', 'optimizer_state_dict', 'loss'}` works: an optimizer's state is a
  dict of dicts keyed by parameter numbers, not a dict of tensors). When several qualify, those whose
  keys look like a CapsNet (`conv1.weight`, `digit_capsules.weight`, ... with any `module.` prefix)
  are preferred, then the first of `model_state_dict`, `state_dict`, `model`, `net`, `module`;
  if that still leaves more than one, the error lists them and asks for `--key`.

A pickled `nn.Module` (`torch.save(model)`) is refused: loading it would run its code. Save
`model.state_dict()` instead.
"""

import os

import torch

PREFERRED = ("model_state_dict", "state_dict", "model", "net", "module")
CAPSNET_KEYS = ("conv1.weight", "conv2.weight", "digit_capsules.weight", "digit_capsules.route_weights")
MODULE_HINT = "save model.state_dict() instead"


def is_tensor_dict(value):
    return (isinstance(value, dict) and len(value) > 0
            and all(isinstance(k, str) and torch.is_tensor(v) for k, v in value.items()))


def looks_like_capsnet(sd):
    return any(k.endswith(CAPSNET_KEYS) for k in sd)


def candidates(obj, prefix="", depth=2):
    """(path, dict) for every dict of tensors inside obj, up to `depth` levels below it."""
    out = []
    if not isinstance(obj, dict) or depth == 0:
        return out
    for k, v in obj.items():
        if not isinstance(k, str):
            continue
        name = prefix + k
        if is_tensor_dict(v):
            out.append((name, v))
        elif isinstance(v, dict):
            out += candidates(v, name + "/", depth - 1)
    return out


def find_state_dict(obj, path, key=None):
    """Return (wrapper path or None, state_dict) from a loaded checkpoint object."""
    if key is not None:
        value = obj
        for part in key.split("/"):
            if not isinstance(value, dict) or part not in value:
                names = [k for k, _ in candidates(obj)]
                raise ValueError(f"{path}: no entry {key!r} (dicts of tensors found: {names or 'none'})")
            value = value[part]
        if not is_tensor_dict(value):
            raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, not a dict of tensors")
        return key, value
    if is_tensor_dict(obj):
        return None, obj
    if isinstance(obj, torch.nn.Module):
        raise ValueError(f"{path}: holds a pickled {type(obj).__name__} module; {MODULE_HINT}")
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: holds a {type(obj).__name__}, not a state_dict (a dict of tensors)")
    found = candidates(obj)
    if not found:
        raise ValueError(f"{path}: no state_dict inside: keys {list(obj)[:8]} hold no dict of tensors")
    if len(found) > 1:
        capsnets = [(k, v) for k, v in found if looks_like_capsnet(v)]
        found = capsnets or found
    if len(found) > 1:
        preferred = [(k, v) for name in PREFERRED for k, v in found if k == name]
        if preferred:
            found = preferred[:1]
    if len(found) > 1:
        raise ValueError(f"{path}: several dicts of tensors could be the state_dict: "
                         f"{[k for k, _ in found]}; pass --key NAME")
    return found[0]


def load(path, key=None):
    """torch.load a checkpoint safely (weights_only) and return (wrapper path or None, state_dict)."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - torch raises several types; name the file
        text = str(e)
        if "Unsupported global" in text or "weights_only" in text.lower():
            found = [line.strip() for line in text.splitlines() if "Unsupported global" in line]
            first = found[0] if found else type(e).__name__
            raise ValueError(f"{path}: refused to unpickle it ({first[:160]}); if it is a whole model "
                             f"saved with torch.save(model), {MODULE_HINT}") from None
        raise ValueError(f"{path}: not a torch.save checkpoint ({type(e).__name__}: {text[:160]})") from None
    return find_state_dict(obj, path, key)
