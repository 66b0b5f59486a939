# Study: dual-sampling neural network (balnet.studies.dsnn, `balnet dsnn --help`).
# One job per sweep point (typically experiment: [classify, forget, alternation]): `chains` independent
# Gibbs chains over neurons and synapses (MPI ranks split the chains) -> dsnn.h5 + the experiment's figure;
# then the headline numbers of every point collected into one summary file and figure.
# Runs only when config.yaml has a `dsnn:` section; target: `snakemake --cores 2 dsnn`.

DSNN = config.get("dsnn")
if DSNN is not None:
    DSNN_GRID = Sweep(DSNN.get("sweep"), f"{RESULTS}/dsnn")

    rule dsnn_point:
        output:
            h5=f"{DSNN_GRID.pattern}/dsnn.h5",
            png=report(
                f"{DSNN_GRID.pattern}/dsnn.png",
                caption="../report/dsnn.rst",
                category="DSNN",
                labels=DSNN_GRID.labels,
            ),
        conda:
            "../envs/balnet.yaml"
        log:
            f"{LOGS}/dsnn/{DSNN_GRID.point}/run.log",
        benchmark:
            f"{BENCH}/dsnn/{DSNN_GRID.point}/run.tsv"
        params:
            args=lambda wc: study_args(wc, "dsnn", DSNN_GRID),
            mpi=mpiexec,
        threads: 2  # = MPI ranks (capped by --cores); profiles override: set-threads, set-resources mpi_ranks
        resources:
            mpi_ranks=mpi_ranks,
        wildcard_constraints:
            **DSNN_GRID.constraints,
        shell:
            "{params.mpi} "
            "balnet dsnn run {params.args} -o {output.h5} --figure {output.png} > {log} 2>&1"

    rule dsnn_reduce:
        input:
            DSNN_GRID.files("dsnn.h5"),
        output:
            h5=f"{RESULTS}/dsnn/dsnn_summary.h5",
            png=report(f"{RESULTS}/dsnn/dsnn_summary.png", caption="../report/dsnn_summary.rst", category="DSNN"),
        conda:
            "../envs/balnet.yaml"
        log:
            f"{LOGS}/dsnn/reduce.log",
        benchmark:
            f"{BENCH}/dsnn/reduce.tsv"
        shell:
            "balnet dsnn summarize {input} -o {output.h5} --figure {output.png} > {log} 2>&1"

    rule dsnn:
        input:
            rules.dsnn_reduce.output,
            DSNN_GRID.files("dsnn.png"),

    STUDY_OUTPUTS["dsnn"] = [
        f"{RESULTS}/dsnn/dsnn_summary.h5",
        f"{RESULTS}/dsnn/dsnn_summary.png",
        *DSNN_GRID.files("dsnn.png"),
    ]
