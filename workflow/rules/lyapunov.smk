# Stage 2: Lyapunov spectrum, micro and macro FTLEs of every sweep point (same
# network, realizations and initial states as the simulation).


rule lyapunov:
    output:
        f"{RESULTS}/{POINT}/lyapunov.h5",
    conda:
        "../envs/balnet.yaml"
    log:
        f"{LOGS}/lyapunov/{POINT}.log",
    benchmark:
        f"{BENCH}/lyapunov/{POINT}.tsv"
    params:
        args=lambda wc: model_args(wc, ["network", "simulation", "lyapunov"]),
        mpi=mpiexec,
    threads: 2  # = MPI ranks (capped by --cores); profiles override: set-threads, set-resources mpi_ranks; partition: see job_ranks
    resources:
        mpi_ranks=job_ranks,
        gpus=job_gpus,
    shell:
        "{params.mpi} "
        "balnet lyapunov {params.args} -o {output} > {log} 2>&1"
