# Theory outputs that need no data: Table 1 (Theorem 2.4) and Figure 3.


rule theory:
    output:
        table_csv=report(RESULTS / "theory" / "table1.csv", caption="../report/table1.rst",
                         category="theory"),
        table_md=RESULTS / "theory" / "table1.md",
        figure_png=report(RESULTS / "theory" / "figure3.png", caption="../report/figure3.rst",
                          category="theory"),
        figure_pdf=RESULTS / "theory" / "figure3.pdf",
        figure_csv=RESULTS / "theory" / "figure3.csv",
    params:
        figure3_p_a=config["theory"]["figure3_p_a"],
        figure3_max_dim=config["theory"]["figure3_max_dim"],
    log:
        RESULTS / "logs/theory/theory.log",
    benchmark:
        RESULTS / "benchmarks" / "theory" / "theory.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    localrule: True
    script:
        "../workflow_scripts/theory.py"
