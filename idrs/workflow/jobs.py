"""One function per workflow job: explicit files in, files out, written atomically.

``idrs <command>`` (:mod:`idrs.workflow.cli`) calls these; the rules run that command or,
for the plotting and aggregating stages, a script in ``workflow_scripts/`` that calls the
same package functions the command would.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import __version__
from ..certify.sigma import calibrate_sigma_b, log_sigma_slack, sigma_from_distance
from ..engine.data import fingerprint, load_dataset
from ..engine.knn import knn_mean_distance, load_distances, save_distances
from ..files import file_sha256, read_table, write_table
from ..results.records import RECORD_COLUMNS
from .registry import Evaluation

log = logging.getLogger(__name__)

__all__ = ["data_job", "knn_job", "train_job", "certify_job", "reradius_job", "predict_job",
           "regions_job", "test_indices"]


def _dataset(spec: dict):
    return load_dataset(spec["name"], root=spec.get("root", "data"),
                        download=spec.get("download", True), seed=spec.get("seed", 0),
                        dim=spec.get("dim"), **spec.get("options", {}))


def data_job(spec: dict) -> dict:
    """Make sure a dataset is available (downloading it if needed); summarise it.

    Parameters
    ----------
    spec : dict
        ``name`` (a loader of :mod:`idrs.engine.data` or a plug-in's dotted path) and
        optionally ``root``, ``download``, ``seed``, ``dim`` and generator ``options``
        (:func:`idrs.workflow.registry.dataset_spec`).

    Returns
    -------
    dict
        ``dataset``, ``train`` and ``test`` sizes, ``shape``, ``classes`` and
        ``train_fingerprint`` (what ``idrs data`` prints and later jobs check).

    Raises
    ------
    idrs.engine.dataset.DatasetUnavailableError
        The data are neither on disk nor downloadable; the message says where to put them.
    """
    ds = _dataset(spec)
    return {"dataset": ds.name, "train": len(ds.x_train), "test": len(ds.x_test),
            "shape": ds.shape, "classes": ds.num_classes,
            "train_fingerprint": fingerprint(ds.x_train)}


def train_fingerprint(ds, summary=None) -> str:
    """The fingerprint of ``ds``'s training set: read from ``summary`` (the file
    ``idrs data`` wrote, ``results/datasets/{dataset}.txt``) when given, so that jobs
    do not hash the training set again; else computed.

    Raises
    ------
    ValueError
        ``summary`` describes another dataset or another training-set size.
    """
    if summary is None:
        return fingerprint(ds.x_train)
    fields = dict(line.split(": ", 1) for line in Path(summary).read_text().splitlines()
                  if ": " in line)
    if fields.get("dataset") != ds.name or fields.get("train") != str(len(ds.x_train)):
        raise ValueError(f"dataset summary {summary} describes {fields.get('dataset')!r} with "
                         f"{fields.get('train')} training points, not {ds.name!r} with "
                         f"{len(ds.x_train)}; rerun `idrs data` for it (or drop "
                         "--dataset-summary).")
    return fields["train_fingerprint"]


def knn_job(spec: dict, split: str, k: int, out, use_gpu=True, dataset_summary=None,
            features=None):
    """Mean distances of the ``split`` points to their k nearest training points.

    Parameters
    ----------
    spec : dict
        The dataset (see :func:`data_job`).
    split : {"train", "test"}
        Whose distances: a training point is not its own neighbour.
    k : int
        Neighbours.
    out : path
        The Parquet table written (:func:`idrs.engine.knn.save_distances`), which records
        the training set's fingerprint, k, and the float64 proof's inputs.
    use_gpu : bool
        Candidates on CUDA where present (distances are recomputed in float64 either way).
    dataset_summary : path, optional
        ``idrs data``'s summary (:func:`train_fingerprint`).
    features : dict, optional
        Keyword arguments of :class:`idrs.engine.features.FeatureMap`: distances to the
        k nearest of a fixed reference subset and/or in the image of a norm-1 map, with
        each point's feature error recorded for the certificate.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ValueError
        An unknown split, or a dataset without a training set here.
    """
    from ..engine.features import FeatureMap, feature_error, row_norms
    ds = _dataset(spec)
    if split not in ("train", "test"):
        raise ValueError(f"split == {split!r}, must be 'train' or 'test'.")
    if len(ds.x_train) == 0:
        raise ValueError(f"{ds.name} has no training set here; the kNN reference set is the "
                         "training set (for ImageNet: <root>/imagenet/train/<wnid>/...).")
    fmap = FeatureMap(**(features or {})).fit(ds.x_train)
    ref_idx = fmap.reference_indices(len(ds.x_train))
    reference = fmap.transform(ds.x_train[ref_idx])
    inputs = ds.x_train if split == "train" else ds.x_test
    if split == "test":
        distances = knn_mean_distance(fmap.transform(inputs), reference, k, use_gpu=use_gpu,
                                      progress=True)
    else:  # a training point in the reference set is not its own neighbour; the others'
        # features are computed once, only for them
        outside = np.ones(len(inputs), dtype=bool)
        outside[ref_idx] = False
        distances = np.empty(len(inputs))
        distances[ref_idx] = knn_mean_distance(reference, reference, k, exclude_self=True,
                                               use_gpu=use_gpu, progress=True)
        if outside.any():
            distances[outside] = knn_mean_distance(fmap.transform(inputs[outside]), reference,
                                                   k, use_gpu=use_gpu, progress=True)
    errors = None
    if fmap.kind != "none":
        ref_norm = float(row_norms(ds.x_train[ref_idx]).max())
        errors = feature_error(inputs, ref_norm, fmap.coefficient)
    save_distances(out, distances, dataset=ds.name, split=split, k=k,
                   train_fingerprint=train_fingerprint(ds, dataset_summary),
                   feature_error=errors, feature_coefficient=fmap.coefficient,
                   knn_dim=reference.shape[1], features=fmap.describe())
    return Path(out)


def _distances(ds, path, split, k, summary=None, with_info=False):
    n = len(ds.x_train if split == "train" else ds.x_test)
    return load_distances(path, dataset=ds.name, split=split, k=k,
                          train_fingerprint=train_fingerprint(ds, summary), n=n,
                          with_info=with_info)


def train_job(spec: dict, config, outdir, *, train_distances=None, k=None, device="cpu",
              dataset_summary=None, deterministic=False):
    """Train one base classifier with Gaussian augmentation.

    Parameters
    ----------
    spec : dict
        The dataset (see :func:`data_job`).
    config : idrs.engine.train_config.TrainConfig
        The recipe and the training noise.
    outdir : path
        Where ``model.pth``, ``checkpoint.pth`` and ``metrics.csv`` go
        (:func:`idrs.engine.train.train`; a checkpoint of the same config resumes).
    train_distances : path, optional
        The training points' kNN distances (``idrs knn --split train``), needed with
        ``config.train_rate > 0`` (Appendix E.4), with their ``k``.
    device : str
    dataset_summary : path, optional
        ``idrs data``'s summary (:func:`train_fingerprint`).
    deterministic : bool
        Deterministic kernels: bitwise the same weights on one CUDA device.

    Returns
    -------
    pathlib.Path
        The final model file.

    Raises
    ------
    ValueError
        A lazily read dataset (ImageNet), or ``train_rate > 0`` without distances and k.
    """
    from ..engine.train import train
    ds = _dataset(spec)
    if getattr(ds.x_train, "lazy", False):
        raise ValueError(f"{ds.name} is read lazily from disk and is not trained on here "
                         "(it would not fit in memory): certify a pretrained model instead "
                         "(pretrained: in the config, or idrs certify --model FILE).")
    distances = None
    if config.train_rate > 0:
        if train_distances is None or k is None:
            raise ValueError("--train-rate > 0 needs --train-distances and --k.")
        distances = _distances(ds, train_distances, "train", k, dataset_summary)
    return train(ds, outdir, config, train_distances=distances, device=device,
                 deterministic=deterministic)


def test_indices(n_test: int, start=0, stop=None, skip=1):
    """Test indices of one shard: ``start <= i < stop`` with ``i % skip == 0`` (Cohen et
    al. certify every 20th CIFAR10 image: ``skip=20``).

    Returns
    -------
    ndarray of int64

    Examples
    --------
    >>> test_indices(100, start=30, stop=90, skip=20).tolist()
    [40, 60, 80]
    """
    if skip < 1 or start < 0:
        raise ValueError(f"skip == {skip} and start == {start}, must be >= 1 and >= 0.")
    stop = n_test if stop is None else min(stop, n_test)
    first = -(-start // skip) * skip  # the first multiple of skip at or after start
    return np.arange(first, stop, skip, dtype=np.int64)


def _shard(model_path, spec, start, stop, skip, device):
    """The dataset, the trained model (checked to belong to it), and one shard's test
    indices and inputs on ``device``."""
    import torch

    from ..engine.train import load_model
    if stop is not None and stop <= start:
        raise ValueError(f"--start {start} --stop {stop} selects no test index: stop must "
                         "exceed start.")
    ds = _dataset(spec)
    idx = test_indices(len(ds.x_test), start, stop, skip)
    if not len(idx):
        raise ValueError(f"start {start}, stop {stop}, skip {skip} select no index of "
                         f"{ds.name}'s {len(ds.x_test)} test points.")
    model, meta = load_model(model_path, device, dataset=ds.name)
    if meta["dataset"] != ds.name:
        raise ValueError(f"model {model_path} was trained on {meta['dataset']!r}, not "
                         f"{ds.name!r}.")
    return ds, model, meta, idx, torch.as_tensor(np.asarray(ds.x_test[idx]), device=device)


def _batch_size(batch, model, x, n, device, amp, compile, channels_last, num_classes):
    """``batch`` as configured, or for ``"auto"`` the one measured fastest for this
    model on this device (:func:`idrs.engine.batch_tuning.tuned_batch_size`, cached)."""
    from ..engine.batch_tuning import AUTO, tuned_batch_size
    if batch != AUTO:
        return batch
    return tuned_batch_size(model, x, device, n=n, amp=amp, compile=compile,
                            channels_last=channels_last, num_classes=num_classes)


def _sigma_b(test_distances, sigma, rate, m, sigma_max, sigma_mean):
    """sigma_b of Equation 1: ``sigma``, or calibrated so that the capped sigma(x)
    averages ``sigma_mean`` over the whole test split (a constant fixed before
    certifying, so sigma(x) stays a function of x alone)."""
    if sigma_mean is None:
        return float(sigma)
    return calibrate_sigma_b(test_distances, sigma_mean, rate, m, sigma_max)


def _evaluation_sigma(ds, idx, sigma, rate, distances, k, m, sigma_max, sigma_mean,
                      summary=None):
    """sigma per input, its kNN distance, sigma_b (calibrated to ``sigma_mean``) and the
    slack of sigma(x)'s semi-elasticity as computed (:func:`idrs.certify.sigma.log_sigma_slack`)."""
    if rate == 0 and distances is None:
        return np.full(len(idx), float(sigma)), np.full(len(idx), np.nan), float(sigma), 0.0
    if distances is None or k is None or m is None:
        raise ValueError("an input-dependent sigma(x) (rate > 0) needs --distances, --k and "
                         "--m.")
    every, info = _distances(ds, distances, "test", k, summary, with_info=True)
    sigma = _sigma_b(every, sigma, rate, m, sigma_max, sigma_mean)
    d = every[idx]
    sig = sigma_from_distance(d, sigma, rate, m, sigma_max)
    slack = log_sigma_slack(d, sig, rate, m, info["knn_dim"] or ds.dim, k,
                            info["feature_error"][idx], info["feature_coefficient"])
    return sig, d, float(sigma), slack


