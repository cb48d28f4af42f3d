# One job per (dataset, architecture, training noise, seed); the model is shared by every
# evaluation that uses it. Checkpoints every epoch: a requeued job resumes.


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


rule train:
    input:
        unpack(train_inputs),
    output:
        RESULTS / "models" / "{model}" / "seed{seed}" / "model.pth",
    params:
        args=train_args,
        outdir=lambda wc, output: Path(output[0]).parent,
    log:
        "logs/train/{model}/seed{seed}.log",
    benchmark:
        RESULTS / "benchmarks" / "train" / "{model}" / "seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: resources_of("train", "mem_mb") * attempt,
        runtime=lambda wc, attempt: resources_of("train", "runtime") * attempt,
        gpu=lambda wc: resources_of("train", "gpu"),
    shell:
        "OMP_NUM_THREADS={threads} idrs train {params.args} --threads {threads} "
        "--out {params.outdir} > {log} 2>&1"
