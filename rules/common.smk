# Config validation, the registry of models, evaluations and runs derived from the
# experiments, and the input functions shared by every stage.
import hashlib
import json
import math
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from idrs.results.baselines import check_baseline_file as _check_baseline_file
from idrs.engine.data import test_size as _test_size
from idrs.results.paper_check import group_address, in_group, load_claims
from idrs.workflow.results_dir import results_dir as _results_dir

def _short(error):
    """One jsonschema error in a few lines: where, what, and what is allowed."""
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    text = f"config: {where}: {error.message}"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and "properties" in schema:
        text += f"; allowed keys: {', '.join(sorted(schema['properties']))}"
    elif "description" in schema:
        text += f" ({schema['description']})"
    return text


def _validate_briefly(config):
    """An invalid config is one short message, not jsonschema's dump of the schema."""
    import jsonschema
    import yaml
    schema = yaml.safe_load((Path(workflow.basedir) / "schemas" / "config.schema.yaml")
                            .read_text())
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        raise WorkflowError(_short(error))


_validate_briefly(config)
# Fills in the schema's defaults, so rules may read every documented key.
validate(config, schema="../schemas/config.schema.yaml")

# a custom config without results_dir gets its own folder (idrs.workflow.results_dir)
RESULTS = Path(_results_dir(workflow.config_settings.configfiles or ["config.yaml"], config))
SEEDS = config["seeds"]


def _g(x):
    """A number as it appears in file names: 0.25 -> '0.25', 1.0 -> '1'."""
    return f"{x:g}"


def _fail(where, message):
    raise ValueError(f"config: {where}: {message}")


def _check_pretrained(config):
    """Every pretrained model's file exists and its dataset is defined (before any job)."""
    for name, p in config["pretrained"].items():
        if not Path(p["path"]).is_file():
            _fail(f"pretrained.{name}", f"model file {p['path']!r} does not exist (paths are "
                  f"relative to {Path.cwd()}); place the checkpoint there or correct the path")
        if p["dataset"] not in config["datasets"]:
            _fail(f"pretrained.{name}", f"dataset {p['dataset']!r} is not defined; defined: "
                  f"{sorted(config['datasets'])}")


def model_file(model, seed):
    """The model file a run certifies: a pretrained model's own file, else the one the
    train rule writes."""
    m = MODELS[model]
    if m.get("pretrained"):
        return Path(config["pretrained"][m["pretrained"]]["path"])
    return RESULTS / "models" / model / f"seed{seed}" / "model.pth"


def _recipe_digest(dataset, recipe):
    """Eight hex digits of the recipe (the schema has filled in every default) and the
    dataset's options: a change to either is a new model id, so Snakemake retrains,
    while restating a default changes nothing."""
    content = {"recipe": config["training"][recipe], "dataset": config["datasets"][dataset]}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _model_id(dataset, recipe, method, k, m):
    key = f"{dataset}-{recipe}-st{_g(method['sigma_train'])}"
    if method["train_rate"] > 0:
        key += f"-trr{_g(method['train_rate'])}-m{_g(m)}-k{k}"
    return f"{key}-{_recipe_digest(dataset, recipe)}"


def _evaluation_id(method, cert, k, m):
    key = f"s{_g(method['sigma'])}-r{_g(method['rate'])}"
    if method["rate"] > 0:
        key += f"-m{_g(m)}-k{k}"
    if method.get("sigma_max") is not None:
        key += f"-cap{_g(method['sigma_max'])}"
    if method.get("sigma_mean") is not None:
        key += f"-mean{_g(method['sigma_mean'])}"
    if method.get("clamp"):
        key += f"-clamp{method['clamp']}"
    key += f"-n0{cert['n0']}-n{cert['n']}-a{_g(cert['alpha'])}-skip{cert['skip']}"
    if cert.get("max") is not None:
        key += f"-max{cert['max']}"
    if cert.get("amp") is not None:  # a chosen precision; else the device's (see records)
        key += "-bf16" if cert["amp"] else "-fp32"
    return key + f"-noise{cert['noise_seed']}"