#: sigma beyond this many times the inputs' largest coordinate drowns them in noise.
SIGMA_SCALE_WARNING = 10.0


def _warn_beyond_scale(sigma, x):
    """A sigma far beyond the data's scale certifies nothing useful: say so (a typo of
    units, say 25 for 0.25, would otherwise run silently to accuracy 0)."""
    scale = float(x.abs().max()) if len(x) else 0.0
    top = float(np.max(sigma)) if len(sigma) else 0.0
    if scale > 0 and top > SIGMA_SCALE_WARNING * scale:
        log.warning("sigma up to %.4g is %.0f times the inputs' largest coordinate (%.4g): "
                    "the noise drowns the inputs and the smoothed classifier will mostly "
                    "abstain; pixels are in [0, 1], so sigma is in those units (0.12-1.0 in "
                    "the paper)", top, top / scale, scale)


def certify_job(model_path, spec: dict, out, evaluation: Evaluation, *, start=0, stop=None,
                distances=None, device="cpu", channels_last=None, dataset_summary=None,
                expect_arch=None):
    """Certify one shard of test indices and write its records (Parquet, atomically).

    Parameters
    ----------
    model_path : path
        The base classifier (:func:`idrs.engine.train.load_model`).
    spec : dict
        The dataset (:func:`idrs.workflow.registry.dataset_spec`).
    out : path
        The Parquet file of records written.
    evaluation : idrs.workflow.registry.Evaluation
        The setting: ``sigma`` is the constant sigma (``rate = 0``) or sigma_b of
        Equation 1, which ``sigma_mean`` (if set) replaces by the sigma_b whose sigma(x)
        averages ``sigma_mean`` over the test split (Figure 1's "same average"); ``amp``
        and ``compile`` None: the device's fastest path
        (:func:`idrs.engine.models.engine_settings`); ``noise_seed`` seeds the noise;
        ``batch`` ``"auto"``: measured (:func:`idrs.engine.batch_tuning.tuned_batch_size`)
        and written to the file's metadata.
    start, stop : int
        The shard: test indices ``start <= i < stop`` with ``i % skip == 0`` (skip of
        ``evaluation``; :func:`test_indices`).
    distances : path, optional
        The test split's kNN distances (``idrs knn``), needed where ``rate > 0``.
    device, channels_last
        Where and in which layout the base classifier runs.
    dataset_summary : path, optional
        ``idrs data``'s summary, checked against the data (see :func:`train_fingerprint`).
    expect_arch : str, optional
        The architecture the model file must hold (a pretrained model's declaration).

    Returns
    -------
    pandas.DataFrame
        One row per input, :data:`~idrs.results.records.RECORD_COLUMNS`: the
        certificate and its provenance (dataset, model, training seed and setting, every
        result-changing field of ``evaluation``, shard, the base classifier's arithmetic
        ``precision`` and ``compile``, code version).
    """
    ev = evaluation
    n0, n, k, m = ev.n0, ev.n, ev.k, ev.m
    if not 1 <= n0 <= n:
        raise ValueError(f"n0 == {n0} and n == {n}: need 1 <= n0 <= n (n0 selects the class, "
                         "n certifies it).")
    from ..engine.models import engine_settings
    from ..engine.smoothing import certify
    ds, model, meta, idx, x = _shard(model_path, spec, start, stop, ev.skip, device)
    if expect_arch is not None and meta["arch"] != expect_arch:
        raise ValueError(f"model file {model_path} holds a {meta['arch']}, not the declared "
                         f"{expect_arch}; correct the file or its arch.")
    sig, d, sigma_b, slack = _evaluation_sigma(ds, idx, ev.sigma, ev.rate, distances, k, m,
                                               ev.sigma_max, ev.sigma_mean, dataset_summary)
    _warn_beyond_scale(sig, x)
    batch = _batch_size(ev.batch, model, x, n, device, ev.amp, ev.compile, channels_last,
                        ds.num_classes)
    model, amp, compile = engine_settings(model, device, ev.amp, ev.compile)
    records = certify(model, x, ds.y_test[idx], idx, sig, n0=n0, n=n, alpha=ev.alpha,
                      num_classes=ds.num_classes, seed=ev.noise_seed, rate=ev.rate,
                      batch_size=batch, amp=amp, channels_last=channels_last,
                      knn_distance=d, sigma_slack=slack, clamp=ev.clamp, progress=True)
    provenance = {"dataset": ds.name, "arch": meta["arch"], "model": str(model_path),
                  "model_sha256": file_sha256(model_path),
                  "train_seed": meta["config"]["seed"],
                  "sigma_train": meta["config"]["sigma_train"],
                  "train_rate": meta["config"]["train_rate"],
                  # files written before bf16 training existed were trained in fp32
                  "train_precision": meta.get("train_precision", "fp32"), "sigma_b": sigma_b,
                  **ev.record_values(), "shard_start": int(start),
                  "shard_stop": -1 if stop is None else int(stop),
                  "precision": "bf16" if amp else "fp32", "compile": compile,
                  "code_version": __version__}
    for key, value in provenance.items():
        records[key] = value
    records = records[RECORD_COLUMNS]
    # the batch changes no record (Evaluation.RESULT_NEUTRAL), so the file's metadata
    # keeps it, not a column
    write_table(records, out, {**provenance, "batch": batch or "default"})
    return records


