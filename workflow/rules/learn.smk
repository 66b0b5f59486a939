# Stage 4 (when config has a `learn:` section): reservoir computing at every sweep
# point (learning curves with and without macro-FTLE selection / pre-training),
# then the learning curves of the whole sweep.
# swept values that `balnet learn` takes: the fields of the network and learn records, read from the
# schema (whose x-record sections list exactly those fields), so that parsing needs no balnet import
LEARN_FIELDS = schema_fields("network") | schema_fields("learn")


rule learn:
    output:
        h5=f"{RESULTS}/{POINT}/learning.h5",
        png=report(
            f"{RESULTS}/{POINT}/learning.png",
            caption="../report/learning.rst",
            category="Learning",
            labels=point_labels(),
        ),
    conda:
        "../envs/balnet.yaml"
    log:
        f"{LOGS}/learn/{POINT}.log",
    benchmark:
        f"{BENCH}/learn/{POINT}.tsv"
    params:
        args=lambda wc: model_args(wc, ["network", "learn"], accepted=LEARN_FIELDS),
        mpi=mpiexec,
    threads: 2  # = MPI ranks (capped by --cores); profiles override: set-threads, set-resources mpi_ranks
    resources:
        mpi_ranks=mpi_ranks,
    shell:
        "{params.mpi} "
        "balnet learn {params.args} -o {output.h5} --figure {output.png} > {log} 2>&1"


rule reduce_learning:
    input:
        point_files("learning.h5"),
    output:
        h5=f"{RESULTS}/learning_curves.h5",
        png=report(
            f"{RESULTS}/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="Learning",
        ),
    conda:
        "../envs/balnet.yaml"
    log:
        f"{LOGS}/reduce_learning.log",
    benchmark:
        f"{BENCH}/reduce_learning.tsv"
    params:
        sweep=" ".join(SWEEP_NAMES),
    shell:
        "balnet reduce learning {input} --sweep {params.sweep} -o {output.h5} --figure {output.png} > {log} 2>&1"
