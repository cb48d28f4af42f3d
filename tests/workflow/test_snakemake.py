"""The shipped configurations build their DAGs; bad keys fail before any job starts."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def dry_run(workdir, configfile):
    return subprocess.run(
        [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(configfile), "--cores", "1", "-n"], capture_output=True, text=True)


def job_counts(stdout):
    table = stdout[stdout.index("Job stats:"):].split("total")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


def test_default_config_dag(tmp_path):
    done = dry_run(tmp_path, REPO / "config.yaml")
    assert done.returncode == 0, done.stderr
    jobs = job_counts(done.stdout)
    # 6 datasets; 18 trainings (one noise-free model for sectors and for each cone,
    # digits, MNIST) x 3 seeds; runs: sectors 5, cones 4 + 3 + 3, digits 3, MNIST 4, of
    # which MNIST's clamped run is its exact run's records with another radius
    assert jobs["dataset"] == 6 and jobs["train"] == 6 * 3 and jobs["knn"] == 6
    assert jobs["certify"] == (5 + 10 + 3 + 3) * 3 and jobs["reradius"] == 3
    assert jobs["report"] == 6
    assert jobs["regions"] == 2  # the 2-D experiments: sectors and the cone at N = 2
    # Table 5 against N reads the cone experiments only: data without a dimension
    # (sectors, digits, MNIST) have none to draw against
    assert jobs["dimension_gains"] == 1
    block = done.stdout[done.stdout.index("rule dimension_gains"):]
    inputs = block[block.index("input:"):block.index("output:")]
    assert "report/cone18/comparisons.csv" in inputs and "sectors" not in inputs


def test_toys_config_dag(tmp_path):
    done = dry_run(tmp_path, REPO / "config" / "toys.yaml")
    assert done.returncode == 0, done.stderr
    jobs = job_counts(done.stdout)
    # Table 5's six dimensions, one noise-free model each; its 14 rows and a control
    # (constant sigma = sigma_b) wherever sigma_b differs from sigma: 20 runs
    assert jobs["train"] == 6 * 3 and jobs["knn"] == 6
    assert jobs["certify"] == 20 * 3 and jobs["report"] == 6


@pytest.fixture(scope="module")
def paper_jobs(tmp_path_factory):
    """{rule: count} of config/paper.yaml's DAG (5,000 jobs: 20 s to plan)."""
    done = dry_run(tmp_path_factory.mktemp("paper"), REPO / "config" / "paper.yaml")
    assert done.returncode == 0, done.stderr
    return job_counts(done.stdout)


@pytest.mark.slow
def test_paper_config_dag(paper_jobs):
    jobs = paper_jobs
    assert jobs["dataset"] == 2 and jobs["report"] == 21 and jobs["theory"] == 1
    # every model is shared by the evaluations that use it: far fewer trainings than runs
    assert jobs["train"] == 195 and jobs["paper_check"] == 1
    # Section 4's clamped IDRS runs (3 sigmas x 2 datasets x 8 seeds x 10 shards) reuse
    # the exact runs' samples: 480 CPU jobs instead of 480 more certifications
    assert jobs["certify"] == 4490 and jobs["reradius"] == 480


def test_unknown_config_key_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("results_dir: results\ntheory:\n  figure3_pa: [0.9]\n")
    done = dry_run(tmp_path, bad)
    assert done.returncode != 0
    out = done.stderr + done.stdout
    assert "config: theory: Additional properties are not allowed ('figure3_pa' was " \
           "unexpected); allowed keys: figure3_max_dim, figure3_p_a" in out
    assert "Failed validating" not in out and len(done.stderr.splitlines()) < 15  # no dump


def test_the_schema_has_no_stray_keys():
    """A YAML description with an unquoted comma once became a key of its own."""
    import yaml
    def nulls(node, path=()):
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None and key != "default":
                    yield path + (key,)
                yield from nulls(value, path + (key,))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from nulls(value, path + (i,))
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    assert list(nulls(schema)) == []


