# Figure 1 for 2-D experiments that list `decision_regions`: the test points with
# sigma(x) as circles, and the decision boundaries of the listed smoothed classifiers
# (first seed's models), drawn on a lattice.


rule regions:
    input:
        unpack(regions_inputs),
    output:
        png=report(RESULTS / "report" / "{experiment}" / "decision_regions.png",
                   caption="../report/decision_regions.rst", category="{experiment}"),
        pdf=RESULTS / "report" / "{experiment}" / "decision_regions.pdf",
    params:
        spec=lambda wc: dataset_spec(config, EXPERIMENTS[wc.experiment].dataset),
        evaluations=lambda wc: regions_evaluations(wc.experiment),
        title=lambda wc: EXPERIMENTS[wc.experiment].title,
        device=config["device"],
    log:
        RESULTS / "logs/regions/{experiment}.log",
    benchmark:
        RESULTS / "benchmarks" / "regions" / "{experiment}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=lambda wc: resources_of("certify", "gpu"),  # it runs on the config's device
    script:
        "../workflow_scripts/regions.py"
