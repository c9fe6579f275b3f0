"""The seed's ``ano`` task: anomalies injected into a user's CSV, driven by the seed's JSON.

Input (the seed's keys)::

    {"train_params": {...}, "noise_params": {...}, "imdir": "plots/dir or empty"}

- With ``noise_params``: for each ``dates`` pair ``i``, the test slice (key in ``(d1, d2]``) of
  the selected ``columns`` gets the seed's noise (see :class:`SeedNoise`), and the task writes
  ``{i}randomNoise.csv`` (the anomalous slice, the seed's format), ``{i}randomNoiseIndex.json``
  (``{"anoindex": [row numbers within the slice]}``, every changed row), and with ``imdir`` the
  plots ``imdir/ano/{c}randomNoise.png`` (clean and anomalous) and ``{c}randomNoiseClean.png``
  per column ``c`` (pairs after the first: ``pair{i}_{c}...``).
- Without ``noise_params``: the LSTM-VAE path with ``train_params``: the VAE is trained on the
  training rows and anomalies are decoded into the test slice (see
  :mod:`anomaly_lab.models.lstm_vae.generation`); it writes ``anocsv.csv`` and ``anoindex.json``
  (several pairs: ``{i}anocsv.csv``, ``{i}anoindex.json``) and with ``imdir`` the seed's plots
  ``imdir/ano/{c}.png`` and ``imdir/clean/{c}.png``.

Both spellings of the ratio are read (``anomaly_normal_ratio``, and the README's
``anomally_normal_ratio``). Beyond the seed's keys: ``seed`` (default 0; every run is
reproducible), ``noise_kind`` (``multiplicative`` | ``gaussian``), ``missing`` and ``non_numeric``
(see :mod:`~anomaly_lab.modalities.timeseries.table`); for the VAE: ``sampling`` (``shift`` | ``tail``),
``anomaly_fraction`` (0.05), ``shift`` (1.09), ``tail_probability`` (0.01), ``base``
(``original`` | ``reconstruction``).
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from anomaly_lab.core.errors import ConfigError, DataFileError, check_choice, check_range
from anomaly_lab.core.rng import MAX_SEED, CounterRNG
from anomaly_lab.modalities.timeseries.injectors import SeedNoise
from anomaly_lab.modalities.timeseries.table import Table, date_splits, load_table

NOISE_KEYS = {
    "anomaly_normal_ratio",
    "anomally_normal_ratio",
    "noise",
    "wave",
    "wave_length",
    "columns",
    "noise_direction",
    "path",
    "csv_mode",
    "key",
    "dates",
    "nrows",
    "seed",
    "noise_kind",
    "missing",
    "non_numeric",
    "key_format",
}
TRAIN_KEYS = {
    "columns",
    "sequence_length",
    "latent_space_dim",
    "learning_rate",
    "batch_size",
    "epochs",
    "path",
    "key",
    "dates",
    "nrows",
    "seed",
    "sampling",
    "anomaly_fraction",
    "shift",
    "tail_probability",
    "base",
    "missing",
    "non_numeric",
    "alpha",
    "key_format",
}


@dataclass
class AnoResult:
    """One dates pair: the anomalous test slice (``frame``), the clean one, the labelled row numbers
    within the slice, and the training rows (for plots)."""

    frame: pd.DataFrame
    clean: pd.DataFrame
    anoindex: list[int]
    train: pd.DataFrame
    extra: dict = field(default_factory=dict)


def _need(params: dict, key: str, where: str):
    if key not in params:
        raise ConfigError(f"{where} lacks {key!r}")
    return params[key]


def _unknown(params: dict, allowed: set, where: str) -> None:
    extra = sorted(set(params) - allowed)
    if extra:
        raise ConfigError(f"{where} has unknown keys {extra}; allowed: {sorted(allowed)}")


def _ratio(params: dict) -> float:
    a, b = params.get("anomaly_normal_ratio"), params.get("anomally_normal_ratio")
    if a is not None and b is not None and a != b:
        raise ConfigError(f"anomaly_normal_ratio={a!r} and anomally_normal_ratio={b!r} disagree; give one of them")
    value = a if a is not None else b
    if value is None:
        raise ConfigError("noise_params lacks anomaly_normal_ratio (or the README's spelling anomally_normal_ratio)")
    return value


def _columns(params: dict, where: str) -> list[str]:
    """``columns`` as a list of names: one name given as a string is one column (not its letters)."""
    columns = params.get("columns") or []
    if isinstance(columns, str):
        return [columns]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ConfigError(f"{where}.columns={columns!r} must be a column name or a list of column names")
    return columns


def _load(params: dict, where: str) -> Table:
    path = _need(params, "path", where)
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}.path={path!r} must be the path of a CSV file (a text)")
    kw = dict(
        key=params.get("key"),
        columns=_columns(params, where),
        nrows=params.get("nrows"),
        missing=params.get("missing", "error"),
        non_numeric=params.get("non_numeric", "error"),
        key_format=params.get("key_format"),
        label=None,  # the seed's CSVs: every named column is data
    )
    if kw["key"] is not None and not isinstance(kw["key"], str):
        raise ConfigError(f"{where}.key={kw['key']!r} must be a column name")
    mode = check_choice(f"{where}.csv_mode", params.get("csv_mode", "single"), ("single", "multi"))
    if mode == "single":
        return load_table(path, **kw)
    files = sorted(glob.glob(path + "*.csv"))  # the seed: every CSV whose name starts with path, side by side
    if not files:
        raise DataFileError(f"csv_mode=multi found no file matching {path + '*.csv'!r}")
    key = kw["key"]
    if kw["nrows"] is not None and (
        isinstance(kw["nrows"], bool) or not isinstance(kw["nrows"], int) or kw["nrows"] < 1
    ):
        raise ConfigError(f"nrows={kw['nrows']!r} must be a positive integer or null")
    frames = []
    for f in files:
        try:
            frame = pd.read_csv(f, nrows=kw["nrows"])
        except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise DataFileError(f"cannot read {f!r} as CSV: {str(err).splitlines()[0]}") from err
        if key and key not in frame.columns:
            raise DataFileError(
                f"key column {key!r} is not in {f!r} (csv_mode=multi); its columns are {list(frame.columns)}"
            )
        frames.append(frame.set_index(key) if key else frame)
    combined = pd.concat(frames, axis=1).sort_index(axis=1).reset_index()
    with tempfile.TemporaryDirectory() as tmp:  # one table, read with the same checks as a single file
        merged = os.path.join(tmp, "combined.csv")
        combined.to_csv(merged, index=False)
        return load_table(merged, **kw)


def noise_anomalies(noise_params: dict, seed: int | None = None) -> list[AnoResult]:
    """The seed's noise injection for every dates pair; returns the objects, writes nothing."""
    if not isinstance(noise_params, dict):
        raise ConfigError(f"noise_params must be an object; got {type(noise_params).__name__}")
    _unknown(noise_params, NOISE_KEYS, "noise_params")
    seed = noise_params.get("seed", 0) if seed is None else seed
    check_range("seed", seed, 0, MAX_SEED, integer=True)
    injector = SeedNoise(
        ratio=_ratio(noise_params),
        noise=_need(noise_params, "noise", "noise_params"),
        direction=_need(noise_params, "noise_direction", "noise_params"),
        wave=noise_params.get("wave", False),
        wave_length=noise_params.get("wave_length", 10),
        kind=noise_params.get("noise_kind", "multiplicative"),
    )
    table = _load(noise_params, "noise_params")
    results = []
    for i, (train_rows, test_rows) in enumerate(date_splits(table, _need(noise_params, "dates", "noise_params"))):
        clean = torch.as_tensor(table.values[test_rows], dtype=torch.float64)[None]
        if injector.wave and injector.wave_length > clean.shape[1]:
            raise ConfigError(
                f"wave_length={injector.wave_length} is longer than the test slice of dates[{i}] "
                f"({clean.shape[1]} rows)"
            )
        y, labels, _ = injector.apply(clean, CounterRNG(seed, [i]))
        rows = torch.nonzero(labels[0].any(-1)).flatten().tolist()
        index = table.key[test_rows]
        results.append(
            AnoResult(
                pd.DataFrame(y[0].numpy(), columns=table.columns, index=index),
                pd.DataFrame(clean[0].numpy(), columns=table.columns, index=index),
                rows,
                pd.DataFrame(table.values[train_rows], columns=table.columns, index=table.key[train_rows]),
            )
        )
    return results


