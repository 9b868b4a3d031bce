# Drug–drug interaction models: (download, pipelines/rules/download.smk) → dataset → splits → train (per seed)
# → evaluate → table. Drugs of each data set go through the chemistry rules as the molecule set "ddi_<dataset>".


rule ddi_dataset:
    input:
        task_dataset_inputs("ddi"),
    output:
        pairs=f"{RESULTS}/ddi/{{ds}}/pairs.parquet",
        drugs=f"{RESULTS}/ddi/{{ds}}/drugs.csv",
        types=f"{RESULTS}/ddi/{{ds}}/types.tsv",
        rejects=f"{RESULTS}/ddi/{{ds}}/rejects.tsv",
        info=f"{RESULTS}/ddi/{{ds}}/dataset.json",
    params:
        args=lambda wc: ddi_dataset_args(wc.ds),
        outdir=f"{RESULTS}/ddi/{{ds}}",
    log:
        f"{LOGS}/ddi/{{ds}}/dataset.log",
    benchmark:
        f"{BENCH}/ddi/{{ds}}/dataset.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "theraflow --no-progress ddi dataset {params.args} --outdir {params.outdir:q} > {log:q} 2>&1"


rule ddi_split:
    input:
        pairs=rules.ddi_dataset.output.pairs,
    output:
        split=f"{RESULTS}/ddi/{{ds}}/splits/{{split}}.parquet",
        manifest=f"{RESULTS}/ddi/{{ds}}/splits/{{split}}.manifest.json",
        audit=f"{RESULTS}/ddi/{{ds}}/splits/{{split}}.audit.json",
    params:
        args=lambda wc: task_split_args("ddi", wc.split),
        outdir=f"{RESULTS}/ddi/{{ds}}/splits",
    log:
        f"{LOGS}/ddi/{{ds}}/split.{{split}}.log",
    benchmark:
        f"{BENCH}/ddi/{{ds}}/split.{{split}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "theraflow --no-progress ddi split --pairs {input.pairs:q} {params.args} --outdir {params.outdir:q}"
        " > {log:q} 2>&1"


rule ddi_train:
    input:
        pairs=rules.ddi_dataset.output.pairs,
        info=rules.ddi_dataset.output.info,
        split=rules.ddi_split.output.split,
        molecules=f"{RESULTS}/chem/ddi_{{ds}}/molecules.parquet",
        model_config=model_config_path,
    output:
        weights=protected(f"{RESULTS}/ddi/{{ds}}/{{split}}/{{model}}/seed{{seed}}/model.safetensors"),
        meta=f"{RESULTS}/ddi/{{ds}}/{{split}}/{{model}}/seed{{seed}}/model.json",
        history=f"{RESULTS}/ddi/{{ds}}/{{split}}/{{model}}/seed{{seed}}/history.csv",
    params:
        store=STORE,
        outdir=lambda wc, output: os.path.dirname(output.meta),
        budget=f"--max-minutes {DDI['max_minutes']}" if DDI["max_minutes"] else "",
    log:
        f"{LOGS}/ddi/{{ds}}/train.{{split}}.{{model}}.seed{{seed}}.log",
    benchmark:
        f"{BENCH}/ddi/{{ds}}/train.{{split}}.{{model}}.seed{{seed}}.tsv"
    threads: DDI["threads"]
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=8000,
        runtime=lambda wc: int((DDI["max_minutes"] or 60) * 1.5) + 10,
    shell:
        "theraflow --no-progress ddi train --pairs {input.pairs:q} --split {input.split:q}"
        " --molecules {input.molecules:q} --store {params.store:q} --model-config {input.model_config:q}"
        " --outdir {params.outdir:q} --seed {wildcards.seed} --threads {threads} {params.budget}"
        " > {log:q} 2>&1"


rule ddi_evaluate:
    input:
        weights=rules.ddi_train.output.weights,
        meta=rules.ddi_train.output.meta,
        pairs=rules.ddi_dataset.output.pairs,
        split=rules.ddi_split.output.split,
        molecules=f"{RESULTS}/chem/ddi_{{ds}}/molecules.parquet",
    output:
        metrics=f"{RESULTS}/ddi/{{ds}}/{{split}}/{{model}}/seed{{seed}}/metrics.json",
        predictions=f"{RESULTS}/ddi/{{ds}}/{{split}}/{{model}}/seed{{seed}}/predictions.parquet",
        confusion=f"{RESULTS}/ddi/{{ds}}/{{split}}/{{model}}/seed{{seed}}/confusion.png",
    params:
        store=STORE,
        model_dir=lambda wc, input: os.path.dirname(input.meta),
        outdir=lambda wc, output: os.path.dirname(output.metrics),
        bootstrap=DDI["bootstrap"],
    log:
        f"{LOGS}/ddi/{{ds}}/evaluate.{{split}}.{{model}}.seed{{seed}}.log",
    benchmark:
        f"{BENCH}/ddi/{{ds}}/evaluate.{{split}}.{{model}}.seed{{seed}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "theraflow --no-progress ddi evaluate --model {params.model_dir:q} --pairs {input.pairs:q}"
        " --split {input.split:q} --molecules {input.molecules:q} --store {params.store:q}"
        " --outdir {params.outdir:q} --bootstrap {params.bootstrap} > {log:q} 2>&1"


rule ddi_table:
    input:
        lambda wc: task_metrics_files("ddi", wc.ds),
    output:
        table=f"{RESULTS}/ddi/{{ds}}/metrics.tsv",
        plot=f"{RESULTS}/ddi/{{ds}}/metrics.png",
    log:
        f"{LOGS}/ddi/{{ds}}/table.log",
    benchmark:
        f"{BENCH}/ddi/{{ds}}/table.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "theraflow --no-progress ddi table {input:q} -o {output.table:q} --plot {output.plot:q} > {log:q} 2>&1"
