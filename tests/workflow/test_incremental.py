"""The workflow on a tiny config: one real run through every rule, then dry runs showing
that a change reruns exactly what depends on it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from idrs.results.records import RECORD_COLUMNS

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

TINY = {
    "results_dir": "results",
    "paper_registry": "default",  # the paper check and theory run, with "not run" cells
    "seeds": [0, 1],
    "datasets": {"sectors": {"loader": "sectors"}},
    "training": {"toy": {"arch": "mlp", "epochs": 3, "batch_size": 100, "lr": 0.05}},
    "certification": {"n0": 50, "n": 200, "shard_size": 100, "batch": 500},
    "report": {"table_radii": [0.1, 0.25]},
    "baselines": {"published": {"path": "published.tsv", "dataset": "sectors", "arch": "mlp",
                                "sigma": 0.25}},
    "experiments": {"toy": {
        "dataset": "sectors", "training": "toy", "k": 10, "m": 0.13, "baselines": ["published"],
        "methods": [{"label": "constant", "sigma": 0.25},
                    {"label": "idrs", "sigma": 0.25, "sigma_train": 0.25, "rate": 0.5}]}},
}


# a published result file in Cohen et al.'s format, shown beside the project's runs
PUBLISHED = "idx\tlabel\tpredict\tradius\tcorrect\ttime\n" + "".join(
    f"{i}\t{i % 2}\t{i % 2}\t0.{i + 1}\t1\t0:00:01.5\n" for i in range(10))


def snakemake(workdir, config, *args, published=PUBLISHED):
    if (workdir / "published.tsv").exists() and (workdir / "published.tsv").read_text() == published:
        pass  # unchanged: keep its time stamp
    else:
        (workdir / "published.tsv").write_text(published)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(workdir), "--configfile", str(path),
                           "--cores", "2", *args], capture_output=True, text=True,
                          env={"PATH": f"{SNAKEMAKE.parent}:/usr/bin:/bin", "HOME": str(workdir)})
    return done


def planned_jobs(workdir, config, published=PUBLISHED):
    """{rule: count} of a dry run (empty when nothing is to be done)."""
    done = snakemake(workdir, config, "-n", published=published)
    assert done.returncode == 0, done.stderr + done.stdout
    text = done.stdout
    if "Nothing to be done" in text + done.stderr:
        return {}
    table = text[text.index("Job stats:"):]
    rows = re.findall(r"^(\w+)\s+(\d+)$", table.split("total")[0], flags=re.M)
    return {rule: int(count) for rule, count in rows}


def variant(**changes):
    config = yaml.safe_load(yaml.safe_dump(TINY))
    for dotted, value in changes.items():
        node = config
        *path, last = dotted.split(".")
        for key in path:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value
    return config


@pytest.mark.slow
def test_end_to_end_run_produces_every_output_with_the_documented_schema(finished):
    results = finished / "results"
    for experiment_file in ["certified_accuracy.png", "certified_accuracy.pdf", "summary.csv",
                            "summary.md", "summary.tex", "summary.html", "comparisons.csv",
                            "comparisons.md", "comparisons.tex", "comparisons.html"]:
        assert (results / "report" / "toy" / experiment_file).stat().st_size > 0
    records = pd.read_parquet(results / "tables" / "records.parquet")
    assert list(records.columns) == RECORD_COLUMNS + ["evaluation"]  # the run folder's id
    assert records.evaluation.isna().sum() == 10  # the published baseline's rows
    # methods x seeds x test points, no duplicates, and the published baseline's 10 rows
    assert len(records) == 2 * 2 * 200 + 10 and (records.model == "published").sum() == 10
    summary = pd.read_csv(results / "report" / "toy" / "summary.csv")
    assert summary.method.tolist() == ["constant", "idrs", "published (published)"]
    runs = pd.read_parquet(results / "tables" / "runs.parquet")
    assert len(runs) == 4 + 1  # 2 methods x 2 seeds, and the published run
    assert sorted(zip(runs.experiment, runs.method)) == [("toy", "constant")] * 2 + [
        ("toy", "idrs")] * 2 + [("toy", "published (published)")]
    assert "published" in set(runs.model) and not runs.model.str.contains("/").any()
    assert runs.model_file[runs.method == "constant"].str.endswith("model.pth").all()
    assert {"accuracy", "classwise_std", "certified_0.1"} <= set(runs.columns)
    comparison = pd.read_csv(results / "report" / "toy" / "comparisons.csv")
    assert set(comparison.method) == {"idrs"} and set(comparison.baseline) == {"constant"}
    assert (results / "theory" / "table1.csv").exists()


@pytest.mark.slow
def test_a_finished_workflow_reruns_nothing(finished):
    assert planned_jobs(finished, TINY) == {}


@pytest.mark.slow
@pytest.mark.parametrize("key,value", [("experiments.toy.methods.1.rate", 0.3),
                                       ("experiments.toy.methods.1.sigma", 0.3),
                                       ("certification.n", 300)])
def test_evaluation_changes_rerun_certification_only(finished, key, value):
    jobs = planned_jobs(finished, variant(**{key: value}))
    assert jobs.get("certify", 0) > 0
    assert "train" not in jobs and "knn" not in jobs and "dataset" not in jobs


@pytest.mark.slow
def test_a_new_seed_trains_and_certifies_only_that_seed(finished):
    jobs = planned_jobs(finished, variant(seeds=[0, 1, 2]))
    assert jobs["train"] == 1  # one model (both methods share it), seed 2 only
    assert jobs["certify"] == 2 * 2  # two methods x two shards, seed 2 only
    assert "knn" not in jobs


@pytest.mark.slow
def test_a_new_k_reruns_knn_and_input_dependent_certification_not_training(finished):
    jobs = planned_jobs(finished, variant(**{"experiments.toy.k": 5}))
    assert jobs["knn"] == 1 and jobs["certify"] == 2 * 2  # the IDRS method, 2 seeds x 2 shards
    assert "train" not in jobs


@pytest.mark.slow
@pytest.mark.parametrize("key,value", [("training.toy.epochs", 4),
                                       ("training.toy.precision", "bf16"),
                                       ("datasets.sectors.n_train", 400)])
def test_a_changed_recipe_or_dataset_option_retrains_every_model_of_it(finished, key, value):
    """Every recipe field (all enter one digest: a field a user sets, a field left at its
    default) and dataset option is in the model id: a change retrains (one
    model shared by both methods, two seeds) and recertifies, while restating a
    default (momentum 0.9) plans nothing."""
    jobs = planned_jobs(finished, variant(**{key: value}))
    assert jobs["train"] == 2 and jobs["certify"] == 2 * 2 * 2, jobs
    assert planned_jobs(finished, variant(**{"training.toy.momentum": 0.9})) == {}


@pytest.mark.slow
def test_a_changed_baseline_file_reimports_it_and_redraws_only_what_shows_it(finished):
    changed = PUBLISHED.replace("0:00:01.5", "0:00:02.5")  # same file, new content
    try:
        jobs = planned_jobs(finished, TINY, published=changed)
    finally:
        snakemake(finished, TINY, "-n")  # the original content back
    assert jobs.get("import_baseline") == 1 and jobs.get("aggregate") == 1, jobs
    assert not {"train", "certify", "knn", "dataset"} & set(jobs), jobs


@pytest.mark.parametrize("key,value,message", [
    ("experiments.toy.dataset", "cifar100", "dataset 'cifar100' is not defined"),
    ("certification.n0", 500, "n0 == 500 exceeds n == 200"),
    ("experiments.toy.methods.1.rate", -0.1, "-0.1 is less than the minimum of 0"),
    ("certification.alpha", 1.5, "1.5 is greater than or equal to the maximum of 1"),
    ("experiments.toy.k", 0, "0 is less than the minimum of 1"),
    ("experiments.toy.methods.0.sigma", 0, "0 is less than or equal to the minimum of 0"),
    ("seeds", "zero", "'zero' is not of type 'array'"),
    ("experiments.toy.training", "resnet", "training recipe 'resnet' is not defined")])
def test_bad_configuration_fails_at_parse_time(tmp_path, key, value, message):
    done = snakemake(tmp_path, variant(**{key: value}), "-n")
    assert done.returncode != 0
    assert message in done.stderr + done.stdout


def test_a_custom_config_gets_its_own_results_and_report(finished):
    """Two configs in one folder: a custom file (replacing or overriding the default)
    writes to results-<name>/ and its own HTML report, and leaves the default's files as
    they were. The commands are the README's (`make run CONFIG=...` runs these two)."""
    default = {p: p.read_bytes() for p in (finished / "results").rglob("*") if p.is_file()}
    custom = yaml.safe_load(yaml.safe_dump(TINY))
    del custom["results_dir"], custom["paper_registry"]  # its own: no paper content
    custom["seeds"] = [0]
    custom["experiments"]["toy"]["methods"] = custom["experiments"]["toy"]["methods"][:1]
    (finished / "custom.yaml").write_text(yaml.safe_dump(custom))
    env = {"PATH": f"{SNAKEMAKE.parent}:/usr/bin:/bin", "HOME": str(finished)}
    folder = subprocess.run([str(SNAKEMAKE.with_name("idrs")), "results-dir", "custom.yaml"],
                            cwd=finished, capture_output=True, text=True).stdout.strip()
    assert folder == "results-custom"
    for extra in ([], ["--report", f"{folder}/report.html"]):
        done = subprocess.run([str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"),
                               "--configfile", "custom.yaml", "--cores", "2", *extra],
                              cwd=finished, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    assert (finished / "results-custom" / "report.html").is_file()
    assert not (finished / "results-custom" / "paper").exists()
    assert not (finished / "results-custom" / "theory").exists()
    landing = (finished / "results-custom" / "landing.rst").read_text()
    assert landing.startswith("idrs: custom.yaml") and "registers none" in landing
    summary = pd.read_csv(finished / "results-custom" / "report" / "toy" / "summary.csv")
    assert list(summary.method) == ["constant", "published (published)"]
    after = {p: p.read_bytes() for p in (finished / "results").rglob("*") if p.is_file()}
    assert after == default


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (Debian: apt install "
                    "chromium) to open the HTML report as a user would")
def test_the_html_report_shows_the_verdicts_on_its_first_page(finished):
    """Snakemake's report.html opened in headless Chromium: its first page (after the
    page's scripts ran) holds the verdict counts and the verdict and claim tables."""
    done = snakemake(finished, TINY, "--report", "results/report.html")
    assert done.returncode == 0, done.stderr[-3000:]
    page = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--virtual-time-budget=10000", "--dump-dom",
                           (finished / "results" / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120).stdout
    landing = (finished / "results" / "landing.rst").read_text()
    counts = re.search(r"\*\*(\d+ measurements) \(", landing).group(1)
    for text in ("Does the paper hold?", counts, "95% interval of ours - paper",
                 "90% interval", "not run"):
        assert text in page, text


def test_a_pretrained_model_is_certified_without_training_and_reruns_on_a_new_file(tmp_path):
    """A model declared by file: no train job, one run (seed 0) per method using it, and a
    newer file reruns exactly its certifications and what reads them. One shard per run
    and no paper check, for speed: that a change reruns every shard of a run is
    test_evaluation_changes_rerun_certification_only's."""
    from idrs.engine.data import sectors
    from idrs.engine.train import train
    from idrs.engine.train_config import TrainConfig
    model = train(sectors(), tmp_path / "pre", TrainConfig(arch="mlp", epochs=2, batch_size=100,
                                                           sigma_train=0.25), progress=False)
    config = variant(**{"experiments.toy.methods": [
        {"label": "constant", "sigma": 0.25},
        {"label": "pre", "sigma": 0.25, "pretrained": "mine"},
        {"label": "pre-idrs", "sigma": 0.25, "rate": 0.5, "pretrained": "mine",
         "baseline": "pre"}], "certification.shard_size": 200, "experiments.toy.baselines": []})
    del config["paper_registry"], config["baselines"]  # not what this test is about
    config["pretrained"] = {"mine": {"path": str(model), "arch": "mlp", "dataset": "sectors"}}
    jobs = planned_jobs(tmp_path, config)
    assert jobs["train"] == 2  # the constant method's two seeds only
    assert jobs["certify"] == 2 + 1 + 1  # one shard each; trained: 2 seeds; pretrained: 1
    done = snakemake(tmp_path, config)
    assert done.returncode == 0, done.stderr[-3000:]
    records = pd.read_parquet(tmp_path / "results" / "tables" / "records.parquet")
    assert set(records.model) >= {str(model)} and set(records.arch) == {"mlp"}
    # a new file (new weights; a mere touch is no change to Snakemake, which checksums)
    other = train(sectors(), tmp_path / "other", TrainConfig(arch="mlp", epochs=2,
                  batch_size=100, sigma_train=0.25, seed=5), progress=False)
    model.write_bytes(other.read_bytes())
    rerun = planned_jobs(tmp_path, config)
    assert rerun["certify"] == 2 and not {"train", "knn", "dataset"} & set(rerun)
    config["pretrained"]["mine"]["arch"] = "cnn"  # a file that is not what is declared
    done = snakemake(tmp_path, config)
    logs = "".join(p.read_text() for p in (tmp_path / "results" / "logs").rglob("*.log"))
    assert done.returncode != 0 and "holds a mlp, not the declared cnn" in logs
