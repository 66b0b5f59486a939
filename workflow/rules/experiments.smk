# Study: the project's claims in their own protocols (balnet.learning.experiments, `balnet experiment --help`):
# target generation with macro-FTLE selection (claim 2), delayed association with pre-training (claim 3),
# learning curves of SGD / GP-SGD / ridge under label noise (claim 4), reward-modulated Hebbian readout
# learning vs FORCE (claim 5).  One job per experiment, paired statistics over `pools` in the HDF5 attributes.
# Runs only when config.yaml has an `experiments:` section; target: `snakemake --cores 2 experiments`.
# Full size for the cluster: workflow/experiments/full.yaml (`--configfile` it over config.yaml).

EXPERIMENTS_CFG = config.get("experiments")
if EXPERIMENTS_CFG is not None:
    EXPERIMENT_NAMES = ["target", "association", "curves", "reward"]

    rule experiment:
        output:
            h5=f"{RESULTS}/experiments/{{name}}.h5",
            png=report(
                f"{RESULTS}/experiments/{{name}}.png",
                caption="../report/experiments.rst",
                category="Claims",
                labels=lambda wc: {"experiment": wc.name},
            ),
        conda:
            "../envs/balnet.yaml"
        log:
            f"{LOGS}/experiments/{{name}}.log",
        benchmark:
            f"{BENCH}/experiments/{{name}}.tsv"
        params:
            args=lambda wc: _set_args(EXPERIMENTS_CFG),
        wildcard_constraints:
            name="|".join(EXPERIMENT_NAMES),
        threads: 1
        shell:
            "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "
            "balnet experiment {wildcards.name} {params.args} --quiet -o {output.h5} --figure {output.png} > {log} 2>&1"

    rule experiments:
        input:
            expand(f"{RESULTS}/experiments/{{name}}.{{ext}}", name=EXPERIMENT_NAMES, ext=["h5", "png"]),

    STUDY_OUTPUTS["experiments"] = expand(f"{RESULTS}/experiments/{{name}}.{{ext}}", name=EXPERIMENT_NAMES,
                                          ext=["h5", "png"])
