# Config validation and the input functions shared by every stage; the registry of
# models, evaluations and runs is idrs.workflow.registry.
import os
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

from idrs.workflow.registry import (ConfigError, build_registry, check_claims, check_files,
                                    dataset_flags, dataset_spec, knn_feature_flags,
                                    load_config, test_size)
from idrs.workflow.results_dir import results_dir as _results_dir

# An invalid config is one line naming the key, before any job. load_config fills in the
# schema's defaults, so rules may read every documented key.
try:
    load_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
    check_files(config)
    REGISTRY = build_registry(config)
    check_claims(config, REGISTRY)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
MODELS, EVALUATIONS, EXPERIMENTS = REGISTRY.models, REGISTRY.evaluations, REGISTRY.experiments
# a custom config without results_dir gets its own folder (idrs.workflow.results_dir)
RESULTS = Path(_results_dir(workflow.config_settings.configfiles or ["config.yaml"], config))

wildcard_constraints:
    dataset="[^/]+",
    model="[^/]+",
    evaluation="[^/]+",
    seed=r"\d+",
    shard=r"\d+",
    k=r"\d+",
    split="train|test",
    experiment="[^/]+",


def dataset_args(name):
    return " ".join(dataset_flags(config, name))


def shard_ranges(model, evaluation):
    return EVALUATIONS[evaluation].shard_ranges(test_size(config, MODELS[model].dataset))


def run_shards(model, seed, evaluation):
    folder = REGISTRY.folder(RESULTS, model, seed, evaluation)
    return [folder / f"shard{i:04d}.parquet" for i in range(len(shard_ranges(model, evaluation)))]


def run_labels():
    """{run folder: [[experiment, method label], ...]} and {baseline: [experiment, ...]}:
    which experiments show each run, and under which name (for tables/runs.parquet)."""
    folders, published = {}, {}
    for name, exp in EXPERIMENTS.items():
        for run in exp.runs:
            for seed in run.seeds:
                folder = REGISTRY.folder(RESULTS, run.model, seed, run.evaluation)
                folders.setdefault(str(folder), []).append([name, run.label])
        for b in exp.published:
            published.setdefault(b, []).append(name)
    return {"runs": folders, "baselines": published}


def all_shards():
    return [path for run in REGISTRY.all_runs() for path in run_shards(*run)]


def experiment_inputs(experiment):
    """{label: [shard files of every seed]} and {baseline name: imported file}."""
    exp = EXPERIMENTS[experiment]
    methods = {run.label: [str(p) for seed in run.seeds
                           for p in run_shards(run.model, seed, run.evaluation)]
               for run in exp.runs}
    published = {b: str(RESULTS / "baselines" / f"{b}.parquet") for b in exp.published}
    return methods, published


REPORT_FIGURES = ["certified_accuracy", "accuracy", "classwise", "radius_distance"]
REPORT_FILES = [f"{f}.{ext}" for f in REPORT_FIGURES for ext in ("png", "pdf")] + [
    f"{table}.{ext}" for table in ("summary", "comparisons")
    for ext in ("html", "csv", "md", "tex")] + ["per_class.csv", "runs.csv",
                                                "summary_numbers.csv"]
PAPER_FILES = ["verdicts.html", "verdicts.csv", "verdicts.md", "claims.html", "claims.csv",
               "claims.md", "tables"]
THEORY_FILES = ["table1.csv", "table1.md", "figure3.png", "figure3.pdf"]
#: Whether this config registers the paper's cells and claims: the paper check and the
#: theory outputs it reads run only then.
PAPER = config.get("paper_registry") is not None
#: {experiment: N} of the experiments on data with a dimension (the cone sets); with the
#: paper's cells and two dimensions at least, their gains are drawn against N.
DIMENSIONS = {name: dim for name, exp in EXPERIMENTS.items()
              if (dim := dataset_spec(config, exp.dataset).get("dim")) is not None}
DIMENSION_FILES = ([f"dimension_gains{suffix}" for suffix in (".csv", ".png", ".pdf",
                                                             "_table.csv", "_table.md")]
                   if PAPER and len(set(DIMENSIONS.values())) >= 2 else [])