def reradius_job(source, out, clamp):
    """The records of an exact-radius shard with the paper's Appendix D clamp instead:
    the same samples, counts and bounds, without sampling again.

    ``idrs certify --clamp`` would draw the very same noise (it depends on the noise
    seed, the test index and the stage only), so only the radius differs; this computes
    it from the columns :func:`idrs.engine.smoothing.certify` records for that purpose
    (``p_a``, ``sigma``, ``rate``, ``dim``, ``sigma_slack``), on the CPU.

    Parameters
    ----------
    source : path
        A shard written by :func:`certify_job` with the exact radius (``clamp`` empty).
    out : path
        The Parquet file of records written: ``source``'s with ``radius``,
        ``radius_time``, ``clamp`` and ``code_version`` replaced.
    clamp : {"mnist", "cifar10"}
        The clamp's constants (:func:`idrs.certify.radius.clamp_sigma_t`).

    Returns
    -------
    pandas.DataFrame
        The records written.

    Raises
    ------
    ValueError
        If ``source`` lacks a column the radius needs (written by an older idrs), holds
        clamped radii already, or mixes rates.
    """
    from ..certify.radius import radii  # no torch: a CPU job of seconds
    records, meta = read_table(source, "rerun the certify job that wrote it")
    missing = [c for c in ("p_a", "sigma", "rate", "dim", "sigma_slack", "clamp")
               if c not in records.columns]
    if missing:
        raise ValueError(f"{source} has no {', '.join(missing)} column (written by an older "
                         "idrs): delete it so that the workflow certifies it again.")
    clamped = records.clamp[records.clamp != ""]
    if len(clamped):
        raise ValueError(f"{source} holds radii with the {clamped.iloc[0]!r} clamp already; "
                         "give the exact radius's records (clamp empty).")
    if records.rate.nunique() > 1 or records.dim.nunique() > 1:
        raise ValueError(f"{source} mixes rates or input dimensions: not one certify shard.")
    rate = float(records.rate.iloc[0]) if len(records) else 0.0
    dim = int(records.dim.iloc[0]) if len(records) else 1
    radius, radius_time = radii(records.p_a.to_numpy(), records.sigma.to_numpy(), rate, dim,
                                records.sigma_slack.to_numpy(), clamp)
    records = records.assign(radius=radius, radius_time=radius_time, clamp=clamp,
                             code_version=__version__)[RECORD_COLUMNS]
    write_table(records, out, {**meta, "clamp": clamp, "code_version": __version__,
                               "radius_from": str(source)})
    return records