#: The paper's Appendix D clamp constants exist for these loaders only.
CLAMP_OF_LOADER = {"mnist": "mnist", "mnist_subset": "mnist", "cifar10": "cifar10"}


def _check_baselines(config):
    """Every published baseline's file exists and is a tab-separated table: checked before
    any job, since a missing input would otherwise leave old imports in use silently, and
    a failed import job deletes the previous import."""
    for name, b in config["baselines"].items():
        try:
            _check_baseline_file(b["path"])
        except (OSError, ValueError) as err:
            _fail(f"baselines.{name}", f"{err} (paths are relative to {Path.cwd()})")


def _check_plugins(config):
    """Your own datasets and architectures import (idrs.engine.plugins), before any job."""
    from idrs.engine.plugins import is_dotted, resolve
    named = [(f"datasets.{n}.loader", d["loader"], "dataset") for n, d in config["datasets"].items()]
    named += [(f"training.{n}.arch", r["arch"], "architecture")
              for n, r in config["training"].items()]
    for where, path, what in named:
        if is_dotted(path):
            try:
                resolve(path, what)
            except ValueError as err:
                _fail(where, str(err))


def _build_registry(config):
    _check_plugins(config)
    _check_baselines(config)
    _check_pretrained(config)
    models, evaluations, experiments = {}, {}, {}
    for name, exp in config["experiments"].items():
        where = f"experiments.{name}"
        if exp["dataset"] not in config["datasets"]:
            _fail(where, f"dataset {exp['dataset']!r} is not defined; defined: "
                  f"{sorted(config['datasets'])}")
        if exp["training"] not in config["training"]:
            _fail(where, f"training recipe {exp['training']!r} is not defined; defined: "
                  f"{sorted(config['training'])}")
        cert = {**config["certification"], **exp.get("certification", {})}
        if cert["n0"] > cert["n"]:
            _fail(where, f"n0 == {cert['n0']} exceeds n == {cert['n']}")
        k, m = exp["k"], exp["m"]
        runs, labels = [], [meth["label"] for meth in exp["methods"]]
        if len(set(labels)) != len(labels):
            _fail(where, f"method labels must be unique: {labels}")
        for meth in exp["methods"]:
            meth = {"rate": 0.0, "train_rate": 0.0, **meth}
            meth.setdefault("sigma_train", meth["sigma"])
            if meth.get("radius", "exact") == "paper_clamp":
                loader = config["datasets"][exp["dataset"]]["loader"]
                if loader not in CLAMP_OF_LOADER:
                    _fail(where, f"method {meth['label']!r}: radius: paper_clamp needs the "
                          f"paper's constants, which exist for {sorted(CLAMP_OF_LOADER)} "
                          f"only, not {loader!r}")
                meth["clamp"] = CLAMP_OF_LOADER[loader]
            cert_m = {**cert, **({"noise_seed": meth["noise_seed"]} if "noise_seed" in meth else {})}
            seeds = exp.get("seeds", SEEDS)
            if meth.get("pretrained"):
                pre = config["pretrained"].get(meth["pretrained"])
                if pre is None:
                    _fail(where, f"method {meth['label']!r}: pretrained model "
                          f"{meth['pretrained']!r} is not defined under pretrained: "
                          f"{sorted(config['pretrained'])}")
                if pre["dataset"] != exp["dataset"]:
                    _fail(where, f"method {meth['label']!r}: pretrained model "
                          f"{meth['pretrained']!r} classifies {pre['dataset']!r}, not "
                          f"{exp['dataset']!r}")
                model, seeds = f"pretrained-{meth['pretrained']}", [0]  # one file: one run
                models[model] = {"dataset": exp["dataset"], "pretrained": meth["pretrained"],
                                 "arch": pre["arch"]}
            else:
                model = _model_id(exp["dataset"], exp["training"], meth, k, m)
                models[model] = {"dataset": exp["dataset"], "recipe": exp["training"],
                                 "sigma_train": meth["sigma_train"],
                                 "train_rate": meth["train_rate"], "m": m, "k": k}
            evaluation = _evaluation_id(meth, cert_m, k, m)
            evaluations[evaluation] = {**cert_m, "sigma": meth["sigma"], "rate": meth["rate"],
                                       "k": k, "m": m, "sigma_max": meth.get("sigma_max"),
                                       "sigma_mean": meth.get("sigma_mean"),
                                       "clamp": meth.get("clamp")}
            baselines = meth.get("baseline", [])
            baselines = [baselines] if isinstance(baselines, str) else list(baselines)
            if not baselines and (meth["rate"] > 0 or meth["train_rate"] > 0):
                same = [o["label"] for o in exp["methods"] if o.get("rate", 0) == 0
                        and o.get("train_rate", 0) == 0 and o["sigma"] == meth["sigma"]]
                baselines = same[:1]
            for baseline in baselines:
                if baseline not in labels:
                    _fail(where, f"method {meth['label']!r} compares against {baseline!r}, "
                          f"which is not one of its methods {labels}")
            runs.append({"label": meth["label"], "model": model, "evaluation": evaluation,
                         "baselines": baselines, "seeds": seeds})
        for b in exp.get("baselines", []):
            if b not in config["baselines"]:
                _fail(where, f"published baseline {b!r} is not defined under baselines: "
                      f"{sorted(config['baselines'])}")
        for label in exp.get("decision_regions", []):
            if label not in labels:
                _fail(where, f"decision_regions names {label!r}, which is not one of its "
                      f"methods {labels}")
        for group, members in exp.get("spread", {}).items():
            for label in members:
                if label not in labels:
                    _fail(where, f"spread {group!r} names {label!r}, which is not one of its "
                          f"methods {labels}")
        experiments[name] = {**exp, "runs": runs, "seeds": exp.get("seeds", SEEDS)}
    return models, evaluations, experiments