#: The configuration's name in the report: its files.
CONFIG_NAME = " ".join(os.path.relpath(path) for path in
                       workflow.config_settings.configfiles or ["config.yaml"])


def report_page():
    """The report's first page: the landing rule's (with the verdicts), unless a paper
    check is newer than it (a run that stopped before the landing job); else the
    workflow's description."""
    landing = RESULTS / "landing.rst"
    checks = (RESULTS / "paper").glob("*.csv")
    if landing.exists() and all(landing.stat().st_mtime >= c.stat().st_mtime for c in checks):
        return str(landing.resolve())
    return "report/workflow.rst"


def landing_inputs(wc):
    inputs = {"description": Path(workflow.basedir) / "report" / "workflow.rst"}
    if PAPER:
        inputs.update(verdicts=RESULTS / "paper" / "verdicts.csv",
                      claims=RESULTS / "paper" / "claims.csv")
    return inputs


def get_final_output():
    """Every file the default target produces."""
    out = [RESULTS / "landing.rst"]
    if PAPER:
        out += [RESULTS / "theory" / f for f in THEORY_FILES]
        out += [RESULTS / "paper" / f for f in PAPER_FILES + DIMENSION_FILES]
    out += [RESULTS / "tables" / f for f in ("records.parquet", "runs.parquet")]
    out += [RESULTS / "report" / e / f for e in EXPERIMENTS for f in REPORT_FILES]
    out += [RESULTS / "report" / e / f"decision_regions.{ext}" for e, exp in EXPERIMENTS.items()
            if exp.decision_regions for ext in ("png", "pdf")]
    return out


def resources_of(stage, key):
    return config["resources"][stage][key]


def device():
    return "" if config["device"] == "auto" else f"--device {config['device']}"


# train stage
def train_inputs(wc):
    m = MODELS[wc.model]
    inputs = {"dataset": RESULTS / "datasets" / f"{m.dataset}.txt"}
    if m.train_rate > 0:
        inputs["distances"] = RESULTS / "knn" / m.dataset / f"k{m.k}_train.parquet"
    return inputs


def train_args(wc, input):
    m = MODELS[wc.model]
    flags = m.train_flags(wc.seed, input.get("distances"))
    return " ".join([dataset_args(m.dataset), *flags, device()])


# certify stage
def certify_inputs(wc):
    m, ev = MODELS[wc.model], EVALUATIONS[wc.evaluation]
    inputs = {"model": m.file(RESULTS, wc.seed),
              "dataset": RESULTS / "datasets" / f"{m.dataset}.txt"}
    if ev.rate > 0:
        inputs["distances"] = RESULTS / "knn" / m.dataset / f"k{ev.k}_test.parquet"
    return inputs


#: The evaluations whose shards are another's records with the paper's clamp (the reradius
#: rule), as a wildcard pattern; one that matches nothing where there are none.
RERADIUS = "|".join(re.escape(e) for e, ev in EVALUATIONS.items() if ev.radius_source) or "(?!)"


def reradius_source(wc):
    """The exact radius's shard whose records a clamped run's shard recomputes."""
    source = EVALUATIONS[wc.evaluation].radius_source
    return REGISTRY.folder(RESULTS, wc.model, wc.seed, source.id) / f"shard{wc.shard}.parquet"


def certify_args(wc, input):
    m, ev = MODELS[wc.model], EVALUATIONS[wc.evaluation]
    start, stop = shard_ranges(wc.model, wc.evaluation)[int(wc.shard)]
    flags = ev.certify_flags(start, stop, input.get("distances"), m.arch if m.pretrained else None)
    return " ".join([dataset_args(m.dataset), *flags, device()])


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
    return [exp.run(label) for label in exp.decision_regions]


def regions_inputs(wc):
    seed = EXPERIMENTS[wc.experiment].seeds[0]
    return {f"model{i}": MODELS[run.model].file(RESULTS, seed)
            for i, run in enumerate(_regions_runs(wc.experiment))}


def regions_evaluations(experiment):
    """{method: its sigma setting}, in the order of decision_regions: a change of n, batch
    or shard size leaves the figure alone."""
    return {run.label: EVALUATIONS[run.evaluation].sigma_setting()
            for run in _regions_runs(experiment)}
