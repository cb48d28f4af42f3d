"""The run registry: which models to train, which evaluation settings to certify them
with, and which runs each experiment shows, built from a validated config.

Every option is declared once, on a frozen dataclass: :class:`Model` and
:class:`Evaluation` derive their ids (the folder names under ``results/``) from every
field that changes a result, and produce the ``idrs`` command-line flags that run
them; the records that ``idrs certify`` writes carry the same fields
(:data:`Evaluation.RECORD_COLUMN`). The Snakemake rules only wire these to files.

A config is validated against ``schemas/config.schema.yaml`` first (:func:`load_config`,
which fills in the defaults); :func:`check_files` checks the files that must exist and
the plug-ins that must import, :func:`build_registry` the names that refer to each other
and :func:`check_claims` the registered claims. Each raises :class:`ConfigError` naming
the key and the fix, before any job starts.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ConfigError", "Model", "Evaluation", "Run", "Experiment", "Registry",
           "load_config", "build_registry", "check_files", "check_claims", "dataset_spec",
           "dataset_flags", "knn_feature_flags", "test_size", "CLAMP_OF_LOADER",
           "GENERATOR_OPTIONS"]

#: The paper's Appendix D clamp constants exist for these loaders only.
CLAMP_OF_LOADER = {"mnist": "mnist", "mnist_subset": "mnist", "cifar10": "cifar10"}
#: Dataset keys that are options of the toy generators (idrs.engine.data.sectors, cone).
GENERATOR_OPTIONS = ("n_train", "n_test", "scale", "sharp_angle", "half_angle", "radial",
                     "radial_dof", "outer_scale", "outer_dof_fraction")


class ConfigError(ValueError):
    """A config that cannot run; the message names the key and the fix."""

    def __init__(self, where, message):
        super().__init__(f"config: {where}: {message}")


def _config_error(error) -> ConfigError:
    """One jsonschema error in a few words: where, what, and what is allowed."""
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    text = error.message
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and "properties" in schema:
        keys = ", ".join(sorted(schema["properties"]))
        return ConfigError(where, f"{text}; allowed keys: {keys}")
    # an error in one of anyOf's branches: the key's description is its parent's
    while error is not None:
        if isinstance(error.schema, dict) and "description" in error.schema:
            return ConfigError(where, f"{text} ({error.schema['description']})")
        error = error.parent
    return ConfigError(where, text)


def load_config(config: dict, schema_path) -> dict:
    """``config`` validated against the schema (YAML) at ``schema_path``, with the
    schema's defaults filled in, in place; an invalid config raises :class:`ConfigError`
    with jsonschema's best-matching error in one line, not its dump of the schema."""
    import jsonschema
    import yaml
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        raise _config_error(error)
    properties = jsonschema.Draft202012Validator.VALIDATORS["properties"]

    def with_defaults(validator, props, instance, schema):
        if isinstance(instance, dict):
            for key, sub in props.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from properties(validator, props, instance, schema)

    filling = jsonschema.validators.extend(jsonschema.Draft202012Validator,
                                           {"properties": with_defaults})
    filling(schema).validate(config)
    return config


def number(x) -> str:
    """A number as it appears in ids and file names: 0.25 -> '0.25', 1.0 -> '1'."""
    return f"{x:g}"


