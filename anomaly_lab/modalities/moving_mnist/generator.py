"""Anomalous Moving MNIST, made on demand for any sample indices (spec: shared/spec/moving_mnist.md).

A sequence is T frames of ``frame_size`` x ``frame_size`` with ``num_digits`` digits moving on the
notebook's bouncing paths. Normal digits come from clusters of similar digits (see
:mod:`~anomaly_lab.modalities.moving_mnist.similarity`); in an anomalous sequence one digit (or both) is
changed in its anomalous frames, by one of the kinds of :mod:`~anomaly_lab.modalities.moving_mnist.anomalies`.

Every draw is a pure function of ``(seed, sample index, purpose)``, so sample ``i`` is the same
alone, in any batch, in any worker and on any device.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from anomaly_lab.core.device import resolve_device
from anomaly_lab.core.errors import ConfigError, check_choice, check_interval, check_range
from anomaly_lab.core.rng import MAX_SEED, CounterRNG, as_sample_indices
from anomaly_lab.core.splits import SPLITS, split_offset
from anomaly_lab.modalities.moving_mnist import anomalies as A
from anomaly_lab.modalities.moving_mnist.canvas import paste
from anomaly_lab.modalities.moving_mnist.motion import pixel_positions, sample_motion, trajectories
from anomaly_lab.modalities.moving_mnist.similarity import METHODS, SimilarityTable, build_similarity_table
from anomaly_lab.sources import ImageSource, load_source
from anomaly_lab.synth.geometry import resize

NORMAL_DIGITS = ("representative", "member")
OUTPUTS = ("uint8", "float")
_SPLIT_ORDER = ("train", "val", "test")  # split id = sample index // split_offset("val")


def _pair(name: str, value, integer: bool = False, low: float = 0.0) -> tuple:
    return check_interval(name, value, low, integer=integer, as_float=False)


def _kind_params(given: Mapping) -> dict[str, tuple]:
    """Every registered kind's parameters (a ``[low, high]`` span each), the given ones checked,
    the others at their defaults, in registration order (the order ``config_dict`` lists them)."""
    declared = A.kind_parameters()
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ConfigError(
            f"MovingMnistGenerator options {unknown} are not known; the anomaly kinds' parameters are {list(declared)}"
        )
    out = {}
    for param, (_, span) in declared.items():
        value = _pair(param, given.get(param, span.default), integer=span.integer, low=span.least)
        if span.most is not None and value[1] > span.most:
            hint = f" ({span.hint})" if span.hint else ""
            raise ConfigError(f"{param}={list(value)} must lie in [{span.least}, {span.most}]{hint}")
        out[param] = value
    return out


def _fractions(value) -> tuple[float, float, float]:
    """Anomaly fraction per split (train, val, test) from a number or ``{split: fraction}``
    (unnamed splits: 0 for train, 0.5 for val and test; None: all three defaults)."""
    if value is None:
        value = {}
    if isinstance(value, Mapping):
        out = {"train": 0.0, "val": 0.5, "test": 0.5}
        for key, f in value.items():
            check_choice("anomaly_fraction split", key, SPLITS)
            check_range(f"anomaly_fraction.{key}", f, 0.0, 1.0)
            out["val" if key == "validate" else key] = float(f)
        return out["train"], out["val"], out["test"]
    check_range("anomaly_fraction", value, 0.0, 1.0)
    return (float(value),) * 3


class MovingMnistGenerator:
    """Makes Anomalous Moving MNIST batches for any sample indices, on ``device``.

    ``generate(indices)`` returns the batch, a dict of tensors on ``device`` (B sequences of T
    frames of H = W = ``frame_size`` pixels with D = ``num_digits`` digits). These names, shapes and
    dtypes are the generator's contract (the codec, the datamodule and the models read them):

    ====================  ====================  =======  ==================================================
    key                   shape                 dtype    what
    ====================  ====================  =======  ==================================================
    ``frames``            ``(B, T, 1, H, W)``   uint8    pixels (float32 in [0, 1] with ``output="float"``)
    ``frame_labels``      ``(B, T)``            int64    1 where a frame differs from its normal version
    ``masks``             ``(B, T, 1, H, W)``   bool     the pixels that differ
    ``anomaly_kind``      ``(B,)``              int64    0 normal, else ``1 + KINDS.index(kind)``
    ``affected_digits``   ``(B, D)``            bool     the digits the anomaly changes
    ``digit_labels``      ``(B, D)``            int64    class labels of the normal digits
    ``clusters``          ``(B, D)``            int64    similarity cluster of each normal digit
    ``positions``         ``(B, T, D, 2)``      int64    (x, y) of each digit's top-left corner as drawn
    ====================  ====================  =======  ==================================================

    A sequence whose planned change shows no pixel (hidden under the other digit) has
    ``anomaly_kind`` 0 and no labels.

    Args:
        source: the images to draw digits from (default: the bundled MNIST train split).
        similarity: options of :func:`build_similarity_table` (``method``, ``n_clusters``,
            ``perplexity``, ``pca_components``, ``n_init``, ``seed`` (default 0, whatever the data
            seed, so every data seed shares one cached table), ``cache_dir``, ``use_cache``, ``progress``) plus
            ``subset`` (cluster only the first N source images); or a ready :class:`SimilarityTable`.
        anomaly_fraction: share of anomalous sequences; a number for every split, or
            ``{train, val, test}`` fractions chosen by the split a sample index lies in (default:
            0 for train, 0.5 for val and test).
        anomaly_frames: a fixed list of anomalous frames, or None for a random run of
            ``run_length`` frames.
        kinds: mixture weights ``{kind: weight}`` over the registered kinds
            (:data:`anomalies.ANOMALY_KINDS`), a list of kinds (equal weights) or one name.
        **kind_params: the kinds' ``[low, high]`` parameters (``jump_distance``, ``speed_factor``,
            ``blur_sigma``, ``erase_size``, ...; each kind's registry entry declares its own with
            the default and bounds), whether or not the kind is in the mixture.
    """

    def __init__(
        self,
        source: ImageSource | None = None,
        similarity: Mapping | SimilarityTable | None = None,
        seq_len: int = 20,
        frame_size: int = 64,
        digit_size: int = 28,
        num_digits: int = 2,
        speed: Sequence[int] = (2, 6),
        margin: int = 2,
        normal_digits: str = "representative",
        anomaly_fraction: float | Mapping[str, float] | None = None,
        anomaly_frames: Sequence[int] | None = None,
        run_length: Sequence[int] = (1, 3),
        both_digits_prob: float = 0.0,
        kinds: Mapping[str, float] | Sequence[str] | str = "replace",
        output: str = "uint8",
        seed: int = 0,
        device: str | torch.device = "auto",
        **kind_params,
    ):
        check_range("seq_len", seq_len, 2, integer=True)
        check_range("digit_size", digit_size, 4, integer=True)
        check_range("frame_size", frame_size, digit_size, integer=True)
        check_range("num_digits", num_digits, 1, 8, integer=True)
        check_range("margin", margin, 0, integer=True)
        check_choice("normal_digits", normal_digits, NORMAL_DIGITS)
        check_choice("output", output, OUTPUTS)
        check_range("both_digits_prob", both_digits_prob, 0.0, 1.0)
        check_range("seed", seed, 0, MAX_SEED, integer=True)
        self.speed = _pair("speed", speed, integer=True, low=0)
        room = frame_size - digit_size + 2 * margin
        if 2 * self.speed[1] > room:  # a bounce must land inside: a step may not cross the whole room twice
            raise ConfigError(
                f"speed={list(self.speed)} is too fast for frame_size={frame_size}, digit_size={digit_size},"
                f" margin={margin}: a digit bounces inside {room} pixels, so the speed is at most {room // 2}"
            )
        self.run_length = _pair("run_length", run_length, integer=True, low=1)
        self.kind_params = _kind_params(kind_params)
        if anomaly_frames is not None:
            anomaly_frames = [int(f) for f in anomaly_frames]
            bad = [f for f in anomaly_frames if not 0 <= f < seq_len]
            if bad or not anomaly_frames:
                raise ConfigError(
                    f"anomaly_frames={anomaly_frames} must be a non-empty list of frames in [0, {seq_len - 1}]"
                )
        elif self.run_length[1] > seq_len - 2:
            raise ConfigError(
                f"run_length={list(self.run_length)} leaves no room in seq_len={seq_len}: a run avoids the"
                f" first and last frames, so its length is at most {seq_len - 2}"
            )
        self.fractions = _fractions(anomaly_fraction)
        self.kind_weights = A.kind_weights(kinds)
        self.kinds = {k: float(w) for k, w in zip(A.KINDS, self.kind_weights.tolist()) if w > 0}
        self.seq_len, self.frame_size, self.digit_size, self.num_digits = seq_len, frame_size, digit_size, num_digits
        self.margin, self.normal_digits, self.output, self.seed = margin, normal_digits, output, seed
        self.anomaly_frames = anomaly_frames
        self.both_digits_prob = float(both_digits_prob)
        self.device = resolve_device(device)
        self._source = source
        if isinstance(similarity, SimilarityTable):
            self.similarity_options: dict = {"method": similarity.method, **similarity.params}
            given = similarity
        else:
            self.similarity_options = dict(similarity or {})
            unknown = set(self.similarity_options) - {
                "method",
                "n_clusters",
                "perplexity",
                "pca_components",
                "n_init",
                "seed",
                "cache_dir",
                "use_cache",
                "progress",
                "subset",
            }
            if unknown:
                raise ConfigError(
                    f"similarity options {sorted(unknown)} are not known; use method, n_clusters, perplexity,"
                    f" pca_components, n_init, seed, subset, cache_dir, use_cache, progress"
                )
            check_choice("similarity.method", self.similarity_options.get("method", "tsne_kmeans"), METHODS)
            subset = self.similarity_options.get("subset")
            if subset is not None:
                check_range("similarity.subset", subset, 2, integer=True)
            given = None
        # state shared by shallow copies (see with_anomaly_fraction): the table and the digit bank
        self._shared: dict = {"table": given}

    # -- lazily prepared state ---------------------------------------------------------------
    @property
    def source(self) -> ImageSource:
        if self._source is None:
            self._source = load_source("bundled", "train", device=self.device)
        self._source = self._source.to(self.device)
        return self._source

    def prepare(self) -> SimilarityTable:
        """Build (or load from the cache) the similarity table and the digit bank; idempotent."""
        shared = self._shared
        if shared.get("bank") is None:
            src = self.source
            table = shared.get("table")
            if table is None:
                opts = dict(self.similarity_options)
                subset = opts.pop("subset", None)
                n = len(src) if subset is None else min(int(subset), len(src))
                opts["seed"] = int(opts.get("seed") or 0)  # a property of the source, shared by every data seed
                table = build_similarity_table(src.images[:n], src.labels[:n], source_name=src.name, **opts)
            if int(table.assignments.numel()) > len(src):
                raise ConfigError(
                    f"the similarity table covers {table.assignments.numel()} images but the source has {len(src)}"
                )
            shared["table"] = table.to(self.device)
            bank = src.images
            if self.digit_size != bank.shape[-1] or self.digit_size != bank.shape[-2]:
                small = resize(bank[:, None].to(torch.float32), self.digit_size)[:, 0]
                bank = small.round().clamp(0, 255).to(torch.uint8)
            shared["bank"] = bank
            shared["labels"] = src.labels
        return shared["table"]

    @property
    def table(self) -> SimilarityTable:
        return self.prepare()

    def with_anomaly_fraction(self, fraction: float | Mapping[str, float]) -> MovingMnistGenerator:
        """A copy that differs only in the anomaly fraction (sharing the table and digits)."""
        other = copy.copy(self)
        other.fractions = _fractions(fraction)
        return other

    # -- contract ------------------------------------------------------------------------------
    def config_dict(self) -> dict:
        table = self.prepare()
        return {
            "dataset": "moving_mnist",
            "source": self.source.name,
            "source_size": len(self.source),
            "seq_len": self.seq_len,
            "frame_size": self.frame_size,
            "digit_size": self.digit_size,
            "num_digits": self.num_digits,
            "speed": list(self.speed),
            "margin": self.margin,
            "normal_digits": self.normal_digits,
            "anomaly_fraction": dict(zip(_SPLIT_ORDER, self.fractions)),
            "anomaly_frames": self.anomaly_frames,
            "run_length": list(self.run_length),
            "both_digits_prob": self.both_digits_prob,
            "kinds": self.kinds,
            **{param: list(value) for param, value in self.kind_params.items()},
            "output": self.output,
            "seed": self.seed,
            "similarity": table.summary(),
        }

    def codec(self):
        from anomaly_lab.modalities.moving_mnist.codec import MovingMnistCodec

        return MovingMnistCodec(self)

    # -- generation ----------------------------------------------------------------------------
    def generate(self, indices: Tensor | Sequence[int]) -> dict[str, Tensor]:
        table = self.prepare()
        bank, labels = self._shared["bank"], self._shared["labels"]
        dev = self.device
        idx = as_sample_indices(indices).to(dev).reshape(-1)
        b, t, d, f = idx.numel(), self.seq_len, self.num_digits, self.frame_size
        lim = f - self.digit_size
        rng = CounterRNG(self.seed, idx)

        # normal digits: clusters with replacement, then the representative or a same-label member
        cluster = table.usable[rng.integers("digits/cluster", (d,), high=int(table.usable.numel()))]
        if self.normal_digits == "representative":
            normal = table.representatives[cluster]
        else:
            slot = (rng.bits("digits/member", (d,)) * table.member_counts[cluster]) >> 32
            normal = table.members[cluster, slot]

        # which sequences are anomalous, how, where and in which frames
        split = (idx // split_offset("val")).clamp(max=2)
        fraction = torch.tensor(self.fractions, dtype=torch.float32, device=dev)[split]
        has = rng.uniform("anomaly/has", ()) < fraction
        kind = A.draw_kind(rng, self.kind_weights)
        which = rng.integers("anomaly/which_digit", (), high=d)
        both = rng.uniform("anomaly/both_digits", ()) < self.both_digits_prob
        affected = has[:, None] & (both[:, None] | (torch.arange(d, device=dev)[None, :] == which[:, None]))  # (B, D)
        planned = A.anomalous_frames(rng, t, self.anomaly_frames, self.run_length) & has[:, None]  # (B, T)
        changed = planned[:, :, None] & affected[:, None, :]  # (B, T, D)

        # paths and digits: the normal law, then what each kind in the mixture changes (kinds apart
        # from the drawn one are masked out, so a sequence's values depend only on its own kind)
        motion = sample_motion(rng, d, lim, self.speed)
        path = trajectories(motion["start"], motion["velocity"], t, lim, self.margin)
        sprite_normal = bank[normal]
        scene = A.Scene(
            rng=rng,
            path=path,
            start=motion["start"],
            velocity=motion["velocity"],
            changed=changed.cpu(),
            lim=lim,
            margin=self.margin,
            sprites=sprite_normal,
            bank=bank,
            table=table,
            cluster=cluster,
        )
        anom_path, sprite_anom = path, sprite_normal
        kind_cpu = kind.cpu()
        for position, name in enumerate(A.KINDS):
            if not self.kinds.get(name):
                continue
            change = A.apply_kind(name, scene, self.kind_params)
            if change.path is not None:
                anom_path = torch.where((kind_cpu == position)[:, None, None, None], change.path, anom_path)
            if change.sprites is not None:
                sprite_anom = torch.where((kind == position)[:, None, None, None], change.sprites, sprite_anom)
        pos_normal = pixel_positions(path).to(dev)
        pos_drawn = pixel_positions(anom_path).to(dev)

        # draw every frame; redraw the planned frames as normal to find what changed
        s = self.digit_size
        sprites = torch.where(changed[..., None, None], sprite_anom[:, None], sprite_normal[:, None])  # (B, T, D, S, S)
        frames = paste(sprites.reshape(b * t, d, s, s), pos_drawn.reshape(b * t, d, 2), f, self.margin)
        masks = torch.zeros(b * t, f, f, dtype=torch.bool, device=dev)
        rows = torch.nonzero(planned.reshape(-1)).flatten()
        if rows.numel():
            seq = rows // t
            reference = paste(sprite_normal[seq], pos_normal.reshape(b * t, d, 2)[rows], f, self.margin)
            masks[rows] = frames[rows] != reference
        masks = masks.view(b, t, 1, f, f)
        frame_labels = masks.flatten(2).any(-1).to(torch.int64)
        frames = frames.view(b, t, 1, f, f)
        if self.output == "float":
            frames = frames.to(torch.float32) / 255.0
        return {
            "frames": frames,
            "frame_labels": frame_labels,
            "masks": masks,
            "anomaly_kind": torch.where(frame_labels.any(1), kind + 1, torch.zeros_like(kind)),
            "affected_digits": affected,
            "digit_labels": labels[normal],
            "clusters": cluster,
            "positions": pos_drawn,
        }