def _check_claims(config, experiments):
    """A registered claim of this config's paper registry whose experiment and labels the
    config declares must name a comparison it makes (else its verdict could never be
    decided); claims of experiments it does not declare are reported as not run."""
    claims = load_claims()
    for claim in claims[claims.config == config["paper_registry"]].itertuples():
        exp = experiments.get(claim.experiment)
        labels = {r["label"] for r in exp["runs"]} if exp else set()
        if claim.metric.startswith("sd:"):  # two groups of runs, not a comparison
            for group in (claim.method, claim.baseline):
                name, label = group_address(claim.experiment, group)
                if name in experiments and not any(in_group(r["label"], label)
                                                   for r in experiments[name]["runs"]):
                    _fail(f"experiments.{name}", f"the registered claim {claim.claim!r} "
                          f"names the runs {label!r}, which match no method label there")
            continue
        if not {claim.method, claim.baseline} <= labels:
            continue
        if claim.baseline not in next(r["baselines"] for r in exp["runs"]
                                      if r["label"] == claim.method):
            _fail(f"experiments.{claim.experiment}", f"the registered claim {claim.claim!r} "
                  f"compares {claim.method!r} with {claim.baseline!r}, which this "
                  f"experiment does not compare: add {claim.baseline!r} to that method's "
                  "baseline: list (or correct idrs/results/paper_claims.csv)")


MODELS, EVALUATIONS, EXPERIMENTS = _build_registry(config)
_check_claims(config, EXPERIMENTS)

wildcard_constraints:
    dataset="[^/]+",
    model="[^/]+",
    evaluation="[^/]+",
    seed=r"\d+",
    shard=r"\d+",
    k=r"\d+",
    split="train|test",
    experiment="[^/]+",


#: Dataset keys that are options of the toy generators (idrs.engine.data.sectors, idrs.engine.data.cone).
GENERATOR_OPTIONS = ("n_train", "n_test", "scale", "sharp_angle", "half_angle", "radial",
                     "radial_dof")


def _generator_options(name):
    d = config["datasets"][name]
    return {key: d[key] for key in GENERATOR_OPTIONS if key in d}


def dataset_config(name):
    """A configured dataset as the `spec` of idrs.workflow.jobs."""
    d = config["datasets"][name]
    return {"name": d["loader"], "root": config["data_root"], "seed": d["seed"],
            "dim": d.get("dim"), "options": _generator_options(name)}


