# Download (MNIST, CIFAR10) or check (generated and bundled sets) each dataset once, on
# the submitting host: cluster compute nodes often have no internet.


rule dataset:
    output:
        RESULTS / "datasets" / "{dataset}.txt",
    params:
        spec=lambda wc: dataset_args(wc.dataset),
    log:
        RESULTS / "logs/datasets/{dataset}.log",
    benchmark:
        RESULTS / "benchmarks" / "datasets" / "{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    localrule: True
    shell:
        "idrs data {params.spec} > {output}.tmp 2> {log} && mv {output}.tmp {output}"
