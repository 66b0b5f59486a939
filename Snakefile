# balnet pipeline: config.yaml sweep -> one job per point (MPI ranks split the
# realizations) -> HDF5 -> phase diagram and Lyapunov statistics (HDF5 + figures).
#
#   snakemake --cores 2                 # local (workflow/profiles/default)
#   snakemake --profile cluster         # Grid Engine / TSUBAME
#   snakemake --profile cluster/slurm   # Slurm
#   snakemake --report report.html      # browsable report of every figure
#
# One rules file per stage or study; a new study is one more `include:` whose rules file
# registers its final outputs in STUDY_OUTPUTS (workflow/rules/common.smk) for rule all.
from snakemake.utils import min_version

min_version("9")


configfile: "config.yaml"


# common.smk checks the config before any job: experiment files (--configfile) replace the sweep
# and the study list, unknown keys get a "did you mean", then the schema and the parameter records
# of every sweep point (README: "Your own experiment")
include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/lyapunov.smk"
include: "workflow/rules/reduce.smk"
include: "workflow/rules/learn.smk"
# sibling studies: each runs when its config section is present (targets: fim, dsnn, kuramoto)
include: "workflow/rules/fim.smk"
include: "workflow/rules/dsnn.smk"
include: "workflow/rules/kuramoto.smk"
include: "workflow/rules/experiments.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