def _runs(rows: np.ndarray) -> list[np.ndarray]:
    """Consecutive runs of row numbers (training windows never cross the test slice)."""
    if rows.size == 0:
        return []
    cuts = np.nonzero(np.diff(rows) != 1)[0] + 1
    return np.split(rows, cuts)


def vae_anomalies(train_params: dict, seed: int | None = None) -> list[AnoResult]:
    """The seed's LSTM-VAE path for every dates pair: train on the training rows, decode anomalies
    into the test slice; returns the objects, writes nothing."""
    from anomaly_lab.modalities.timeseries.windows import sliding_windows
    from anomaly_lab.models.lstm_vae.generation import generate_vae_anomalies
    from anomaly_lab.models.lstm_vae.torch_model import LSTMVAE, fit_vae

    if not isinstance(train_params, dict):
        raise ConfigError(f"train_params must be an object; got {type(train_params).__name__}")
    _unknown(train_params, TRAIN_KEYS, "train_params")
    seed = train_params.get("seed", 0) if seed is None else seed
    check_range("seed", seed, 0, MAX_SEED, integer=True)
    seq_len = check_range("sequence_length", _need(train_params, "sequence_length", "train_params"), 2, integer=True)
    latent = check_range("latent_space_dim", _need(train_params, "latent_space_dim", "train_params"), 1, integer=True)
    lr = check_range("learning_rate", _need(train_params, "learning_rate", "train_params"), 0.0, low_inclusive=False)
    batch = check_range("batch_size", _need(train_params, "batch_size", "train_params"), 1, integer=True)
    epochs = check_range("epochs", _need(train_params, "epochs", "train_params"), 0, integer=True)
    table = _load(train_params, "train_params")
    constant = np.all(table.values == table.values[0], axis=0)  # the seed drops constant columns
    keep = [c for c, flat in zip(table.columns, constant) if not flat]
    if not keep:
        raise DataFileError(f"every selected column of {table.path!r} is constant; nothing to learn")
    values = table.values[:, ~constant]
    results = []
    for i, (train_rows, test_rows) in enumerate(date_splits(table, _need(train_params, "dates", "train_params"))):
        train = values[train_rows]
        mean = train.mean(0)
        std = train.std(0, ddof=1) if len(train) > 1 else np.ones(train.shape[1])
        std = np.where(std > 0, std, 1.0)
        z = torch.as_tensor((values - mean) / std, dtype=torch.float32)
        pieces = [
            sliding_windows(z[torch.as_tensor(r)][None], seq_len)[0] for r in _runs(train_rows) if r.size >= seq_len
        ]
        if not pieces:
            raise ConfigError(f"dates[{i}] leaves no run of {seq_len} consecutive training rows (sequence_length)")
        torch.manual_seed(seed)
        model = LSTMVAE(len(keep), seq_len, latent)
        history = fit_vae(
            model,
            torch.cat(pieces).contiguous(),
            epochs,
            batch,
            lr,
            alpha=float(train_params.get("alpha", 100.0)),
            seed=seed,
        )
        out = generate_vae_anomalies(
            model,
            z[torch.as_tensor(test_rows)],
            seed=seed,
            stream_index=i,
            fraction=train_params.get("anomaly_fraction", 0.05),
            sampling=train_params.get("sampling", "shift"),
            shift=train_params.get("shift", 1.09),
            tail_probability=train_params.get("tail_probability", 0.01),
            base=train_params.get("base", "original"),
        )
        series = out.series.double().numpy() * std + mean
        if train_params.get("base", "original") == "original":  # untouched rows keep their exact values
            series = np.where(np.isin(np.arange(len(test_rows)), out.rows.numpy())[:, None], series, values[test_rows])
        index = table.key[test_rows]
        results.append(
            AnoResult(
                pd.DataFrame(series, columns=keep, index=index),
                pd.DataFrame(values[test_rows], columns=keep, index=index),
                out.rows.tolist(),
                pd.DataFrame(train, columns=keep, index=table.key[train_rows]),
                {"loss": history, "windows": out.windows.tolist()},
            )
        )
    return results


