# Mean distance to the k nearest training points (float32 search, float64 distances), once per (dataset, k, split);
# sigma(x) is computed from these at use time, so sigma_b, r and m never rerun this.


rule knn:
    input:
        RESULTS / "datasets" / "{dataset}.txt",
    output:
        RESULTS / "knn" / "{dataset}" / "k{k}_{split}.parquet",
    params:
        spec=lambda wc: dataset_args(wc.dataset),
        features=lambda wc: " ".join(knn_feature_flags(config, wc.dataset)),
    log:
        RESULTS / "logs/knn/{dataset}/k{k}_{split}.log",
    benchmark:
        RESULTS / "benchmarks" / "knn" / "{dataset}" / "k{k}_{split}.tsv"
    threads: resources_of("knn", "threads")  # SLURM requests as many CPUs
    resources:
        mem_mb=lambda wc, attempt: resources_of("knn", "mem_mb") * attempt,
        runtime=lambda wc, attempt: resources_of("knn", "runtime") * attempt,
        gpu=lambda wc: resources_of("knn", "gpu"),
    shell:
        "OMP_NUM_THREADS={threads} idrs knn {params.spec} --split {wildcards.split} "
        "--k {wildcards.k} {params.features} --dataset-summary {input} --out {output} "
        "> {log} 2>&1"
