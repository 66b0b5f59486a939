# Stage 1: simulate every sweep point; the MPI ranks of a job split its realizations.


rule simulate:
    output:
        f"{RESULTS}/{POINT}/run.h5",
    conda:
        "../envs/balnet.yaml"
    log:
        f"{LOGS}/simulate/{POINT}.log",
    benchmark:
        f"{BENCH}/simulate/{POINT}.tsv"
    params:
        args=lambda wc: model_args(wc, ["network", "simulation"]),
        mpi=mpiexec,
    threads: 2  # = MPI ranks (capped by --cores); profiles override: set-threads, set-resources mpi_ranks; partition: see job_ranks
    resources:
        mpi_ranks=job_ranks,
        gpus=job_gpus,
    shell:
        "{params.mpi} "
        "balnet simulate {params.args} -o {output} > {log} 2>&1"


rule plot_activity:
    input:
        f"{RESULTS}/{POINT}/run.h5",
    output:
        report(
            f"{RESULTS}/{POINT}/activity.png",
            caption="../report/activity.rst",
            category="Activity",
            labels=point_labels(),
        ),
    conda:
        "../envs/balnet.yaml"
    log:
        f"{LOGS}/plot_activity/{POINT}.log",
    benchmark:
        f"{BENCH}/plot_activity/{POINT}.tsv"
    shell:
        "balnet plot {input} -o {output} > {log} 2>&1"