def _plot(lines: list[tuple[np.ndarray, str]], path: str, marks: list[int] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 8))
    for values, label in lines:
        ax.plot(values, label=label, lw=0.9)
    if marks:
        ax.scatter(marks, lines[-1][0][marks], s=10, color="red", zorder=3, label="anomalous rows")
    ax.legend()
    fig.savefig(path)
    plt.close(fig)


def write_noise_outputs(results: list[AnoResult], outdir: str, imdir: str = "") -> list[str]:
    """Write the seed's files for :func:`noise_anomalies` results; returns their paths."""
    os.makedirs(outdir, exist_ok=True)
    written = []
    for i, r in enumerate(results):
        csv = os.path.join(outdir, f"{i}randomNoise.csv")
        np.savetxt(csv, r.frame.values, delimiter=",", header=",".join(r.frame.columns), comments="")
        index = os.path.join(outdir, f"{i}randomNoiseIndex.json")
        with open(index, "w") as fh:
            json.dump({"anoindex": r.anoindex}, fh)
        written += [csv, index]
        if imdir:
            ano_dir = os.path.join(imdir, "ano")
            os.makedirs(ano_dir, exist_ok=True)
            prefix = "" if i == 0 else f"pair{i}_"
            for c, name in enumerate(r.frame.columns):
                p1 = os.path.join(ano_dir, f"{prefix}{c}randomNoise.png")
                _plot(
                    [(r.clean[name].values, f"{name} clean"), (r.frame[name].values, f"{name} with anomalies")],
                    p1,
                    r.anoindex,
                )
                p2 = os.path.join(ano_dir, f"{prefix}{c}randomNoiseClean.png")
                _plot([(r.clean[name].values, f"{name} clean")], p2)
                written += [p1, p2]
    return written


