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
        omp=omp_threads,
    threads: 2  # = MPI ranks (capped by --cores); profiles override: set-threads; partition: see job_ranks
    resources:
        mpi_ranks=job_ranks,
        gpus=job_gpus,
    shell:
        "OMP_NUM_THREADS={params.omp} OPENBLAS_NUM_THREADS={params.omp} MKL_NUM_THREADS={params.omp} mpiexec -n {resources.mpi_ranks} "
        "balnet lyapunov {params.args} --quiet -o {output} > {log} 2>&1"
