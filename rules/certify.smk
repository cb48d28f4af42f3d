# One job per (trained model, evaluation setting, shard of test indices); each shard is a
# Parquet file written atomically, so a killed job leaves nothing that looks complete.


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