def write_vae_outputs(results: list[AnoResult], outdir: str, imdir: str = "") -> list[str]:
    """Write ``anocsv.csv`` / ``anoindex.json`` (or ``{i}...`` for several pairs) and the plots."""
    os.makedirs(outdir, exist_ok=True)
    written = []
    for i, r in enumerate(results):
        prefix = "" if len(results) == 1 else str(i)
        csv = os.path.join(outdir, f"{prefix}anocsv.csv")
        r.frame.reset_index(drop=True).to_csv(csv)
        index = os.path.join(outdir, f"{prefix}anoindex.json")
        with open(index, "w") as fh:
            json.dump({"anoindex": r.anoindex}, fh)
        written += [csv, index]
        if imdir:
            for sub in ("ano", "clean"):
                os.makedirs(os.path.join(imdir, sub, prefix), exist_ok=True)
            for c, name in enumerate(r.frame.columns):
                p1 = os.path.join(imdir, "ano", prefix, f"{c}.png")
                _plot(
                    [(r.clean[name].values, f"{name} clean"), (r.frame[name].values, f"{name} generated")],
                    p1,
                    r.anoindex,
                )
                p2 = os.path.join(imdir, "clean", prefix, f"{c}.png")
                _plot([(r.clean[name].values, f"{name} clean")], p2)
                written += [p1, p2]
    return written


def check_out_dir(outdir: str) -> None:
    """Refuse, before any work, an output folder that cannot be made or written: one that is a
    file, one under a file, or one in (or at) a read-only place (one line each)."""
    if not isinstance(outdir, str) or not outdir:
        raise ConfigError(f"output folder {outdir!r} must be a path")
    path = os.path.abspath(outdir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise DataFileError(f"output folder {outdir!r} is a file; give a folder (-d)")
    probe = path
    while not os.path.exists(probe):  # the nearest part of the path that exists
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise DataFileError(f"output folder {outdir!r} is under {probe!r}, which is a file; give a folder (-d)")
    try:  # os.access says yes to root even where a write fails (a read-only mount): try one
        fd, name = tempfile.mkstemp(prefix=".anomaly-lab-write-check-", dir=probe)
        os.close(fd)
        os.remove(name)
    except OSError as err:
        raise DataFileError(f"output folder {outdir!r} cannot be written ({probe!r}: {err.strerror})") from err


def _writing(outdir: str):
    """OSErrors while writing the outputs as one line (the folder checked first; a disk can still fill)."""

    class _Writing:
        def __enter__(self):
            return self

        def __exit__(self, exc_type, exc, tb):
            if isinstance(exc, OSError):
                raise DataFileError(f"cannot write the outputs into {outdir!r}: {exc}") from exc
            return False

    return _Writing()


def run_ano(payload: dict, outdir: str, seed: int | None = None) -> list[str]:
    """The whole ``ano`` task on the seed's JSON object; returns the paths written."""
    if not isinstance(payload, dict):
        raise ConfigError(
            f"ano input must be a JSON object with train_params/noise_params; got {type(payload).__name__}"
        )
    _unknown(payload, {"train_params", "noise_params", "imdir"}, "ano input")
    imdir = payload.get("imdir", "") or ""
    if not isinstance(imdir, str):
        raise ConfigError(f"imdir={imdir!r} must be a folder path or empty")
    if payload.get("noise_params") is None and payload.get("train_params") is None:
        raise ConfigError("ano input needs noise_params (noise injection) or train_params (LSTM-VAE generation)")
    check_out_dir(outdir)
    if imdir:
        check_out_dir(imdir)
    if payload.get("noise_params") is not None:
        results = noise_anomalies(payload["noise_params"], seed)
        with _writing(outdir):
            return write_noise_outputs(results, outdir, imdir)
    results = vae_anomalies(payload["train_params"], seed)
    with _writing(outdir):
        return write_vae_outputs(results, outdir, imdir)
