"""Recipes: named lists of ops, applied to a batch with one parameter draw per image.

A recipe is data: ``{"name": "mine", "ops": [{"op": "rotate", "degrees": 30}, {"op": "noise", "std": 0.05}]}``.
The eight RandomAnomaly recipes are presets (``PRESETS``). Images are ``(N, 1, H, W)`` floats in
[0, 1]; each op draws its parameters from ``CounterRNG(seed, frame_ids)`` under a stream named after
the recipe, the op's position and the op, so a frame's draws never depend on its batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from anomaly_lab.core.config import to_plain
from anomaly_lab.core.errors import ConfigError, check_interval, check_range
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.synth import erasing, filters, geometry, photometric


def _pair(name: str, v) -> tuple[float, float]:
    if isinstance(v, (int, float)):
        return float(v), float(v)
    v = list(v)
    if len(v) != 2 or v[0] > v[1]:
        raise ConfigError(f"{name}={v!r} must be a number or a [low, high] pair with low <= high")
    return float(v[0]), float(v[1])


def _uniform(rng: CounterRNG, stream: str, bounds: tuple[float, float]) -> Tensor:
    lo, hi = bounds
    if lo == hi:
        return torch.full((len(rng),), lo, device=rng.device)
    return rng.uniform(stream, (), lo, hi)


@functools.lru_cache(maxsize=64)
def _corners(w: int, h: int, device: torch.device) -> Tensor:
    """The four corners of a w x h image (made once per size: a new small tensor every call costs
    more than using it)."""
    return torch.tensor([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], device=device)


# Each op: (defaults, apply(images, rng, stream, **kwargs) -> images)
def _perspective(x, rng, s, distortion, fill, eight_bit):
    if not 0.0 <= distortion <= 1.0:
        raise ConfigError(f"perspective distortion={distortion!r} must be in [0, 1]")
    h, w = x.shape[-2:]
    end = geometry.sample_perspective_points(rng, s, h, w, distortion)
    start = _corners(w, h, x.device)
    return geometry.perspective(x, geometry.perspective_coefficients(start, end), fill=fill, eight_bit=bool(eight_bit))


def _erase(x, rng, s, scale, ratio, value):
    boxes = erasing.sample_erase_boxes(
        rng, s, x.shape[-2], x.shape[-1], _pair("erase scale", scale), _pair("erase ratio", ratio)
    )
    return erasing.erase(x, boxes, value)


def _noise(x, rng, s, std, mean):
    return photometric.add_noise(x, rng.normal(s, tuple(x.shape[1:])), std, mean)


def _blur(x, rng, s, kernel_size, sigma):
    return filters.gaussian_blur(x, _uniform(rng, s, _pair("blur sigma", sigma)), int(kernel_size))


def _sharpness(x, rng, s, factor):
    return filters.adjust_sharpness(x, _uniform(rng, s, _pair("sharpness factor", factor)))


def _quantize(x, rng, s):
    return photometric.quantize_8bit(x)


def _rotate(x, rng, s, degrees, fill):
    return geometry.rotate(x, _uniform(rng, s, (-float(degrees), float(degrees))), fill=fill)


def _affine(x, rng, s, degrees, translate, scale, shear, fill):
    p = geometry.sample_affine_params(
        rng, s, float(degrees), float(translate), _pair("affine scale", scale), float(shear), tuple(x.shape[-2:])
    )
    return geometry.affine(x, p["angle"], p["translate"], p["scale"], p["shear"], fill=fill)


def _elastic(x, rng, s, alpha, sigma, fill):
    d = geometry.sample_elastic_displacement(rng, s, x.shape[-2], x.shape[-1], float(alpha), float(sigma))
    return geometry.elastic(x, d, fill=fill)


def _brightness(x, rng, s, factor):
    return photometric.adjust_brightness(x, _uniform(rng, s, _pair("brightness factor", factor)))


def _contrast(x, rng, s, factor):
    return photometric.adjust_contrast(x, _uniform(rng, s, _pair("contrast factor", factor)))


OPS: dict[str, tuple[dict, Callable]] = {
    "perspective": ({"distortion": 0.5, "fill": 0.0, "eight_bit": False}, _perspective),
    "erase": ({"scale": (0.02, 0.33), "ratio": (0.3, 3.3), "value": 0.0}, _erase),
    "noise": ({"std": 0.01, "mean": 0.0}, _noise),
    "blur": ({"kernel_size": 15, "sigma": (0.1, 2.0)}, _blur),
    "sharpness": ({"factor": 4.0}, _sharpness),
    "quantize_8bit": ({}, _quantize),
    "rotate": ({"degrees": 30.0, "fill": 0.0}, _rotate),
    "affine": ({"degrees": 0.0, "translate": 0.0, "scale": (1.0, 1.0), "shear": 0.0, "fill": 0.0}, _affine),
    "elastic": ({"alpha": 50.0, "sigma": 5.0, "fill": 0.0}, _elastic),
    "brightness": ({"factor": (0.5, 1.5)}, _brightness),
    "contrast": ({"factor": (0.5, 1.5)}, _contrast),
}

_ERASE_RA = {"op": "erase", "scale": (0.1, 0.2), "ratio": (0.3, 3.3), "value": 0.0}
PRESETS: dict[str, list[dict]] = {
    "baseline": [],
    "perspective_small": [{"op": "perspective", "distortion": 0.5}],
    "perspective": [{"op": "perspective", "distortion": 0.9}],
    "erase": [_ERASE_RA],
    "noise": [{"op": "noise", "std": 0.01}],
    "both": [_ERASE_RA, {"op": "quantize_8bit"}, {"op": "perspective", "distortion": 0.5}],
    "blur": [{"op": "blur", "kernel_size": 15, "sigma": (0.1, 2.0)}],
    "sharpness": [{"op": "sharpness", "factor": 4.0}],
}
RANDOM_ANOMALY_RECIPES = tuple(PRESETS)


@dataclass(frozen=True)
class Recipe:
    """A named list of op specs (each ``{"op": name, **params}`` with defaults filled in)."""

    name: str
    ops: tuple[dict, ...]

    def apply(self, images: Tensor, rng: CounterRNG) -> Tensor:
        """Run the ops in order on ``images`` (N, 1, H, W) in [0, 1], one draw per image."""
        for k, spec in enumerate(self.ops):
            params = {key: v for key, v in spec.items() if key != "op"}
            images = OPS[spec["op"]][1](images, rng, f"{self.name}/{k}/{spec['op']}", **params)
        return images

    def to_dict(self) -> dict:
        # ``eight_bit: False`` is the float path every recipe had before the option existed: left out,
        # so the manifest (and fingerprint) of a float-path export reads as it did
        return {
            "name": self.name,
            "ops": [{k: v for k, v in o.items() if not (k == "eight_bit" and v is False)} for o in self.ops],
        }


#: limits of op parameters beyond their type (the type comes from the default): (low, high), ends inclusive
PARAM_LIMITS: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("perspective", "distortion"): (0.0, 1.0),
    ("erase", "scale"): (0.0, 1.0),
    ("erase", "ratio"): (1e-6, None),
    ("noise", "std"): (0.0, None),
    ("blur", "kernel_size"): (1, 255),
    ("blur", "sigma"): (1e-6, None),
    ("sharpness", "factor"): (0.0, None),
    ("rotate", "degrees"): (0.0, 360.0),
    ("elastic", "alpha"): (0.0, None),
    ("elastic", "sigma"): (1e-6, None),
    ("brightness", "factor"): (0.0, None),
    ("contrast", "factor"): (0.0, None),
}


def _check_param(op: str, key: str, value, default) -> None:
    """One line for a parameter of the wrong type or out of its limits (before any batch is made)."""
    name = f"op {op!r} parameter {key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} must be true or false")
        return
    if key == "kernel_size":
        check_range(name, value, *PARAM_LIMITS[op, key], integer=True)
        if value % 2 == 0:
            raise ConfigError(f"{name}={value} must be odd (a kernel has a centre)")
        return
    low, high = PARAM_LIMITS.get((op, key), (None, None))
    if isinstance(default, tuple):
        pair = check_interval(name, value)
        for v in pair:
            check_range(name, v, low, high)
    else:
        check_range(name, value, low, high)


def make_op(spec: Mapping) -> dict:
    """Validate one op spec and fill in its defaults."""
    spec = dict(to_plain(spec))
    name = spec.get("op")
    if name not in OPS:
        raise ConfigError(f"op={name!r} is not a known op; choose one of {sorted(OPS)}")
    defaults = OPS[name][0]
    unknown = sorted(set(spec) - set(defaults) - {"op"})
    if unknown:
        raise ConfigError(f"op {name!r} has no parameter {unknown}; allowed: {sorted(defaults)}")
    out = {"op": name, **defaults, **{k: v for k, v in spec.items() if k != "op"}}
    for k, v in out.items():
        if isinstance(v, list):
            out[k] = tuple(v)
        if k != "op":
            _check_param(name, k, out[k], defaults[k])
    return out


def make_recipe(spec: str | Mapping | Recipe, faithful_8bit: bool = False) -> Recipe:
    """A preset name, a ``{"name", "ops"}`` mapping, or a Recipe.

    ``faithful_8bit``: a preset's perspective warps return the uint8 picture PIL's warp makes, as the
    notebook's did (it warped PIL images); recipes given as mappings keep the ops they spell out."""
    spec = to_plain(spec)
    if isinstance(spec, Recipe):
        return spec
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ConfigError(
                f"recipe={spec!r} is not a known recipe; choose one of {list(PRESETS)} or give {{name, ops}}"
            )
        ops = [make_op(o) for o in PRESETS[spec]]
        if faithful_8bit:
            ops = [{**o, "eight_bit": True} if o["op"] == "perspective" else o for o in ops]
        return Recipe(spec, tuple(ops))
    if isinstance(spec, Mapping):
        if "name" not in spec or "ops" not in spec:
            raise ConfigError(f"recipe {spec!r} needs 'name' and 'ops'")
        return Recipe(str(spec["name"]), tuple(make_op(o) for o in spec["ops"]))
    raise ConfigError(f"recipe {spec!r} must be a name or a {{name, ops}} mapping")


def make_recipes(specs: Sequence, faithful_8bit: bool = False) -> list[Recipe]:
    """The recipe list of a generator (``make_recipe`` for each; at least 2, distinct names)."""
    specs = to_plain(specs)
    if isinstance(specs, (str, Mapping)) or specs is None:
        raise ConfigError(f"recipes={specs!r} must be a list of at least 2 recipes")
    recipes = [make_recipe(s, faithful_8bit) for s in specs]
    if len(recipes) < 2:
        raise ConfigError(
            f"recipes={[r.name for r in recipes]} has {len(recipes)}; A and B must differ, so give at least 2"
        )
    names = [r.name for r in recipes]
    if len(set(names)) != len(names):
        raise ConfigError(f"recipes={names} repeats a name; each recipe needs its own name")
    return recipes
