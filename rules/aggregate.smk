# Published baselines into the project's schema, then every shard and baseline merged
# into one table of per-input records and one of per-run summaries.


rule import_baseline:
    input:
        lambda wc: config["baselines"][wc.name]["path"],
    output:
        RESULTS / "baselines" / "{name}.parquet",
    params:
        b=lambda wc: config["baselines"][wc.name],
    log:
        RESULTS / "logs/baselines/{name}.log",
    benchmark:
        RESULTS / "benchmarks" / "baselines" / "{name}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    localrule: True
    shell:
        "idrs import-cohen --tsv {input} --dataset {params.b[dataset]} --arch {params.b[arch]} "
        "--sigma {params.b[sigma]} --model {wildcards.name} --out {output} > {log} 2>&1"


rule aggregate:
    input:
        shards=all_shards(),
        baselines=[RESULTS / "baselines" / f"{b}.parquet" for b in config["baselines"]],
    output:
        records=RESULTS / "tables" / "records.parquet",
        runs=RESULTS / "tables" / "runs.parquet",
    params:
        radii=config["report"]["table_radii"],
        labels=run_labels(),
    log:
        RESULTS / "logs/aggregate/aggregate.log",
    benchmark:
        RESULTS / "benchmarks" / "aggregate" / "aggregate.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../workflow_scripts/aggregate.py"