def knn_feature_args(name):
    """`idrs knn` options of a dataset's knn_features (empty: exact kNN on inputs)."""
    f = config["datasets"][name].get("knn_features") or {}
    flags = {"map": "--feature-map", "dim": "--feature-dim", "factor": "--pool-factor",
             "reference": "--reference-subset", "seed": "--feature-seed",
             "pca_sample": "--pca-sample"}
    return " ".join(f"{flags[key]} {value}" for key, value in f.items())


def dataset_spec(name):
    """The arguments of `idrs` that select a configured dataset."""
    d = dataset_config(name)
    args = f"--dataset {d['name']} --root {d['root']} --data-seed {d['seed']}"
    args += "".join(f" --data-option {key}={value}" for key, value in d["options"].items())
    return args + (f" --dim-data {d['dim']}" if d["dim"] is not None else "")


def test_size(name):
    try:
        return _test_size(config["datasets"][name]["loader"], **_generator_options(name))
    except ValueError as err:
        _fail(f"datasets.{name}", str(err))


def shard_ranges(model, evaluation):
    """(start, stop) of every shard of a run: index ranges of shard_size test indices."""
    ev = EVALUATIONS[evaluation]
    n = test_size(MODELS[model]["dataset"])
    end = n if ev.get("max") is None else min(ev["max"], n)
    size, skip = ev["shard_size"], ev["skip"]
    # a range holding no multiple of skip (the last, say) would certify nothing: dropped
    return [(s, min(s + size, end)) for s in range(0, end, size)
            if -(-s // skip) * skip < min(s + size, end)]


def run_shards(model, seed, evaluation):
    return [RESULTS / "certify" / model / f"seed{seed}" / evaluation / f"shard{i:04d}.parquet"
            for i in range(len(shard_ranges(model, evaluation)))]


def run_labels():
    """{run folder: [[experiment, method label], ...]} and {baseline: [experiment, ...]}:
    which experiments show each run, and under which name (for tables/runs.parquet)."""
    folders, published = {}, {}
    for name, exp in EXPERIMENTS.items():
        for run in exp["runs"]:
            for seed in run["seeds"]:
                folder = RESULTS / "certify" / run["model"] / f"seed{seed}" / run["evaluation"]
                folders.setdefault(str(folder), []).append([name, run["label"]])
        for b in exp.get("baselines", []):
            published.setdefault(b, []).append(name)
    return {"runs": folders, "baselines": published}


def all_runs():
    """Every (model, seed, evaluation) of every experiment, once."""
    seen = {}
    for exp in EXPERIMENTS.values():
        for run in exp["runs"]:
            for seed in run["seeds"]:
                seen[(run["model"], seed, run["evaluation"])] = None
    return list(seen)


def all_shards():
    return [path for run in all_runs() for path in run_shards(*run)]


def experiment_inputs(experiment):
    """{label: [shard files of every seed]} and {baseline name: imported file}."""
    exp = EXPERIMENTS[experiment]
    methods = {run["label"]: [str(p) for seed in run["seeds"]
                              for p in run_shards(run["model"], seed, run["evaluation"])]
               for run in exp["runs"]}
    published = {b: str(RESULTS / "baselines" / f"{b}.parquet") for b in exp.get("baselines", [])}
    return methods, published


REPORT_FIGURES = ["certified_accuracy", "accuracy", "classwise", "radius_distance"]
REPORT_FILES = [f"{f}.{ext}" for f in REPORT_FIGURES for ext in ("png", "pdf")] + [
    "summary.csv", "summary.md", "summary.tex", "comparisons.csv", "comparisons.md",
    "comparisons.tex", "per_class.csv", "runs.csv"]
PAPER_FILES = ["verdicts.csv", "verdicts.md", "claims.csv", "claims.md"]
THEORY_FILES = ["table1.csv", "table1.md", "figure3.png", "figure3.pdf"]


def get_final_output():
    """Every file the default target produces."""
    out = [RESULTS / "theory" / f for f in THEORY_FILES]
    out += [RESULTS / "tables" / f for f in ("records.parquet", "runs.parquet")]
    out += [RESULTS / "report" / e / f for e in EXPERIMENTS for f in REPORT_FILES]
    out += [RESULTS / "report" / e / f"decision_regions.{ext}" for e, exp in EXPERIMENTS.items()
            if exp.get("decision_regions") for ext in ("png", "pdf")]
    out += [RESULTS / "paper" / f for f in PAPER_FILES]
    return out


for _name in config["datasets"]:  # generator options are checked before any job starts
    test_size(_name)


def resources_of(stage, key):
    return config["resources"][stage][key]


def device():
    return "" if config["device"] == "auto" else f"--device {config['device']}"


# train stage
def train_inputs(wc):
    m = MODELS[wc.model]
    inputs = {"dataset": RESULTS / "datasets" / f"{m['dataset']}.txt"}
    if m["train_rate"] > 0:
        inputs["distances"] = RESULTS / "knn" / m["dataset"] / f"k{m['k']}_train.parquet"
    return inputs


def train_args(wc, input):
    m = MODELS[wc.model]
    recipe = config["training"][m["recipe"]]
    args = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in recipe.items())
    args += f" --sigma-train {m['sigma_train']} --seed {wc.seed}"
    if m["train_rate"] > 0:
        args += (f" --train-rate {m['train_rate']} --train-m {m['m']} --k {m['k']}"
                 f" --train-distances {input.distances}")
    return f"{dataset_spec(m['dataset'])} {args} {device()}"


# certify stage
def certify_inputs(wc):
    m, ev = MODELS[wc.model], EVALUATIONS[wc.evaluation]
    inputs = {"model": model_file(wc.model, wc.seed),
              "dataset": RESULTS / "datasets" / f"{m['dataset']}.txt"}
    if ev["rate"] > 0:
        inputs["distances"] = RESULTS / "knn" / m["dataset"] / f"k{ev['k']}_test.parquet"
    return inputs


def certify_args(wc, input):
    m, ev = MODELS[wc.model], EVALUATIONS[wc.evaluation]
    start, stop = shard_ranges(wc.model, wc.evaluation)[int(wc.shard)]
    args = (f"--sigma {ev['sigma']} --n0 {ev['n0']} --n {ev['n']} --alpha {ev['alpha']} "
            f"--skip {ev['skip']} --start {start} --stop {stop} --seed {ev['noise_seed']}")
    if ev.get("batch") is not None:  # else the device's default
        args += f" --batch {ev['batch']}"
    if m.get("pretrained"):
        args += f" --expect-arch {m['arch']}"
    if ev.get("amp") is not None:
        args += " --amp" if ev["amp"] else " --no-amp"
    if ev.get("compile") is not None:
        args += f" --compile {ev['compile']}"
    if ev["rate"] > 0:
        args += (f" --rate {ev['rate']} --k {ev['k']} --m {ev['m']}"
                 f" --distances {input.distances}")
    for key in ("sigma_max", "sigma_mean", "clamp"):
        if ev.get(key) is not None:
            args += f" --{key.replace('_', '-')} {ev[key]}"
    return f"{dataset_spec(m['dataset'])} {args} {device()}"


# report stage
def report_inputs(wc):
    methods, published = experiment_inputs(wc.experiment)
    return [f for files in methods.values() for f in files] + list(published.values())


def report_output(name, caption):
    return report(RESULTS / "report" / "{experiment}" / name, caption=f"../report/{caption}",
                  category="{experiment}")


# regions stage
def _regions_runs(experiment):
    exp = EXPERIMENTS[experiment]
    return [run for label in exp["decision_regions"]
            for run in exp["runs"] if run["label"] == label]


def regions_inputs(wc):
    seed = EXPERIMENTS[wc.experiment]["seeds"][0]
    return {f"model{i}": model_file(run["model"], seed)
            for i, run in enumerate(_regions_runs(wc.experiment))}


def regions_evaluations(experiment):
    """{method: its evaluation setting}, in the order of decision_regions."""
    return {run["label"]: EVALUATIONS[run["evaluation"]] for run in _regions_runs(experiment)}