def _flag(name) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Model:
    """A base classifier: trained by ``idrs train`` from a recipe, or a pretrained file."""

    dataset: str
    recipe: str | None = None          # a name under training:, None for a pretrained file
    recipe_options: tuple = ()         # (key, value) pairs of the schema-filled recipe
    digest: str = ""                   # of the recipe and the dataset's options
    sigma_train: float = 0.0
    train_rate: float = 0.0
    m: float | None = None             # m and k of the training noise: train_rate > 0 only
    k: int | None = None
    pretrained: str | None = None      # a name under pretrained:
    path: str | None = None            # the pretrained file
    arch: str | None = None            # the pretrained file's declared architecture

    @property
    def id(self) -> str:
        if self.pretrained:
            return f"pretrained-{self.pretrained}"
        key = f"{self.dataset}-{self.recipe}-st{number(self.sigma_train)}"
        if self.train_rate > 0:
            key += f"-trr{number(self.train_rate)}-m{number(self.m)}-k{self.k}"
        return f"{key}-{self.digest}"

    def file(self, results, seed) -> Path:
        """The model file a run certifies: a pretrained model's own file, else the one
        ``idrs train`` writes."""
        if self.pretrained:
            return Path(self.path)
        return Path(results) / "models" / self.id / f"seed{seed}" / "model.pth"

    def train_flags(self, seed, distances=None) -> list[str]:
        """``idrs train`` flags (dataset flags apart): the recipe, the training noise."""
        flags = [f"{_flag(key)} {value}" for key, value in self.recipe_options]
        flags += [f"--sigma-train {self.sigma_train}", f"--seed {seed}"]
        if self.train_rate > 0:
            flags += [f"--train-rate {self.train_rate}", f"--train-m {self.m}",
                      f"--k {self.k}", f"--train-distances {distances}"]
        return flags


