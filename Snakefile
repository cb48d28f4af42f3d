# idrs: reproduction of "Intriguing Properties of Input-Dependent Randomized Smoothing".
# Only wiring lives here: the stages are in rules/, the logic in the idrs package.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default, unless --configfile names another (which then stands alone
# instead of being merged into the default's experiments).
if not workflow.config_settings.configfiles:

    configfile: "config.yaml"




include: "rules/common.smk"
include: "rules/datasets.smk"
include: "rules/knn.smk"
include: "rules/train.smk"
include: "rules/certify.smk"
include: "rules/aggregate.smk"
include: "rules/report.smk"
include: "rules/regions.smk"
include: "rules/theory.smk"


report: report_page()


rule all:
    input:
        get_final_output(),
    default_target: True
