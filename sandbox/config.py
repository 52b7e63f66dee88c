"""Strict instantiation: a config key that the target does not consume is an error.

The public FLOAT and JoyVASA code silently drop options; here every ``_target_`` node is checked
against its target's signature before anything is built, and unused keys are named together with
the accepted ones. A target whose ``**kwargs`` really are forwarded somewhere opaque can opt out
with :func:`passthrough_kwargs`.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Iterable, Mapping

from omegaconf import DictConfig, ListConfig, OmegaConf

from sandbox.errors import ConfigError

HYDRA_KEYS = frozenset({"_target_", "_recursive_", "_convert_", "_partial_", "_args_"})


def passthrough_kwargs(obj: Callable) -> Callable:
    """Mark a callable whose ``**kwargs`` accept anything (strict checking then stops at its named params)."""
    obj.__passthrough_kwargs__ = True
    return obj


def forwards_kwargs(to: Callable) -> Callable[[Callable], Callable]:
    """Mark a callable whose ``**kwargs`` go to ``to`` (e.g. a config dataclass): ``to``'s parameters
    then count as accepted. Use on ``__init__``: ``@forwards_kwargs(LiaConfig)``."""

    def mark(fn: Callable) -> Callable:
        fn.__forwards_kwargs__ = to
        return fn

    return mark


def locate(path: str) -> Any:
    """Import ``a.b.C`` -> object. Raises ConfigError (not a bare ImportError) with the path."""
    from hydra.utils import get_object

    try:
        return get_object(path)
    except Exception as exc:
        raise ConfigError(f"_target_ {path!r} cannot be imported ({type(exc).__name__}: {exc}).") from exc


def accepted_params(target: Callable) -> tuple[set[str], set[str], bool]:
    """-> (accepted names, required names, accepts anything).

    Only named parameters count. An unmarked ``**kwargs`` accepts nothing more (we cannot see where it
    goes); mark it with :func:`forwards_kwargs` (its receiver's parameters count) or
    :func:`passthrough_kwargs` (anything goes)."""
    fn = target.__init__ if inspect.isclass(target) else target
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without signatures: nothing to check
        return set(), set(), True
    accepted: set[str] = set()
    required: set[str] = set()
    var_kw = False
    for j, (name, p) in enumerate(sig.parameters.items()):
        if inspect.isclass(target) and j == 0:
            continue  # self
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            accepted.add(name)
            if p.default is p.empty:
                required.add(name)
    if var_kw:
        if getattr(fn, "__passthrough_kwargs__", False) or getattr(target, "__passthrough_kwargs__", False):
            return accepted, required, True
        forward = getattr(fn, "__forwards_kwargs__", None) or getattr(target, "__forwards_kwargs__", None)
        if forward is not None:
            f_acc, f_req, f_any = accepted_params(forward)
            return accepted | f_acc, required | f_req, f_any
    return accepted, required, False


def check_kwargs(target: Callable, keys: set[str], where: str, check_required: bool = True) -> None:
    """Raise ConfigError if ``keys`` holds a name ``target`` does not accept, or a required one is missing."""
    accepted, required, anything = accepted_params(target)
    name = getattr(target, "__qualname__", repr(target))
    unused = sorted(keys - accepted)
    if unused and not anything:
        raise ConfigError(
            f"{where}: key(s) {unused} not consumed by {name}. Accepted keys: {sorted(accepted)}. "
            f"Remove or rename them (on the command line: `~{where}.{unused[0]}`)."
        )
    missing = sorted(required - keys)
    if missing and check_required:
        raise ConfigError(f"{where}: {name} needs {missing}; set them in the config (e.g. `{where}.{missing[0]}=...`).")


def check_node(node: Any, where: str, supplied: set[str] = frozenset()) -> None:
    """Check every ``_target_`` node inside ``node`` (recursively) without building anything.
    ``supplied``: names the caller passes at build time (count as keys of the top node)."""
    if isinstance(node, (DictConfig, dict)):
        if "_target_" in node:
            target = locate(str(node["_target_"]))
            keys = ({str(k) for k in node.keys()} - HYDRA_KEYS) | set(supplied)
            # a partial's missing arguments come later, at call time
            check_kwargs(target, keys, where, check_required=not bool(node.get("_partial_", False)))
        for k, v in node.items():
            if k not in HYDRA_KEYS:
                check_node(v, f"{where}.{k}")
    elif isinstance(node, (ListConfig, list)):
        for i, v in enumerate(node):
            check_node(v, f"{where}[{i}]")


def offered_names(node: DictConfig, where: str, offered: Iterable[str]) -> set[str]:
    """Which of the ``offered`` runtime names the node's target takes (and the config does not set)."""
    if not isinstance(node, (DictConfig, dict)) or "_target_" not in node:
        raise ConfigError(f"`{where}` has no _target_; it must name the class or function to build.")
    accepted, _, _ = accepted_params(locate(str(node["_target_"])))
    return {k for k in offered if k in accepted and k not in node}


def check_instantiable(node: DictConfig, where: str, offered: Iterable[str] = (), forced: Iterable[str] = ()) -> None:
    """Everything :func:`instantiate` checks, without building: run before any work."""
    check_node(node, where, supplied=offered_names(node, where, offered) | set(forced))


def instantiate(node: DictConfig | Mapping, where: str, offered: Mapping[str, Any] | None = None, **forced: Any) -> Any:
    """Strictly build ``node``.

    ``offered``: runtime values (e.g. ``dim``, ``rep``) passed only where the target names them and the
    config does not set them. ``forced``: runtime values always passed (checked like config keys)."""
    from hydra.utils import instantiate as hydra_instantiate

    if not isinstance(node, DictConfig):
        node = OmegaConf.create(dict(node))
    offered = dict(offered or {})
    extra = dict(forced)
    extra.update({k: offered[k] for k in offered_names(node, where, offered) if k not in extra})
    check_node(node, where, supplied=set(extra))
    # build as a partial first so runtime objects (modules, tensors) never pass through OmegaConf
    is_partial = bool(node.get("_partial_", False))
    built = hydra_instantiate(node, _partial_=True, _convert_="all")
    return functools.partial(built, **extra) if is_partial else built(**extra)


def check_call(fn: Callable, kwargs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check a plain kwargs mapping (e.g. ``fit.rep``) against ``fn`` and return it as a dict."""
    kw = to_dict(kwargs)
    accepted, _, anything = accepted_params(fn)
    if not anything:
        unused = sorted(set(kw) - accepted)
        if unused:
            raise ConfigError(
                f"{where}: key(s) {unused} are not consumed by {getattr(fn, '__qualname__', fn)}. "
                f"Accepted keys: {sorted(accepted)}."
            )
    return kw


def to_dict(node: Any) -> dict[str, Any]:
    if node is None:
        return {}
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    return dict(node)