@dataclass(frozen=True)
class Evaluation:
    """One certification setting: sigma(x) (Equation 1) and CERTIFY's parameters."""

    sigma: float
    rate: float = 0.0
    k: int | None = None               # neighbours of sigma(x): rate > 0 only
    m: float | None = None             # m of Equation 1: rate > 0 only
    sigma_max: float | None = None
    sigma_mean: float | None = None
    clamp: str | None = None
    n0: int = 100
    n: int = 100_000
    alpha: float = 0.001
    skip: int = 1
    max: int | None = None
    amp: bool | None = None            # None: the device's default (recorded per row)
    compile: str | None = None         # None: the device's default (recorded per row)
    noise_seed: int = 0
    batch: int | str | None = None     # or "auto"; result-neutral: see RESULT_NEUTRAL
    shard_size: int = 1000             # result-neutral: how test indices are split into jobs

    #: Fields that change no record, hence not in :attr:`id`: on the CPU records are the
    #: same for any batch (tested); on CUDA with bf16 and a compiled model the kernels
    #: follow the batch shape, so shards of other batch sizes agree within the base
    #: classifier's rounding only (every certificate stays sound; not bitwise).
    RESULT_NEUTRAL = ("batch", "shard_size")
    #: The fields that define sigma or sigma(x): all a decision-region figure needs.
    SIGMA_FIELDS = ("sigma", "rate", "k", "m", "sigma_max", "sigma_mean")
    #: The record column that carries each result-changing field (``max``: the last
    #: shard's stop; ``amp``: ``precision``; ``sigma``: ``sigma_b``, with ``sigma_mean``
    #: the calibrated one).
    RECORD_COLUMN = {"sigma": "sigma_b", "rate": "rate", "k": "k", "m": "m",
                     "sigma_max": "sigma_max", "sigma_mean": "sigma_mean", "clamp": "clamp",
                     "n0": "n0", "n": "n", "alpha": "alpha", "skip": "skip",
                     "max": "shard_stop", "amp": "precision", "compile": "compile",
                     "noise_seed": "noise_seed"}

    #: Fields whose record value the certify job resolves: the (calibrated) sigma_b, the
    #: shard's stop, the device's precision and compile mode.
    RESOLVED_BY_JOB = ("sigma", "max", "amp", "compile")
    #: How a record writes a field left unset: NaN, or this.
    RECORD_UNSET = {"k": -1, "clamp": ""}

    def record_values(self) -> dict:
        """{record column: value} of the result-changing fields a record copies as they
        are (all of :attr:`RECORD_COLUMN` but :attr:`RESOLVED_BY_JOB`), each of its
        field's type, so that a column keeps one dtype across shards."""
        types = {f.name: f.type.split(" |")[0] for f in dataclasses.fields(self)}
        cast = {"float": float, "int": int, "str": str}
        values = {}
        for name, column in self.RECORD_COLUMN.items():
            if name not in self.RESOLVED_BY_JOB:
                value = getattr(self, name)
                values[column] = (self.RECORD_UNSET.get(name, float("nan")) if value is None
                                  else cast[types[name]](value))
        return values

    @property
    def radius_source(self) -> Evaluation | None:
        """The evaluation whose records this one's are computed from, or None where it
        samples its own: the paper's clamp changes the radius only, so its run takes the
        exact radius's samples (``idrs reradius``) instead of drawing the same ones again."""
        return dataclasses.replace(self, clamp=None) if self.clamp else None

    def sigma_setting(self) -> dict:
        """{field: value} of :attr:`SIGMA_FIELDS`: what sigma(x) is, nothing of how it
        is sampled or certified."""
        return {name: getattr(self, name) for name in self.SIGMA_FIELDS}

    @property
    def id(self) -> str:
        key = f"s{number(self.sigma)}-r{number(self.rate)}"
        if self.rate > 0:
            key += f"-m{number(self.m)}-k{self.k}"
        if self.sigma_max is not None:
            key += f"-cap{number(self.sigma_max)}"
        if self.sigma_mean is not None:
            key += f"-mean{number(self.sigma_mean)}"
        if self.clamp:
            key += f"-clamp{self.clamp}"
        key += f"-n0{self.n0}-n{self.n}-a{number(self.alpha)}-skip{self.skip}"
        if self.max is not None:
            key += f"-max{self.max}"
        if self.amp is not None:
            key += "-bf16" if self.amp else "-fp32"
        if self.compile is not None:
            key += f"-compile{self.compile}"
        return key + f"-noise{self.noise_seed}"

    def certify_flags(self, start, stop, distances=None, expect_arch=None) -> list[str]:
        """``idrs certify`` flags (dataset and model flags apart) for one shard, in the
        order the workflow has always passed them (a new order would rerun every job)."""
        flags = [f"--sigma {self.sigma}", f"--n0 {self.n0}", f"--n {self.n}",
                 f"--alpha {self.alpha}", f"--skip {self.skip}", f"--start {start}",
                 f"--stop {stop}", f"--seed {self.noise_seed}"]
        if self.batch is not None:
            flags.append(f"--batch {self.batch}")
        if expect_arch is not None:
            flags.append(f"--expect-arch {expect_arch}")
        if self.amp is not None:
            flags.append("--amp" if self.amp else "--no-amp")
        if self.compile is not None:
            flags.append(f"--compile {self.compile}")
        if self.rate > 0:
            flags += [f"--rate {self.rate}", f"--k {self.k}", f"--m {self.m}",
                      f"--distances {distances}"]
        flags += [f"{_flag(key)} {getattr(self, key)}" for key in
                  ("sigma_max", "sigma_mean", "clamp") if getattr(self, key) is not None]
        return flags

    def shard_ranges(self, test_size) -> list[tuple[int, int]]:
        """(start, stop) of every shard: ranges of ``shard_size`` test indices, up to
        ``max``; a range holding no multiple of ``skip`` would certify nothing: dropped."""
        end = test_size if self.max is None else min(self.max, test_size)
        size, skip = self.shard_size, self.skip
        return [(s, min(s + size, end)) for s in range(0, end, size)
                if -(-s // skip) * skip < min(s + size, end)]


@dataclass(frozen=True)
class Run:
    """One method of an experiment: a model certified with an evaluation, per seed."""

    label: str
    model: str                         # a Model id
    evaluation: str                    # an Evaluation id
    seeds: tuple
    baselines: tuple = ()              # labels of the methods it is compared with
    paper: str | None = None           # the paper's name for it, where it differs


@dataclass(frozen=True)
class Experiment:
    """Runs on one dataset shown together: one report, one set of comparisons."""

    name: str
    dataset: str
    runs: tuple
    seeds: tuple
    title: str
    published: tuple = ()              # names under baselines: (imported files)
    decision_regions: tuple = ()       # method labels whose Figure 1 is drawn
    spread: dict = field(default_factory=dict, hash=False)
    max_radius: float | None = None

    def run(self, label) -> Run:
        return next(r for r in self.runs if r.label == label)


@dataclass(frozen=True)
class Registry:
    models: dict
    evaluations: dict
    experiments: dict

    def folder(self, results, model, seed, evaluation) -> Path:
        """The folder of one run's shards."""
        return Path(results) / "certify" / model / f"seed{seed}" / evaluation

    def all_runs(self) -> list[tuple[str, int, str]]:
        """Every (model, seed, evaluation) of every experiment, once, in config order."""
        seen = {}
        for exp in self.experiments.values():
            for run in exp.runs:
                for seed in run.seeds:
                    seen[(run.model, seed, run.evaluation)] = None
        return list(seen)


def recipe_digest(config, dataset, recipe) -> str:
    """Eight hex digits of the recipe (the schema has filled in every default) and the
    dataset's options: a change to either is a new model id, so Snakemake retrains,
    while restating a default changes nothing."""
    content = {"recipe": config["training"][recipe], "dataset": config["datasets"][dataset]}
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _defined(where, what, name, names):
    if name not in names:
        raise ConfigError(where, f"{what} {name!r} is not defined; defined: {sorted(names)}")


def _model(config, exp, where, meth):
    if meth.get("pretrained"):
        pre = config["pretrained"].get(meth["pretrained"])
        if pre is None:
            raise ConfigError(where, f"method {meth['label']!r}: pretrained model "
                              f"{meth['pretrained']!r} is not defined under pretrained: "
                              f"{sorted(config['pretrained'])}")
        if pre["dataset"] != exp["dataset"]:
            raise ConfigError(where, f"method {meth['label']!r}: pretrained model "
                              f"{meth['pretrained']!r} classifies {pre['dataset']!r}, not "
                              f"{exp['dataset']!r}")
        return Model(dataset=exp["dataset"], pretrained=meth["pretrained"], path=pre["path"],
                     arch=pre["arch"])
    varying = meth["train_rate"] > 0  # m and k shape the training noise only then
    return Model(dataset=exp["dataset"], recipe=exp["training"],
                 recipe_options=tuple(config["training"][exp["training"]].items()),
                 digest=recipe_digest(config, exp["dataset"], exp["training"]),
                 sigma_train=meth["sigma_train"], train_rate=meth["train_rate"],
                 m=exp["m"] if varying else None, k=exp["k"] if varying else None)


def _evaluation(config, exp, where, meth):
    cert = {**config["certification"], **exp.get("certification", {})}
    if "noise_seed" in meth:
        cert["noise_seed"] = meth["noise_seed"]
    if cert["n0"] > cert["n"]:
        raise ConfigError(where, f"n0 == {cert['n0']} exceeds n == {cert['n']}")
    clamp = None
    if meth.get("radius", "exact") == "paper_clamp":
        loader = config["datasets"][exp["dataset"]]["loader"]
        if loader not in CLAMP_OF_LOADER:
            raise ConfigError(where, f"method {meth['label']!r}: radius: paper_clamp needs "
                              f"the paper's constants, which exist for "
                              f"{sorted(CLAMP_OF_LOADER)} only, not {loader!r}")
        clamp = CLAMP_OF_LOADER[loader]
    varying = meth["rate"] > 0
    return Evaluation(sigma=meth["sigma"], rate=meth["rate"],
                      k=exp["k"] if varying else None, m=exp["m"] if varying else None,
                      sigma_max=meth.get("sigma_max"), sigma_mean=meth.get("sigma_mean"),
                      clamp=clamp, **{f.name: cert[f.name] for f in dataclasses.fields(
                          Evaluation) if f.name in cert})


def _baselines(exp, where, meth, labels):
    chosen = meth.get("baseline", [])
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    if not chosen and (meth["rate"] > 0 or meth["train_rate"] > 0):
        chosen = [o["label"] for o in exp["methods"] if o.get("rate", 0) == 0
                  and o.get("train_rate", 0) == 0 and o["sigma"] == meth["sigma"]][:1]
    for baseline in chosen:
        if baseline not in labels:
            raise ConfigError(where, f"method {meth['label']!r} compares against "
                              f"{baseline!r}, which is not one of its methods {labels}")
    return tuple(chosen)


def _labels_known(where, what, named, labels):
    for label in named:
        if label not in labels:
            raise ConfigError(where, f"{what} names {label!r}, which is not one of its "
                              f"methods {labels}")


def _register(table, key, value, where, what):
    """One object per id: the same id with other settings would share one folder."""
    old = table.setdefault(key, value)
    if old != value:
        pairs = {f.name: (getattr(old, f.name), getattr(value, f.name))
                 for f in dataclasses.fields(value)}
        diff = {name: pair for name, pair in pairs.items() if pair[0] != pair[1]}
        raise ConfigError(where, f"the {what} {key!r} is configured twice with different "
                          f"settings {diff}; use one value for each")


def _register_radius_source(evaluations, evaluation, where, label):
    """The exact twin of a clamped evaluation, certified even if no method shows it. A
    twin configured elsewhere with another batch is the same run (batch changes no
    record); with another shard size its shards would not line up with the clamped ones."""
    source = evaluation.radius_source
    old = evaluations.setdefault(source.id, source)
    if old.shard_size != source.shard_size:
        raise ConfigError(where, f"method {label!r} (radius: paper_clamp) takes its samples "
                          f"from the exact evaluation {source.id!r}, configured elsewhere "
                          f"with shard_size {old.shard_size}, not {source.shard_size}; use "
                          "one shard_size for both")


def build_registry(config) -> Registry:
    """Models, evaluations and experiments of a schema-validated config (defaults filled)."""
    models, evaluations, experiments, clamped = {}, {}, {}, []
    for name, exp in config["experiments"].items():
        where = f"experiments.{name}"
        _defined(where, "dataset", exp["dataset"], config["datasets"])
        _defined(where, "training recipe", exp["training"], config["training"])
        labels = [meth["label"] for meth in exp["methods"]]
        if len(set(labels)) != len(labels):
            raise ConfigError(where, f"method labels must be unique: {labels}")
        seeds = tuple(exp.get("seeds", config["seeds"]))
        runs, same = [], {}
        for meth in exp["methods"]:
            meth = {"rate": 0.0, "train_rate": 0.0, **meth}
            meth.setdefault("sigma_train", meth["sigma"])
            model, evaluation = _model(config, exp, where, meth), _evaluation(config, exp,
                                                                              where, meth)
            twin = same.setdefault((model.id, evaluation.id), meth["label"])
            if twin != meth["label"]:  # a comparison of a run with itself, mislabelled
                raise ConfigError(where, f"methods {twin!r} and {meth['label']!r} are the "
                                  f"same run (model {model.id}, evaluation {evaluation.id}); "
                                  "set the field that tells them apart (sigma_train, "
                                  "train_rate, rate, ...) or drop one")
            _register(models, model.id, model, where, "model")
            _register(evaluations, evaluation.id, evaluation, where, "evaluation")
            if evaluation.radius_source is not None:
                clamped.append((evaluation, where, meth["label"]))
            runs.append(Run(label=meth["label"], model=model.id, evaluation=evaluation.id,
                            seeds=(0,) if model.pretrained else seeds,  # one file: one run
                            baselines=_baselines(exp, where, meth, labels),
                            paper=meth.get("paper")))
        for b in exp.get("baselines", []):
            if b not in config["baselines"]:
                raise ConfigError(where, f"published baseline {b!r} is not defined under "
                                  f"baselines: {sorted(config['baselines'])}")
        _labels_known(where, "decision_regions", exp.get("decision_regions", []), labels)
        for group, members in exp.get("spread", {}).items():
            _labels_known(where, f"spread {group!r}", members, labels)
        experiments[name] = Experiment(
            name=name, dataset=exp["dataset"], runs=tuple(runs), seeds=seeds,
            title=exp.get("title", name), published=tuple(exp.get("baselines", [])),
            decision_regions=tuple(exp.get("decision_regions", [])),
            spread=dict(exp.get("spread", {})), max_radius=exp.get("max_radius"))
    for evaluation, where, label in clamped:  # after every method: the twin may be one
        _register_radius_source(evaluations, evaluation, where, label)
    return Registry(models, evaluations, experiments)


def dataset_spec(config, name) -> dict:
    """A configured dataset as the ``spec`` of :mod:`idrs.workflow.jobs`."""
    d = config["datasets"][name]
    return {"name": d["loader"], "root": config["data_root"], "seed": d["seed"],
            "dim": d.get("dim"),
            "options": {key: d[key] for key in GENERATOR_OPTIONS if key in d}}


def dataset_flags(config, name) -> list[str]:
    """The ``idrs`` flags that select a configured dataset."""
    d = dataset_spec(config, name)
    flags = [f"--dataset {d['name']}", f"--root {d['root']}", f"--data-seed {d['seed']}"]
    flags += [f"--data-option {key}={value}" for key, value in d["options"].items()]
    return flags + ([f"--dim-data {d['dim']}"] if d["dim"] is not None else [])


def knn_feature_flags(config, name) -> list[str]:
    """``idrs knn`` flags of a dataset's knn_features (none: exact kNN on inputs)."""
    f = config["datasets"][name].get("knn_features") or {}
    names = {"map": "--feature-map", "dim": "--feature-dim", "factor": "--pool-factor",
             "reference": "--reference-subset", "seed": "--feature-seed",
             "pca_sample": "--pca-sample"}
    return [f"{names[key]} {value}" for key, value in f.items()]


def test_size(config, name) -> int:
    """Test points of a configured dataset (generator options checked)."""
    from ..engine.data import test_size as loader_test_size
    spec = dataset_spec(config, name)
    try:
        return loader_test_size(spec["name"], **spec["options"])
    except ValueError as err:
        raise ConfigError(f"datasets.{name}", str(err)) from None


def check_files(config):
    """What must exist before any job: plug-ins import (:mod:`idrs.engine.plugins`),
    published baselines are tab-separated tables (a failed import job would delete the
    previous import), pretrained files exist and classify a defined dataset; every
    dataset's generator options are valid."""
    from ..engine.plugins import is_dotted, resolve
    from ..results.baselines import check_baseline_file
    named = [(f"datasets.{n}.loader", d["loader"], "dataset")
             for n, d in config["datasets"].items()]
    named += [(f"training.{n}.arch", r["arch"], "architecture")
              for n, r in config["training"].items()]
    for where, path, what in named:
        if is_dotted(path):
            try:
                resolve(path, what)
            except ValueError as err:
                raise ConfigError(where, str(err)) from None
    for name, b in config["baselines"].items():
        try:
            check_baseline_file(b["path"])
        except (OSError, ValueError) as err:
            raise ConfigError(f"baselines.{name}",
                              f"{err} (paths are relative to {Path.cwd()})") from None
    for name, p in config["pretrained"].items():
        if not Path(p["path"]).is_file():
            raise ConfigError(f"pretrained.{name}", f"model file {p['path']!r} does not exist "
                              f"(paths are relative to {Path.cwd()}); place the checkpoint "
                              "there or correct the path")
        _defined(f"pretrained.{name}", "dataset", p["dataset"], config["datasets"])
    for name in config["datasets"]:
        test_size(config, name)


def check_claims(config, registry):
    """A registered claim of this config's paper registry whose experiment and labels the
    config declares must name a comparison it makes (else its verdict could never be
    decided); claims of experiments it does not declare are reported as not run."""
    from ..results.paper_check import group_address, in_group, load_claims
    claims = load_claims()
    experiments = registry.experiments
    for claim in claims[claims.config == config["paper_registry"]].itertuples():
        exp = experiments.get(claim.experiment)
        labels = {r.label for r in exp.runs} if exp else set()
        if claim.metric.startswith("sd:"):  # two groups of runs, not a comparison
            for group in (claim.method, claim.baseline):
                name, label = group_address(claim.experiment, group)
                if name in experiments and not any(in_group(r.label, label)
                                                   for r in experiments[name].runs):
                    raise ConfigError(f"experiments.{name}", f"the registered claim "
                                      f"{claim.claim!r} names the runs {label!r}, which "
                                      "match no method label there")
            continue
        if not {claim.method, claim.baseline} <= labels:
            continue
        if claim.baseline not in exp.run(claim.method).baselines:
            raise ConfigError(f"experiments.{claim.experiment}", f"the registered claim "
                              f"{claim.claim!r} compares {claim.method!r} with "
                              f"{claim.baseline!r}, which this experiment does not compare: "
                              f"add {claim.baseline!r} to that method's baseline: list (or "
                              "correct idrs/results/paper_claims.csv)")
