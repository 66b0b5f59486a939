# Stage 3: reductions over the sweep: phase diagram and Lyapunov statistics.


rule reduce_phases:
    input:
        runs=point_files("run.h5"),
        lyapunov=point_files("lyapunov.h5"),
    output:
        h5=f"{RESULTS}/phase_diagram.h5",
        png=report(
            f"{RESULTS}/phase_diagram.png",
            caption="../report/phase_diagram.rst",
            category="Phase diagram",
        ),
    conda:
        "../envs/balnet.yaml"
    log:
        f"{LOGS}/reduce_phases.log",
    benchmark:
        f"{BENCH}/reduce_phases.tsv"
    params:
        sweep=" ".join(SWEEP_NAMES),
        criteria=section_args("phases"),
    shell:
        "balnet reduce phases {input.runs} --lyapunov {input.lyapunov} --sweep {params.sweep} "
        "{params.criteria} -o {output.h5} --figure {output.png} > {log} 2>&1"


rule reduce_lyapunov:
    input:
        point_files("lyapunov.h5"),
    output:
        h5=f"{RESULTS}/lyapunov_stats.h5",
        png=report(
            f"{RESULTS}/lyapunov_stats.png",
            caption="../report/lyapunov_stats.rst",
            category="Lyapunov exponents",
        ),
        hist=report(
            f"{RESULTS}/ftle_histograms.png",
            caption="../report/ftle_histograms.rst",
            category="Lyapunov exponents",
        ),
    conda:
        "../envs/balnet.yaml"
    log:
        f"{LOGS}/reduce_lyapunov.log",
    benchmark:
        f"{BENCH}/reduce_lyapunov.tsv"
    params:
        sweep=" ".join(SWEEP_NAMES),
        bins=config.get("reduce", {}).get("bins", 40),
        range=(
            "--range " + " ".join(map(str, config["reduce"]["histogram_range"]))
            if config.get("reduce", {}).get("histogram_range")
            else ""
        ),
    shell:
        "balnet reduce lyapunov {input} --sweep {params.sweep} --bins {params.bins} {params.range} "
        "-o {output.h5} --figure {output.png} --histograms {output.hist} > {log} 2>&1"
