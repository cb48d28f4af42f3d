# One job per (trained model, evaluation setting, shard of test indices); each shard is a
# Parquet file written atomically, so a killed job leaves nothing that looks complete.


def certify_inputs(wc):
    m, ev = MODELS[wc.model], EVALUATIONS[wc.evaluation]
    inputs = {"model": RESULTS / "models" / wc.model / f"seed{wc.seed}" / "model.pth",
              "dataset": RESULTS / "datasets" / f"{m['dataset']}.txt"}
    if ev["rate"] > 0:
        inputs["distances"] = RESULTS / "knn" / m["dataset"] / f"k{ev['k']}_test.parquet"
    return inputs


def certify_args(wc, input):
    m, ev = MODELS[wc.model], EVALUATIONS[wc.evaluation]
    start, stop = shard_ranges(wc.model, wc.evaluation)[int(wc.shard)]
    args = (f"--sigma {ev['sigma']} --n0 {ev['n0']} --n {ev['n']} --alpha {ev['alpha']} "
            f"--skip {ev['skip']} --start {start} --stop {stop} --seed {ev['noise_seed']} "
            f"--batch {ev['batch']}")
    if ev["rate"] > 0:
        args += (f" --rate {ev['rate']} --k {ev['k']} --m {ev['m']}"
                 f" --distances {input.distances}")
    for key in ("sigma_max", "sigma_mean"):
        if ev.get(key) is not None:
            args += f" --{key.replace('_', '-')} {ev[key]}"
    return f"{dataset_spec(m['dataset'])} {args} {device()}"


rule certify:
    input:
        unpack(certify_inputs),
    output:
        RESULTS / "certify" / "{model}" / "seed{seed}" / "{evaluation}" / "shard{shard}.parquet",
    params:
        args=certify_args,
    log:
        "logs/certify/{model}/seed{seed}/{evaluation}/shard{shard}.log",
    benchmark:
        RESULTS / "benchmarks" / "certify" / "{model}" / "seed{seed}" / "{evaluation}" / "shard{shard}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: resources_of("certify", "mem_mb") * attempt,
        runtime=lambda wc, attempt: resources_of("certify", "runtime") * attempt,
        gpu=lambda wc: resources_of("certify", "gpu"),
    shell:
        "OMP_NUM_THREADS={threads} idrs certify {params.args} --model {input.model} "
        "--threads {threads} "
        "--out {output} > {log} 2>&1"
