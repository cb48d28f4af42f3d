# One job per (trained model, evaluation setting, shard of test indices); each shard is a
# Parquet file written atomically, so a killed job leaves nothing that looks complete.
# A run with the paper's clamp draws the same samples as its exact-radius twin: its
# shards are the twin's records with the radius computed again, on a CPU.

ruleorder: reradius > certify


rule certify:
    input:
        unpack(certify_inputs),
    output:
        RESULTS / "certify" / "{model}" / "seed{seed}" / "{evaluation}" / "shard{shard}.parquet",
    params:
        args=certify_args,
    log:
        RESULTS / "logs/certify/{model}/seed{seed}/{evaluation}/shard{shard}.log",
    benchmark:
        RESULTS / "benchmarks" / "certify" / "{model}" / "seed{seed}" / "{evaluation}" / "shard{shard}.tsv"
    threads: resources_of("certify", "threads")  # SLURM requests as many CPUs
    resources:
        mem_mb=lambda wc, attempt: resources_of("certify", "mem_mb") * attempt,
        runtime=lambda wc, attempt: resources_of("certify", "runtime") * attempt,
        gpu=lambda wc: resources_of("certify", "gpu"),
    shell:
        "OMP_NUM_THREADS={threads} idrs certify {params.args} --model {input.model} "
        "--threads {threads} --dataset-summary {input.dataset} "
        "--out {output} > {log} 2>&1"


rule reradius:
    input:
        reradius_source,
    output:
        RESULTS / "certify" / "{model}" / "seed{seed}" / f"{{evaluation,{RERADIUS}}}" / "shard{shard}.parquet",
    params:
        clamp=lambda wc: EVALUATIONS[wc.evaluation].clamp,
    log:
        RESULTS / "logs/reradius/{model}/seed{seed}/{evaluation}/shard{shard}.log",
    benchmark:
        RESULTS / "benchmarks" / "reradius" / "{model}" / "seed{seed}" / "{evaluation}" / "shard{shard}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    shell:
        "idrs reradius --records {input} --clamp {params.clamp} --out {output} > {log} 2>&1"
