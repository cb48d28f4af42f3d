# Per experiment: the figures of idrs.results.figures, mean ± std tables and the statistical
# comparisons, all marked for `snakemake --report`.


rule report:
    input:
        report_inputs,
    output:
        **{f"{f}_png": report_output(f"{f}.png", f"{f}.rst") for f in REPORT_FIGURES},
        **{f"{f}_pdf": RESULTS / "report" / "{experiment}" / f"{f}.pdf" for f in REPORT_FIGURES},
        per_class=RESULTS / "report" / "{experiment}" / "per_class.csv",
        runs=RESULTS / "report" / "{experiment}" / "runs.csv",
        summary_html=report_output("summary.html", "summary.rst"),
        summary_csv=RESULTS / "report" / "{experiment}" / "summary.csv",
        summary_md=RESULTS / "report" / "{experiment}" / "summary.md",
        summary_tex=RESULTS / "report" / "{experiment}" / "summary.tex",
        comparisons_html=report_output("comparisons.html", "comparisons.rst"),
        comparisons_csv=RESULTS / "report" / "{experiment}" / "comparisons.csv",
        comparisons_md=RESULTS / "report" / "{experiment}" / "comparisons.md",
        comparisons_tex=RESULTS / "report" / "{experiment}" / "comparisons.tex",
        numbers=RESULTS / "report" / "{experiment}" / "summary_numbers.csv",
    params:
        title=lambda wc: EXPERIMENTS[wc.experiment].title,
        inputs=lambda wc: experiment_inputs(wc.experiment),
        comparisons=lambda wc: [(r.label, b) for r in EXPERIMENTS[wc.experiment].runs
                                for b in r.baselines],
        table_radii=config["report"]["table_radii"],
        max_radius=lambda wc: EXPERIMENTS[wc.experiment].max_radius,
        paper=lambda wc: {r.label: r.paper for r in EXPERIMENTS[wc.experiment].runs
                          if r.paper},
        spread=lambda wc: EXPERIMENTS[wc.experiment].spread,
    log:
        RESULTS / "logs/report/{experiment}.log",
    benchmark:
        RESULTS / "benchmarks" / "report" / "{experiment}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    localrule: True
    script:
        "../workflow_scripts/report.py"


# Does the paper hold? Every registered printed cell beside ours, and the paper's claims
# decided by the experiments' paired comparisons (idrs.results.paper_check); first in the report.
rule paper_check:
    input:
        runs=[RESULTS / "report" / e / "runs.csv" for e in EXPERIMENTS],
        comparisons=[RESULTS / "report" / e / "comparisons.csv" for e in EXPERIMENTS],
        table1=RESULTS / "theory" / "table1.csv",
        figure3=RESULTS / "theory" / "figure3.csv",
    output:
        verdicts_html=report(RESULTS / "paper" / "verdicts.html",
                             caption="../report/verdicts.rst",
                             category="0. Does the paper hold?"),
        verdicts=RESULTS / "paper" / "verdicts.csv",
        verdicts_md=RESULTS / "paper" / "verdicts.md",
        claims_html=report(RESULTS / "paper" / "claims.html", caption="../report/claims.rst",
                           category="0. Does the paper hold?"),
        claims=RESULTS / "paper" / "claims.csv",
        claims_md=RESULTS / "paper" / "claims.md",
        tables=directory(RESULTS / "paper" / "tables"),
    params:
        results=RESULTS,
        registry=config["paper_registry"],
        experiments=" ".join(f"'{e}'" for e in EXPERIMENTS),
        name=CONFIG_NAME,
    log:
        RESULTS / "logs/paper_check.log",
    benchmark:
        RESULTS / "benchmarks" / "paper_check" / "paper_check.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    localrule: True
    shell:
        "idrs paper-check {params.results} --config {params.registry} "
        "--experiments {params.experiments} --name '{params.name}' --write > {log} 2>&1"


# Table 5 across dimensions: the gain of sigma(x) over constant sigma and over its
# control against N, ours beside the paper's (idrs.results.dimension).
rule dimension_gains:
    input:
        comparisons=[RESULTS / "report" / e / "comparisons.csv" for e in DIMENSIONS],
        runs=[RESULTS / "report" / e / "runs.csv" for e in DIMENSIONS],
        verdicts=RESULTS / "paper" / "verdicts.csv",
    output:
        csv=RESULTS / "paper" / "dimension_gains.csv",
        png=report(RESULTS / "paper" / "dimension_gains.png",
                   caption="../report/dimension_gains.rst", category="0. Does the paper hold?"),
        pdf=RESULTS / "paper" / "dimension_gains.pdf",
        table=RESULTS / "paper" / "dimension_gains_table.csv",
        table_md=RESULTS / "paper" / "dimension_gains_table.md",
    params:
        dims=DIMENSIONS,
    log:
        RESULTS / "logs/dimension_gains.log",
    benchmark:
        RESULTS / "benchmarks" / "dimension_gains" / "dimension_gains.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    localrule: True
    script:
        "../workflow_scripts/dimension_gains.py"


# The report's first page: what this configuration ran, and where it registers the
# paper's cells and claims, the verdict counts and both tables (idrs.results.landing).
rule landing:
    input:
        unpack(landing_inputs),
    output:
        RESULTS / "landing.rst",
    params:
        name=CONFIG_NAME,
        experiments={name: exp.title for name, exp in EXPERIMENTS.items()},
    log:
        RESULTS / "logs/landing.log",
    benchmark:
        RESULTS / "benchmarks" / "landing" / "landing.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    localrule: True
    script:
        "../workflow_scripts/landing.py"
