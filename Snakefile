# idrs: reproduction of "Intriguing Properties of Input-Dependent Randomized Smoothing".
# Only wiring lives here: the stages are in rules/, the logic in the idrs package.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/datasets.smk"
include: "rules/knn.smk"
include: "rules/train.smk"
include: "rules/certify.smk"
include: "rules/aggregate.smk"
include: "rules/report.smk"
include: "rules/theory.smk"


rule all:
    input:
        get_final_output(),
    default_target: True
