# One job per (dataset, architecture, training noise, seed); the model is shared by every
# evaluation that uses it. Checkpoints every epoch: a requeued job resumes.


rule train:
    input:
        unpack(train_inputs),
    output:
        RESULTS / "models" / "{model}" / "seed{seed}" / "model.pth",
    params:
        args=train_args,
        outdir=lambda wc, output: Path(output[0]).parent,
    log:
        RESULTS / "logs/train/{model}/seed{seed}.log",
    benchmark:
        RESULTS / "benchmarks" / "train" / "{model}" / "seed{seed}.tsv"
    threads: resources_of("train", "threads")  # SLURM requests as many CPUs
    resources:
        mem_mb=lambda wc, attempt: resources_of("train", "mem_mb") * attempt,
        runtime=lambda wc, attempt: resources_of("train", "runtime") * attempt,
        gpu=lambda wc: resources_of("train", "gpu"),
    shell:
        "OMP_NUM_THREADS={threads} idrs train {params.args} --threads {threads} "
        "--dataset-summary {input.dataset} "
        "--out {params.outdir} > {log} 2>&1"
