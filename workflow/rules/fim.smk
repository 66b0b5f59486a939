# Study: Fisher information of random deep networks (balnet.studies.fim, `balnet fim --help`).
# One job per sweep point (M, L, activation, sigma_w2, sigma_b2, norm, ...): the empirical FIM spectrum of
# `seeds` random nets (MPI ranks split the seeds) beside its mean-field prediction, and optionally the GD
# divergence threshold and the natural-gradient comparison; then the reduction to one summary file and
# four figures (spectrum statistics vs M, learning-rate threshold vs M, NGD training error, finite-T bulk edge).
# Runs only when config.yaml has a `fim:` section; target: `snakemake --cores 2 fim`.

FIM = config.get("fim")
if FIM is not None:
    FIM_GRID = Sweep(FIM.get("sweep"), f"{RESULTS}/fim")
    FIM_FIGURES = {
        "spectrum": f"{RESULTS}/fim/fim_spectrum.png",
        "lr": f"{RESULTS}/fim/fim_lr_threshold.png",
        "ngd": f"{RESULTS}/fim/fim_ngd.png",
        "edge": f"{RESULTS}/fim/fim_edge.png",
    }

    rule fim_point:
        output:
            h5=f"{FIM_GRID.pattern}/fim.h5",
        conda:
            "../envs/balnet.yaml"
        log:
            f"{LOGS}/fim/{FIM_GRID.point}/run.log",
        benchmark:
            f"{BENCH}/fim/{FIM_GRID.point}/run.tsv"
        params:
            args=lambda wc: study_args(wc, "fim", FIM_GRID),
            mpi=mpiexec,
        threads: 2  # = MPI ranks (capped by --cores); profiles override: set-threads, set-resources mpi_ranks
        resources:
            mpi_ranks=mpi_ranks,
        wildcard_constraints:
            **FIM_GRID.constraints,
        shell:
            "{params.mpi} "
            "balnet fim run {params.args} -o {output.h5} > {log} 2>&1"

    rule fim_reduce:
        input:
            FIM_GRID.files("fim.h5"),
        output:
            h5=f"{RESULTS}/fim/fim_summary.h5",
            spectrum=report(FIM_FIGURES["spectrum"], caption="../report/fim.rst", category="FIM"),
            lr=report(FIM_FIGURES["lr"], caption="../report/fim_lr.rst", category="FIM"),
            ngd=report(FIM_FIGURES["ngd"], caption="../report/fim_ngd.rst", category="FIM"),
            edge=report(FIM_FIGURES["edge"], caption="../report/fim_edge.rst", category="FIM"),
        conda:
            "../envs/balnet.yaml"
        log:
            f"{LOGS}/fim/reduce.log",
        benchmark:
            f"{BENCH}/fim/reduce.tsv"
        shell:
            "balnet fim reduce {input} -o {output.h5} --figure {output.spectrum} "
            "--lr-figure {output.lr} --ngd-figure {output.ngd} --edge-figure {output.edge} > {log} 2>&1"

    rule fim:
        input:
            rules.fim_reduce.output,

    STUDY_OUTPUTS["fim"] = [f"{RESULTS}/fim/fim_summary.h5", *FIM_FIGURES.values()]
