# Study: Kuramoto oscillators on circulant networks (balnet.studies.kuramoto, `balnet kuramoto --help`).
# One job per swept n: the MILP "densest circulant graph with a strictly stable q-twisted state" for
# every twist q (MPI ranks split the twists), the numerical eigenvalue re-check, a simulation of the best
# network; then the reduction to the best connectivity per n and overall (HDF5 + figure mu vs n).
# Runs only when config.yaml has a `kuramoto:` section; target: `snakemake --cores 2 kuramoto`.

KURAMOTO = config.get("kuramoto")
if KURAMOTO is not None:
    KURAMOTO_GRID = Sweep(KURAMOTO.get("sweep"), f"{RESULTS}/kuramoto")

    rule kuramoto_point:
        output:
            h5=f"{KURAMOTO_GRID.pattern}/kuramoto.h5",
            png=report(
                f"{KURAMOTO_GRID.pattern}/kuramoto_sim.png",
                caption="../report/kuramoto_sim.rst",
                category="Kuramoto",
                labels=KURAMOTO_GRID.labels,
            ),
        conda:
            "../envs/balnet.yaml"
        log:
            f"{LOGS}/kuramoto/{KURAMOTO_GRID.point}/run.log",
        benchmark:
            f"{BENCH}/kuramoto/{KURAMOTO_GRID.point}/run.tsv"
        params:
            args=lambda wc: study_args(wc, "kuramoto", KURAMOTO_GRID),
            mpi=mpiexec,
        threads: 2  # = MPI ranks (capped by --cores); profiles override: set-threads, set-resources mpi_ranks
        resources:
            mpi_ranks=mpi_ranks,
        wildcard_constraints:
            **KURAMOTO_GRID.constraints,
        shell:
            "{params.mpi} "
            "balnet kuramoto run {params.args} -o {output.h5} --figure {output.png} > {log} 2>&1"

    rule kuramoto_reduce:
        input:
            KURAMOTO_GRID.files("kuramoto.h5"),
        output:
            h5=f"{RESULTS}/kuramoto/kuramoto_summary.h5",
            png=report(
                f"{RESULTS}/kuramoto/kuramoto_mu_vs_n.png",
                caption="../report/kuramoto.rst",
                category="Kuramoto",
            ),
        conda:
            "../envs/balnet.yaml"
        log:
            f"{LOGS}/kuramoto/reduce.log",
        benchmark:
            f"{BENCH}/kuramoto/reduce.tsv"
        shell:
            "balnet kuramoto reduce {input} -o {output.h5} --figure {output.png} > {log} 2>&1"

    rule kuramoto:
        input:
            rules.kuramoto_reduce.output,
            KURAMOTO_GRID.files("kuramoto_sim.png"),

    STUDY_OUTPUTS["kuramoto"] = [
        f"{RESULTS}/kuramoto/kuramoto_summary.h5",
        f"{RESULTS}/kuramoto/kuramoto_mu_vs_n.png",
        *KURAMOTO_GRID.files("kuramoto_sim.png"),
    ]
