# Drug–target interaction models: (download, pipelines/rules/download.smk) → dataset → splits → train (per seed)
# → evaluate → table.
# Drugs of each data set go through the chemistry rules as the molecule set "dti_<dataset>".


rule dti_dataset:
    input:
        task_dataset_inputs("dti"),
    output:
        pairs=f"{RESULTS}/dti/{{ds}}/pairs.parquet",
        drugs=f"{RESULTS}/dti/{{ds}}/drugs.csv",
        folds=f"{RESULTS}/dti/{{ds}}/folds.json",
        rejects=f"{RESULTS}/dti/{{ds}}/rejects.tsv",
        info=f"{RESULTS}/dti/{{ds}}/dataset.json",
    params:
        args=lambda wc: dti_dataset_args(wc.ds),
        outdir=f"{RESULTS}/dti/{{ds}}",
    log:
        f"{LOGS}/dti/{{ds}}/dataset.log",
    benchmark:
        f"{BENCH}/dti/{{ds}}/dataset.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "theraflow --no-progress dti dataset {params.args} --outdir {params.outdir:q} > {log:q} 2>&1"


rule dti_split:
    input:
        pairs=rules.dti_dataset.output.pairs,
        folds=rules.dti_dataset.output.folds,
    output:
        split=f"{RESULTS}/dti/{{ds}}/splits/{{split}}.parquet",
        manifest=f"{RESULTS}/dti/{{ds}}/splits/{{split}}.manifest.json",
        audit=f"{RESULTS}/dti/{{ds}}/splits/{{split}}.audit.json",
    params:
        args=lambda wc: task_split_args("dti", wc.split),
        outdir=f"{RESULTS}/dti/{{ds}}/splits",
    log:
        f"{LOGS}/dti/{{ds}}/split.{{split}}.log",
    benchmark:
        f"{BENCH}/dti/{{ds}}/split.{{split}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "theraflow --no-progress dti split --pairs {input.pairs:q} --folds {input.folds:q} {params.args}"
        " --outdir {params.outdir:q} > {log:q} 2>&1"


rule dti_train:
    input:
        pairs=rules.dti_dataset.output.pairs,
        split=rules.dti_split.output.split,
        molecules=f"{RESULTS}/chem/dti_{{ds}}/molecules.parquet",
        model_config=model_config_path,
    output:
        weights=protected(f"{RESULTS}/dti/{{ds}}/{{split}}/{{model}}/seed{{seed}}/model.safetensors"),
        meta=f"{RESULTS}/dti/{{ds}}/{{split}}/{{model}}/seed{{seed}}/model.json",
        history=f"{RESULTS}/dti/{{ds}}/{{split}}/{{model}}/seed{{seed}}/history.csv",
    params:
        store=STORE,
        outdir=lambda wc, output: os.path.dirname(output.meta),
        budget=f"--max-minutes {DTI['max_minutes']}" if DTI["max_minutes"] else "",
    log:
        f"{LOGS}/dti/{{ds}}/train.{{split}}.{{model}}.seed{{seed}}.log",
    benchmark:
        f"{BENCH}/dti/{{ds}}/train.{{split}}.{{model}}.seed{{seed}}.tsv"
    threads: DTI["threads"]
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=8000,
        runtime=lambda wc: int((DTI["max_minutes"] or 60) * 1.5) + 10,
    shell:
        "theraflow --no-progress dti train --pairs {input.pairs:q} --split {input.split:q}"
        " --molecules {input.molecules:q} --store {params.store:q} --model-config {input.model_config:q}"
        " --outdir {params.outdir:q} --seed {wildcards.seed} --threads {threads} {params.budget}"
        " > {log:q} 2>&1"


rule dti_evaluate:
    input:
        weights=rules.dti_train.output.weights,
        meta=rules.dti_train.output.meta,
        pairs=rules.dti_dataset.output.pairs,
        split=rules.dti_split.output.split,
        molecules=f"{RESULTS}/chem/dti_{{ds}}/molecules.parquet",
    output:
        metrics=f"{RESULTS}/dti/{{ds}}/{{split}}/{{model}}/seed{{seed}}/metrics.json",
        predictions=f"{RESULTS}/dti/{{ds}}/{{split}}/{{model}}/seed{{seed}}/predictions.parquet",
        scatter=f"{RESULTS}/dti/{{ds}}/{{split}}/{{model}}/seed{{seed}}/scatter.png",
    params:
        store=STORE,
        model_dir=lambda wc, input: os.path.dirname(input.meta),
        outdir=lambda wc, output: os.path.dirname(output.metrics),
        extra=(f"--binary-threshold {DTI['binary_threshold']}" if DTI["binary_threshold"] is not None else ""),
        bootstrap=DTI["bootstrap"],
    log:
        f"{LOGS}/dti/{{ds}}/evaluate.{{split}}.{{model}}.seed{{seed}}.log",
    benchmark:
        f"{BENCH}/dti/{{ds}}/evaluate.{{split}}.{{model}}.seed{{seed}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "theraflow --no-progress dti evaluate --model {params.model_dir:q} --pairs {input.pairs:q}"
        " --split {input.split:q} --molecules {input.molecules:q} --store {params.store:q}"
        " --outdir {params.outdir:q} --bootstrap {params.bootstrap} {params.extra} > {log:q} 2>&1"


rule dti_calibrate:
    input:
        lambda wc: [
            f"{RESULTS}/dti/{wc.ds}/{wc.split}/{wc.model}/seed{s}/predictions.parquet"
            for s in task_seeds("dti", wc.split, wc.model)
        ],
    output:
        calibration=f"{RESULTS}/dti/{{ds}}/{{split}}/{{model}}/calibration.json",
        plot=report(
            f"{RESULTS}/dti/{{ds}}/{{split}}/{{model}}/coverage.png",
            caption="../report/dti_coverage.rst",
            category="Drug-target interactions",
            labels={"data set": "{ds}", "split": "{split}", "model": "{model}", "file": "coverage plot"},
        ),
    params:
        models=lambda wc, input: " ".join(f"--model {shlex.quote(os.path.dirname(p))}" for p in input),
    log:
        f"{LOGS}/dti/{{ds}}/calibrate.{{split}}.{{model}}.log",
    benchmark:
        f"{BENCH}/dti/{{ds}}/calibrate.{{split}}.{{model}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "theraflow --no-progress dti calibrate {params.models} -o {output.calibration:q} --plot {output.plot:q}"
        " > {log:q} 2>&1"


rule dti_table:
    input:
        lambda wc: task_metrics_files("dti", wc.ds),
    output:
        table=f"{RESULTS}/dti/{{ds}}/metrics.tsv",
        plot=f"{RESULTS}/dti/{{ds}}/metrics.png",
    log:
        f"{LOGS}/dti/{{ds}}/table.log",
    benchmark:
        f"{BENCH}/dti/{{ds}}/table.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "theraflow --no-progress dti table {input:q} -o {output.table:q} --plot {output.plot:q} > {log:q} 2>&1"