def test_a_baseline_list_naming_an_unknown_method_fails_at_parse_time(tmp_path):
    import yaml
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"] = {"cone2": config["experiments"]["cone2"]}
    config["experiments"]["cone2"]["methods"][1]["baseline"] = ["sigma=0.5", "sigma=0.3"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    done = dry_run(tmp_path, path)
    assert done.returncode != 0
    assert "compares against 'sigma=0.3', which is not one of its methods" in done.stderr + done.stdout
    config["experiments"]["cone2"]["methods"][1]["baseline"] = ["sigma=0.5",
                                                                "sigma=0.4 (control)"]
    path.write_text(yaml.safe_dump(config))
    assert dry_run(tmp_path, path).returncode == 0


def test_a_registered_claim_without_its_comparison_fails_at_parse_time(tmp_path):
    """Every claim of the shipped configs maps to a comparison (their dry runs above pass
    this check); one whose baseline a config drops is an error naming the fix."""
    import yaml
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"] = {"cone2": config["experiments"]["cone2"]}
    config["experiments"]["cone2"]["methods"][1]["baseline"] = ["sigma=0.5"]  # no control
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    done = dry_run(tmp_path, path)
    assert done.returncode != 0
    assert "which this experiment does not compare" in done.stderr + done.stdout
    assert "'sigma=0.4 (control)' to that method's baseline" in done.stderr + done.stdout


def test_a_missing_or_parquet_baseline_fails_at_parse_time(tmp_path):
    """Before any job: a missing file would leave old imports in use silently, and a
    Parquet file would fail inside the import job, which deletes the previous import."""
    import yaml
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"] = {"cone2": config["experiments"]["cone2"]}
    config["baselines"] = {"cohen": {"path": "published/sigma_0.25", "dataset": "cone2",
                                     "arch": "mlp", "sigma": 0.25}}
    config["experiments"]["cone2"]["baselines"] = ["cohen"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    done = dry_run(tmp_path, path)
    assert done.returncode != 0
    assert "baselines.cohen: baseline file 'published/sigma_0.25' does not exist" in (
        done.stderr + done.stdout)
    (tmp_path / "published").mkdir()
    (tmp_path / "published" / "sigma_0.25").write_bytes(b"PAR1" + bytes(100))
    done = dry_run(tmp_path, path)
    assert done.returncode != 0 and "is a Parquet file" in done.stderr + done.stdout


def test_the_papers_clamp_needs_the_papers_constants(tmp_path):
    import yaml
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"] = {"cone2": config["experiments"]["cone2"]}
    config["experiments"]["cone2"]["methods"][1]["radius"] = "paper_clamp"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    done = dry_run(tmp_path, path)
    assert done.returncode != 0
    assert "paper_clamp needs the paper's constants" in done.stderr + done.stdout


def test_imagenet_config_dag_with_cohens_files_in_place(tmp_path):
    """config/imagenet.yaml: no training, one kNN in pooled features, 3 sigmas x 4
    methods x 10 shards of 5,000 validation indices (every 100th), Cohen's files as
    baselines. Their files are stand-ins here: the DAG needs only that they exist."""
    cohen = tmp_path / "data" / "cohen"
    for noise in ("0.25", "0.50", "1.00"):
        model = cohen / "models" / "imagenet" / "resnet50" / f"noise_{noise}"
        model.mkdir(parents=True)
        (model / "checkpoint.pth.tar").write_bytes(b"stand-in")
        tsv = cohen / "data" / "certify" / "imagenet" / "resnet50" / f"noise_{noise}" / "test"
        tsv.mkdir(parents=True)
        (tsv / f"sigma_{noise}").write_text("idx\tlabel\tpredict\tradius\tcorrect\ttime\n"
                                           "0\t65\t65\t0.4\t1\t0:00:15.1\n")
    done = dry_run(tmp_path, REPO / "config" / "imagenet.yaml")
    assert done.returncode == 0, done.stderr + done.stdout
    jobs = job_counts(done.stdout)
    assert "train" not in jobs and jobs["knn"] == 1 and jobs["import_baseline"] == 3
    assert jobs["certify"] == 3 * 4 * 10 and jobs["report"] == 3


@pytest.mark.slow
def test_cohens_cifar10_models_add_e2_without_training(tmp_path, paper_jobs):
    """config/paper_cohen_models.yaml over config/paper.yaml: 16 more runs (4 sigmas x 4
    rates, one model each, 10 shards of 1,000 indices at skip 20), not one more train."""
    base = paper_jobs
    for noise in ("0.12", "0.25", "0.50", "1.00"):
        folder = tmp_path / "data" / "cohen" / "models" / "cifar10" / "resnet110" / f"noise_{noise}"
        folder.mkdir(parents=True)
        (folder / "checkpoint.pth.tar").write_bytes(b"stand-in")
        tsv = tmp_path / "data" / "cohen" / "data" / "certify" / "cifar10" / "resnet110"
        (tsv / f"noise_{noise}" / "test").mkdir(parents=True)
        (tsv / f"noise_{noise}" / "test" / f"sigma_{noise}").write_text(
            "idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t3\t3\t0.58\t1\t0:00:15.1\n")
    done = subprocess.run(
        [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(REPO / "config" / "paper.yaml"),
         str(REPO / "config" / "paper_cohen_models.yaml"), "--cores", "1", "-n"],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    jobs = job_counts(done.stdout)
    assert jobs["train"] == base["train"] and jobs["report"] == base["report"] + 4
    assert jobs["import_baseline"] == 4  # Cohen's published files: Table 4
    assert jobs["certify"] == base["certify"] + 16 * 10


def test_shards_that_would_select_no_index_are_not_planned(tmp_path):
    """shard_size 15 at skip 20 over 450 digits: a range without a multiple of 20 (such
    as [45, 60)) is dropped, never certified empty."""
    import yaml
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"] = {"digits": config["experiments"]["digits"]}
    config["experiments"]["digits"]["methods"] = config["experiments"]["digits"]["methods"][:1]
    config["experiments"]["digits"]["seeds"] = [0]
    config["experiments"]["digits"]["certification"] = {"skip": 20, "shard_size": 15}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    done = dry_run(tmp_path, path)
    assert done.returncode == 0, done.stderr + done.stdout
    # 450 test points in ranges of 15: 30 ranges, 23 of which hold a multiple of 20
    assert job_counts(done.stdout)["certify"] == len(
        {i // 15 for i in range(0, 450, 20)})
