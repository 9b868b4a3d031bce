# Batch scoring: score_count (a checkpoint: the library's records, hence its shards) → library shards
# (standardized by the chemistry rules) → score_shard (feature store + model ensemble) → [score_merge: groups
# of at most 64 shards, when there are more] → score_gather (ranked tables, top-k) → score_report (HTML).
# With score.first_pass, each shard job first scores every molecule with the distilled model and passes on only
# the share it ranks highest (a two-stage screen); the gather collects the first-pass tables.
# The DAG never reads a library: the count does, once per version of the file.


checkpoint score_count:
    input:
        lambda wc: PLAN.molecule_path(f"score_{wc.lib}"),
    output:
        f"{RESULTS}/score/{{lib}}/library.json",
    params:
        tf=TF,
        args=lambda wc: PLAN.count_args(wc.lib),
    log:
        f"{LOGS}/score/{{lib}}/count.log",
    benchmark:
        f"{BENCH}/score/{{lib}}/count.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "{params.tf} score count {input:q} {params.args} -o {output:q} > {log:q} 2>&1"


rule score_shard:
    input:
        standardized=f"{RESULTS}/chem/score_{{lib}}/shards/{{shard}}.standardized.parquet",
        models=PLAN.score_model_files(),
        first_pass_model=PLAN.first_pass_files(),
    output:
        scores=f"{RESULTS}/score/{{lib}}/shards/{{shard}}.scores.arrow",
        rejects=f"{RESULTS}/score/{{lib}}/shards/{{shard}}.rejects.parquet",
        stats=f"{RESULTS}/score/{{lib}}/shards/{{shard}}.stats.json",
        # a two-stage screen (score.first_pass): every molecule's first-pass score
        **({"first_pass": f"{RESULTS}/score/{{lib}}/shards/{{shard}}.first_pass.parquet"}
           if PLAN.first_pass_files() else {}),
    params:
        tf=TF,
        args=PLAN.score_shard_args(),
        first_pass=lambda wc, output: (f"--out-first-pass {shlex.quote(output.first_pass)}"
                                       if PLAN.first_pass_files() else ""),
    log:
        f"{LOGS}/score/{{lib}}/shard.{{shard}}.log",
    benchmark:
        f"{BENCH}/score/{{lib}}/shard.{{shard}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "{params.tf} score shard --standardized {input.standardized:q} {params.args} --threads {threads}"
        " --shard {wildcards.shard}"
        " --out-scores {output.scores:q} --out-rejects {output.rejects:q} --out-stats {output.stats:q}"
        " {params.first_pass} > {log:q} 2>&1"


rule score_merge:
    input:
        score_group_files,
    output:
        scores=temp(f"{RESULTS}/score/{{lib}}/merged/{{group}}.scores.arrow"),
        stats=f"{RESULTS}/score/{{lib}}/merged/{{group}}.stats.json",
    params:
        tf=TF,
    log:
        f"{LOGS}/score/{{lib}}/merge.{{group}}.log",
    benchmark:
        f"{BENCH}/score/{{lib}}/merge.{{group}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{params.tf} score merge --scores {input:q} --out-scores {output.scores:q} --out-stats {output.stats:q}"
        " > {log:q} 2>&1"


rule score_gather:
    input:
        scores=score_gather_files("scores"),
        merge_stats=score_gather_files("merge_stats"),
        stats=score_shard_files("stats.json"),
        rejects=score_shard_files("rejects.parquet"),
        chem_rejects=score_shard_files("standardize-rejects.parquet", chem=True),
        chem_stats=score_shard_files("standardize.json", chem=True),
        first_pass=lambda wc: score_shard_files("first_pass.parquet")(wc) if PLAN.first_pass_files() else [],
    output:
        ranked=directory(f"{RESULTS}/score/{{lib}}/ranked"),
        topk=f"{RESULTS}/score/{{lib}}/topk.tsv",
        topk_in=f"{RESULTS}/score/{{lib}}/topk_in_domain.tsv",
        hist=f"{RESULTS}/score/{{lib}}/histograms.json",
        sample=f"{RESULTS}/score/{{lib}}/ad_sample.parquet",
        rejects=f"{RESULTS}/score/{{lib}}/rejects.tsv",
        summary=f"{RESULTS}/score/{{lib}}/summary.json",
        **({"first_pass": f"{RESULTS}/score/{{lib}}/first_pass.parquet"} if PLAN.first_pass_files() else {}),
    params:
        tf=TF,
        outdir=lambda wc, output: os.path.dirname(output.summary),
        top_k=PLAN.score["top_k"],
    log:
        f"{LOGS}/score/{{lib}}/gather.log",
    benchmark:
        f"{BENCH}/score/{{lib}}/gather.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{params.tf} score gather --scores {input.scores:q} --stats {input.stats:q}"
        " --rejects {input.chem_rejects:q} {input.rejects:q} --chem-stats {input.chem_stats:q}"
        " --merge-stats {input.merge_stats:q} --first-pass {input.first_pass:q}"
        " --outdir {params.outdir:q} --top-k {params.top_k} > {log:q} 2>&1"


rule score_report:
    input:
        summary=rules.score_gather.output.summary,
        topk=rules.score_gather.output.topk,
        models=PLAN.score_model_files(),
        calibration=PLAN.score_calibration_files(),
    output:
        report(
            f"{RESULTS}/score/{{lib}}/report.html",
            caption="../report/score_report.rst",
            category="Scoring",
            labels={"library": "{lib}", "file": "HTML report"},
        ),
    params:
        tf=TF,
        screen=lambda wc, input: os.path.dirname(input.summary),
        args=lambda wc: PLAN.score_report_args(wc.lib),
        calibration=lambda wc, input: " ".join(f"--calibration {shlex.quote(p)}" for p in input.calibration),
    log:
        f"{LOGS}/score/{{lib}}/report.log",
    benchmark:
        f"{BENCH}/score/{{lib}}/report.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        "{params.tf} score report --screen {params.screen:q} {params.args} {params.calibration}"
        " --title 'theraflow screening report: {wildcards.lib}'"
        " -o {output:q} > {log:q} 2>&1"


rule score_topk_report:
    input:
        rules.score_gather.output.topk,
    output:
        report(
            f"{RESULTS}/score/{{lib}}/topk.html",
            caption="../report/score_topk.rst",
            category="Scoring",
            labels={"library": "{lib}", "file": "top-k table"},
        ),
    log:
        f"{LOGS}/score/{{lib}}/topk_html.log",
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../report/topk_table.py"