def predict_job(model_path, spec: dict, out, *, sigma, n=100_000, alpha=0.001, start=0,
                stop=None, skip=1, seed=0, batch_size=None, device="cpu", amp=None,
                compile=None):
    """PREDICT (Cohen et al.) on one shard of test indices with a constant sigma.

    Parameters
    ----------
    model_path, spec, out
        As :func:`certify_job`.
    sigma : float
        The noise level.
    n, alpha
        Samples per input and the binomial test's level (abstains above it).
    start, stop, skip
        The shard (:func:`test_indices`).
    seed : int
        The noise seed.
    batch_size, device, amp, compile
        How the base classifier runs (:func:`idrs.engine.models.engine_settings`);
        ``batch_size="auto"``: measured (:func:`idrs.engine.batch_tuning.tuned_batch_size`).

    Returns
    -------
    pandas.DataFrame
        One row per input: its prediction (or abstention) and provenance; also written
        to ``out``.
    """
    from ..engine.models import engine_settings
    from ..engine.smoothing import predict
    ds, model, meta, idx, x = _shard(model_path, spec, start, stop, skip, device)
    batch_size = _batch_size(batch_size, model, x, n, device, amp, compile, None,
                             ds.num_classes)
    model, amp, compile = engine_settings(model, device, amp, compile)
    records = predict(model, x, ds.y_test[idx], idx, sigma, n=n, alpha=alpha,
                      num_classes=ds.num_classes, seed=seed, batch_size=batch_size, amp=amp)
    records["dataset"], records["arch"], records["model"] = ds.name, meta["arch"], str(model_path)
    records["train_seed"], records["code_version"] = meta["config"]["seed"], __version__
    write_table(records, out, {"dataset": ds.name, "model": str(model_path)})
    return records


