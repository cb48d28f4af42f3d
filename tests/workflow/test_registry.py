"""The run registry (idrs.workflow.registry) without Snakemake: ids, flags, records, errors."""

import copy
import dataclasses
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from idrs.results.records import RECORD_COLUMNS
from idrs.workflow import cli
from idrs.workflow.registry import (
    ConfigError,
    Evaluation,
    build_registry,
    dataset_flags,
    load_config,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schemas" / "config.schema.yaml"
RESULT_FIELDS = [f.name for f in dataclasses.fields(Evaluation)
                 if f.name not in Evaluation.RESULT_NEUTRAL]
#: one value per field that differs from the defaults of FULL below
OTHER = {"sigma": 0.5, "rate": 0.3, "k": 7, "m": 0.9, "sigma_max": 2.0, "sigma_mean": 0.4,
         "clamp": "cifar10", "n0": 20, "n": 300, "alpha": 0.01, "skip": 3, "max": 40,
         "amp": True, "compile": "default", "noise_seed": 5}
FULL = Evaluation(sigma=0.25, rate=0.1, k=5, m=0.5, sigma_max=1.0, sigma_mean=0.3,
                  clamp="mnist", n0=10, n=200, alpha=0.001, skip=2, max=30, amp=False,
                  compile="none", noise_seed=1, batch=64, shard_size=10)


def config(path="config.yaml", **changes):
    data = yaml.safe_load((REPO / path).read_text())
    data.update(changes)
    return load_config(data, SCHEMA)


def test_ids_of_the_shipped_configs_keep_their_format():
    # results folders written before the registry moved into the package stay valid
    assert Evaluation(sigma=0.25).id == "s0.25-r0-n0100-n100000-a0.001-skip1-noise0"
    reg = build_registry(config())
    ids = set(reg.evaluations)
    assert "s0.4-r0.2-m0.61-k20-cap2-n0100-n10000-a0.001-skip1-noise0" in ids
    # the recipe digest of the default's digits model, as `make run` wrote it on 2026-11-28
    assert "digits-digits-st0.25-2674ee6c" in reg.models
    for path in ("config/toys.yaml", "config/paper.yaml"):  # both build
        assert build_registry(config(path)).experiments


@pytest.mark.parametrize("name", RESULT_FIELDS)
def test_every_result_changing_field_is_in_the_id(name):
    assert dataclasses.replace(FULL, **{name: OTHER[name]}).id != FULL.id


@pytest.mark.parametrize("name", Evaluation.RESULT_NEUTRAL)
def test_result_neutral_fields_are_not(name):
    assert dataclasses.replace(FULL, **{name: 999}).id == FULL.id


def test_every_result_changing_field_has_a_record_column():
    assert sorted(Evaluation.RECORD_COLUMN) == sorted(RESULT_FIELDS)
    assert set(Evaluation.RECORD_COLUMN.values()) <= set(RECORD_COLUMNS)


def test_record_values_keep_one_type_per_column():
    unset = Evaluation(sigma=0.25, rate=0).record_values()
    assert unset["k"] == -1 and unset["clamp"] == "" and np.isnan(unset["m"])
    assert type(unset["rate"]) is float and type(unset["n0"]) is int
    full = FULL.record_values()
    assert {type(full[c]) for c in ("k", "m", "clamp")} == {int, float, str}
    resolved = {Evaluation.RECORD_COLUMN[f] for f in Evaluation.RESOLVED_BY_JOB}
    assert set(full) == set(Evaluation.RECORD_COLUMN.values()) - resolved


def test_every_field_reaches_the_certify_command_line():
    args = cli.get_args_parser().parse_args(
        ["certify", "--dataset", "sectors", "--model", "m.pth", "--out", "o.parquet",
         *shlex.split(" ".join(FULL.certify_flags(0, 30, "d.parquet")))])
    # max and shard_size choose the shards: --start/--stop
    assert cli.evaluation_of(args) == dataclasses.replace(FULL, max=None, shard_size=1000)
    assert (args.start, args.stop, args.distances) == (0, 30, "d.parquet")


@pytest.mark.slow
def test_the_records_carry_every_result_changing_field(tmp_path):
    """Train a tiny model, then certify it with every field set through the flags the
    registry makes: each field's value comes back in its record column."""
    data = load_config({"experiments": {}, "datasets": {"sectors": {"loader": "sectors"}},
                        "training": {}}, SCHEMA)
    data_flags = shlex.split(" ".join(dataset_flags(data, "sectors")))
    run = lambda *a: cli.main([str(x) for x in a])  # noqa: E731
    assert run("knn", *data_flags, "--split", "test", "--k", 5, "--out",
               tmp_path / "knn.parquet") == 0
    assert run("train", *data_flags, "--arch", "mlp", "--epochs", 1, "--sigma-train", 0.25,
               "--out", tmp_path / "model") == 0
    ev = dataclasses.replace(FULL, clamp=None, amp=None)  # clamp: MNIST/CIFAR10 only
    flags = shlex.split(" ".join(ev.certify_flags(0, ev.max, tmp_path / "knn.parquet")))
    assert run("certify", *data_flags, *flags, "--model", tmp_path / "model" / "model.pth",
               "--out", tmp_path / "r.parquet") == 0
    records = pd.read_parquet(tmp_path / "r.parquet")
    assert list(records.columns) == RECORD_COLUMNS
    expected = {**{f: getattr(ev, f) for f in RESULT_FIELDS}, "clamp": "", "amp": "fp32"}
    for name, column in Evaluation.RECORD_COLUMN.items():
        if name == "sigma":  # sigma_mean replaces sigma_b by the calibrated one
            assert records[column].nunique() == 1 and records[column].iloc[0] != ev.sigma
            continue
        assert (records[column] == expected[name]).all(), (name, records[column].unique())
    assert np.isfinite(records.radius).all()


def broken(mutate, path="config.yaml"):
    data = yaml.safe_load((REPO / path).read_text())
    mutate(data)
    with pytest.raises(ConfigError) as err:
        build_registry(load_config(data, SCHEMA))
    return str(err.value)


def test_config_errors_name_the_key_and_the_fix():
    def no_dataset(c):
        c["experiments"]["digits"]["dataset"] = "nope"
    assert broken(no_dataset).startswith("config: experiments.digits: dataset 'nope' is not "
                                         "defined; defined: [")

    def twice(c):
        methods = c["experiments"]["digits"]["methods"]
        methods.append(copy.deepcopy(methods[0]))
    assert "method labels must be unique" in broken(twice)

    def same_run(c):  # "increased" forgets its sigma_train: a copy of the first method
        methods = c["experiments"]["digits"]["methods"]
        methods[0]["label"] = "classical"
        methods.append({**copy.deepcopy(methods[0]), "label": "increased"})
    message = broken(same_run)
    assert "methods 'classical' and 'increased' are the same run" in message
    assert "set the field that tells them apart (sigma_train" in message

    def unknown_baseline(c):
        c["experiments"]["digits"]["methods"][1]["baseline"] = "sigma=9"
    assert "compares against 'sigma=9', which is not one of its methods" in broken(
        unknown_baseline)

    with pytest.raises(ConfigError, match=r"config: certification: .*allowed keys: "):
        load_config(yaml.safe_load((REPO / "config.yaml").read_text()) | {
            "certification": {"n_zero": 3}}, SCHEMA)


def test_the_batch_is_a_number_auto_or_unset():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for batch in (1, "auto", None):
        certification = {**config["certification"], "batch": batch}
        assert load_config({**config, "certification": certification},
                           SCHEMA)["certification"]["batch"] == batch
    for batch in ("fast", 0):
        with pytest.raises(ConfigError, match=r"certification.batch: .* auto \(measured"):
            load_config({**config, "certification": {"batch": batch}}, SCHEMA)


def test_one_folder_never_holds_two_shard_layouts():
    def split_differently(c):
        first = next(iter(c["experiments"].values()))
        c["experiments"]["again"] = {**copy.deepcopy(first),
                                     "certification": {"shard_size": 7}}
    message = broken(split_differently)
    assert "configured twice with different settings" in message
    assert "'shard_size': (1000, 7)" in message


def test_a_recipe_or_dataset_option_change_is_a_new_model():
    base = build_registry(config())
    changed = config()
    changed["training"]["toy"]["epochs"] += 1
    assert set(build_registry(changed).models) != set(base.models)
    restated = config()
    restated["training"]["toy"]["lr_step"] = int(restated["training"]["toy"]["lr_step"])
    assert set(build_registry(restated).models) == set(base.models)


def test_defaults_are_filled_without_sharing_objects():
    lists = [e["baselines"] for e in config()["experiments"].values()]
    assert len(lists) > 1 and len({id(x) for x in lists}) == len(lists)  # each its own


def test_every_schema_key_has_a_description():
    def missing(node, path):
        if not isinstance(node, dict):
            return []
        found = []
        for key, sub in node.get("properties", {}).items():
            if isinstance(sub, dict) and "description" not in sub:
                found.append(f"{path}{key}")
            found += missing(sub, f"{path}{key}.")
        for part, name in (("additionalProperties", "<name>."), ("items", "[]")):
            found += missing(node.get(part), f"{path}{name}")
        return found

    assert missing(yaml.safe_load(SCHEMA.read_text()), "") == []


def test_experiments_sharing_a_model_or_an_evaluation_may_differ_where_it_does_not_matter():
    c = config()
    digits = c["experiments"]["digits"]
    c["experiments"]["digits_k5"] = {**copy.deepcopy(digits), "k": 5, "m": 2.0,
                                     "methods": digits["methods"][:1]}  # constant sigma only
    reg = build_registry(c)
    first, second = (reg.experiments[e].runs[0] for e in ("digits", "digits_k5"))
    assert (first.model, first.evaluation) == (second.model, second.evaluation)


def test_the_sigma_setting_is_all_a_region_figure_reruns_for():
    """The regions rule's params: sigma(x) as defined, nothing of how it is certified, so
    a new n, batch or shard size leaves Figure 1 alone."""
    ev = Evaluation(sigma=0.4, rate=0.2, k=20, m=0.7, sigma_max=2.0, n=10_000, batch=8000)
    assert ev.sigma_setting() == {"sigma": 0.4, "rate": 0.2, "k": 20, "m": 0.7,
                                  "sigma_max": 2.0, "sigma_mean": None}
    for change in ({"n": 100_000}, {"batch": 1}, {"shard_size": 7}, {"noise_seed": 3}):
        assert dataclasses.replace(ev, **change).sigma_setting() == ev.sigma_setting()
    assert dataclasses.replace(ev, m=0.8).sigma_setting() != ev.sigma_setting()


@pytest.mark.parametrize("first", ["clamped", "exact"])
def test_a_clamped_runs_exact_twin_is_certified_once_whatever_the_batch(first):
    """MNIST's clamped method takes its samples from its exact twin: registered even
    where no method shows it, shared with a method that does whatever its (result-
    neutral) batch and in either order, but never with another shard layout."""
    def experiments(c, labels, **certification):
        mnist = c["experiments"].pop("mnist")
        clamped = {**copy.deepcopy(mnist), "methods": [
            {k: v for k, v in m.items() if k != "baseline"}  # its baseline is elsewhere
            for m in mnist["methods"] if "clamp" in m["label"]]}
        exact = {**copy.deepcopy(mnist), "methods": [m for m in mnist["methods"]
                                                     if m["label"] in labels]}
        exact["certification"] = {**exact["certification"], **certification}
        order = [("clamped", clamped), ("exact", exact)]
        c["experiments"].update(order if first == "clamped" else order[::-1])

    alone = config()
    experiments(alone, labels=["sigma=0.25"])  # the twin is shown by no method
    reg = build_registry(alone)
    (run,) = reg.experiments["clamped"].runs
    twin = reg.evaluations[run.evaluation].radius_source
    assert reg.evaluations[twin.id] == twin
    shared = config()
    experiments(shared, labels=["IDRS r=0.02"], batch=123)
    reg = build_registry(shared)
    (shown,) = reg.experiments["exact"].runs
    assert shown.evaluation == twin.id and reg.evaluations[twin.id].batch == 123
    message = broken(lambda c: experiments(c, labels=["IDRS r=0.02"], shard_size=7))
    assert "method \"IDRS r=0.02, paper's clamp\" (radius: paper_clamp) takes its " \
           "samples" in message and "shard_size" in message
