# Stage 3: reductions over the sweep: phase diagram (with the linear-stability predictions of
# balnet.theory.dmft), Lyapunov statistics (with the SCS mean-field reference), and, when config
# has a `meanfield:` section, the SCS mean-field theory beside the J0 = 0 points.


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
        predictions=report(
            f"{RESULTS}/phase_predictions.png",
            caption="../report/meanfield_stability.rst",
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
        "{params.criteria} -o {output.h5} --figure {output.png} --predictions-figure {output.predictions} "
        "> {log} 2>&1"


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
        macro=report(
            f"{RESULTS}/macro_ftle.png",
            caption="../report/macro_ftle.rst",
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
        "-o {output.h5} --figure {output.png} --histograms {output.hist} --macro-figure {output.macro} "
        "> {log} 2>&1"


MEANFIELD = config.get("meanfield")
if MEANFIELD is not None:

    rule meanfield_dmft:
        input:
            runs=point_files("run.h5"),
            lyapunov=point_files("lyapunov.h5"),
        output:
            h5=f"{RESULTS}/meanfield_dmft.h5",
            png=report(
                f"{RESULTS}/meanfield_dmft.png",
                caption="../report/meanfield_dmft.rst",
                category="Mean-field theory",
            ),
        conda:
            "../envs/balnet.yaml"
        log:
            f"{LOGS}/meanfield_dmft.log",
        benchmark:
            f"{BENCH}/meanfield_dmft.tsv"
        params:
            args=section_args("meanfield"),
        shell:
            "balnet meanfield dmft --runs {input.runs} --lyapunov {input.lyapunov} {params.args} "
            "-o {output.h5} --figure {output.png} > {log} 2>&1"

    rule meanfield:
        input:
            rules.meanfield_dmft.output,

    STUDY_OUTPUTS["meanfield"] = [f"{RESULTS}/meanfield_dmft.h5", f"{RESULTS}/meanfield_dmft.png"]