def regions_job(spec: dict, models: dict, evaluations: dict, out_stem, *, title, grid=80,
                n=500, seed=0, device="cpu"):
    """Figure 1 for a 2-D dataset: the test points with sigma(x) drawn as circles, and
    the smoothed classifiers' decision boundaries.

    Parameters
    ----------
    spec : dict
        The dataset (see :func:`data_job`); it must be 2-D.
    models : dict
        {method: model file}.
    evaluations : dict
        {method: its setting as a dict: sigma, rate, k, m, sigma_max, sigma_mean}
        (:meth:`idrs.workflow.registry.Evaluation.sigma_setting`).
    out_stem : path
        The figure's path without suffix: ``.png`` and ``.pdf`` are written.
    title : str
    grid : int
        The lattice over the test points is ``grid`` x ``grid``.
    n : int
        Noise samples per lattice point (the smoothed class is their majority).
    seed : int
    device : str
        "auto": CUDA where present.

    Returns
    -------
    dict
        {method: (grid, grid) array of smoothed classes}. The circles are those of the
        first input-dependent method (the first method's constant sigma otherwise).

    Raises
    ------
    ValueError
        The dataset is not 2-D.
    """
    import torch

    from ..engine.smoothing import smoothed_class
    from ..engine.train import load_model
    from ..results.figures import regions_figure, save
    if device == "auto":  # the config's device: CUDA where present
        device = "cuda" if torch.cuda.is_available() else "cpu"
    ds = _dataset(spec)
    if ds.dim != 2:
        raise ValueError(f"decision regions need 2-D data; {ds.name} has dimension {ds.dim}.")
    low, high = ds.x_test.min(axis=0), ds.x_test.max(axis=0)
    pad = 0.05 * (high - low)
    gx, gy = (np.linspace(lo - p, hi + p, grid) for lo, hi, p in zip(low, high, pad))
    points = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2).astype(np.float32)
    decisions, circles = {}, None
    for method, path in models.items():
        ev = evaluations[method]
        model, _ = load_model(path, device)
        if ev["rate"] > 0:
            test_d = knn_mean_distance(ds.x_test, ds.x_train, ev["k"], use_gpu=False)
            sigma_b = _sigma_b(test_d, ev["sigma"], ev["rate"], ev["m"], ev.get("sigma_max"),
                               ev.get("sigma_mean"))
            grid_d = knn_mean_distance(points, ds.x_train, ev["k"], use_gpu=False)
            sigma, test_sigma = (sigma_from_distance(d, sigma_b, ev["rate"], ev["m"],
                                                     ev.get("sigma_max"))
                                 for d in (grid_d, test_d))
            circles = test_sigma if circles is None else circles
        else:
            sigma = np.full(len(points), float(ev["sigma"]))
        decisions[method] = smoothed_class(
            model, torch.as_tensor(points, device=device), sigma, n=n,
            num_classes=ds.num_classes, seed=seed).reshape(grid, grid)
    if circles is None:
        circles = np.full(len(ds.x_test), float(evaluations[next(iter(models))]["sigma"]))
    save(regions_figure(ds.x_test, ds.y_test, circles, gx, gy, decisions, title), out_stem)
    return decisions
