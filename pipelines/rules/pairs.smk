# Pair tasks (dti, ddi and any a plugin registers), one rule per stage with a {task} wildcard:
# (download) → dataset → split → train (per seed) → evaluate → calibrate (ensembles) → table.
# Each data set's molecules go through the chemistry rules as the molecule set "<task>_<dataset>".


rule pair_dataset:
    input:
        dataset_inputs,
    output:
        **{f.split(".")[0]: f"{RESULTS}/{{task}}/{{ds}}/{f}" for f in
           ("pairs.parquet", "molecules.csv", "classes.tsv", "folds.json", "rejects.tsv", "dataset.json")},
    params:
        tf=TF,
        args=lambda wc: PLAN.dataset_args(wc.task, wc.ds),
        outdir=f"{RESULTS}/{{task}}/{{ds}}",
    log:
        f"{LOGS}/{{task}}/{{ds}}/dataset.log",
    benchmark:
        f"{BENCH}/{{task}}/{{ds}}/dataset.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{params.tf} {wildcards.task} dataset {params.args} --outdir {params.outdir:q} > {log:q} 2>&1"


rule pair_split:
    input:
        pairs=rules.pair_dataset.output.pairs,
        folds=rules.pair_dataset.output.folds,
    output:
        split=f"{RESULTS}/{{task}}/{{ds}}/splits/{{split}}.parquet",
        manifest=f"{RESULTS}/{{task}}/{{ds}}/splits/{{split}}.manifest.json",
        audit=f"{RESULTS}/{{task}}/{{ds}}/splits/{{split}}.audit.json",
    params:
        tf=TF,
        args=lambda wc: PLAN.split_args(wc.task, wc.split),
        outdir=f"{RESULTS}/{{task}}/{{ds}}/splits",
    log:
        f"{LOGS}/{{task}}/{{ds}}/split.{{split}}.log",
    benchmark:
        f"{BENCH}/{{task}}/{{ds}}/split.{{split}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{params.tf} {wildcards.task} split --pairs {input.pairs:q} --folds {input.folds:q} {params.args}"
        " --outdir {params.outdir:q} > {log:q} 2>&1"


rule pair_train:
    input:
        pairs=rules.pair_dataset.output.pairs,
        split=rules.pair_split.output.split,
        molecules=f"{RESULTS}/chem/{{task}}_{{ds}}/molecules.parquet",
        model_config=model_config_path,
        pretrained=lambda wc: PLAN.pretrained_inputs(wc.model),
    output:
        weights=protected(f"{RESULTS}/{{task}}/{{ds}}/{{split}}/{{model}}/seed{{seed}}/model.safetensors"),
        meta=f"{RESULTS}/{{task}}/{{ds}}/{{split}}/{{model}}/seed{{seed}}/model.json",
        history=f"{RESULTS}/{{task}}/{{ds}}/{{split}}/{{model}}/seed{{seed}}/history.csv",
    params:
        tf=TF,
        store=STORE,
        outdir=lambda wc, output: os.path.dirname(output.meta),
        budget=lambda wc: PLAN.train_budget(wc.task),
    log:
        f"{LOGS}/{{task}}/{{ds}}/train.{{split}}.{{model}}.seed{{seed}}.log",
    benchmark:
        f"{BENCH}/{{task}}/{{ds}}/train.{{split}}.{{model}}.seed{{seed}}.tsv"
    threads: lambda wc: PLAN.tasks[wc.task]["threads"]
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=8000,
        runtime=lambda wc: PLAN.train_runtime(wc.task),
    shell:
        "{params.tf} {wildcards.task} train --pairs {input.pairs:q} --split {input.split:q}"
        " --molecules {input.molecules:q} --store {params.store:q} --model-config {input.model_config:q}"
        " --outdir {params.outdir:q} --seed {wildcards.seed} --threads {threads} {params.budget} > {log:q} 2>&1"


rule pair_evaluate:
    input:
        weights=rules.pair_train.output.weights,
        meta=rules.pair_train.output.meta,
        pairs=rules.pair_dataset.output.pairs,
        split=rules.pair_split.output.split,
        molecules=f"{RESULTS}/chem/{{task}}_{{ds}}/molecules.parquet",
    output:
        metrics=f"{RESULTS}/{{task}}/{{ds}}/{{split}}/{{model}}/seed{{seed}}/metrics.json",
        predictions=f"{RESULTS}/{{task}}/{{ds}}/{{split}}/{{model}}/seed{{seed}}/predictions.parquet",
    params:
        tf=TF,
        store=STORE,
        model_dir=lambda wc, input: os.path.dirname(input.meta),
        outdir=lambda wc, output: os.path.dirname(output.metrics),
        args=lambda wc: PLAN.evaluate_args(wc.task),
    log:
        f"{LOGS}/{{task}}/{{ds}}/evaluate.{{split}}.{{model}}.seed{{seed}}.log",
    benchmark:
        f"{BENCH}/{{task}}/{{ds}}/evaluate.{{split}}.{{model}}.seed{{seed}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{params.tf} {wildcards.task} evaluate --model {params.model_dir:q} --pairs {input.pairs:q} --split {input.split:q}"
        " --molecules {input.molecules:q} --store {params.store:q} --outdir {params.outdir:q} {params.args} > {log:q} 2>&1"


rule pair_calibrate:
    input:
        lambda wc: PLAN.prediction_files(wc.task, wc.ds, wc.split, wc.model),
    output:
        calibration=f"{RESULTS}/{{task}}/{{ds}}/{{split}}/{{model}}/calibration.json",
        plot=report(
            f"{RESULTS}/{{task}}/{{ds}}/{{split}}/{{model}}/calibration.png",
            caption="../report/pair_calibration.rst",
            category="Pair tasks",
            labels={"task": "{task}", "data set": "{ds}", "split": "{split}", "model": "{model}",
                    "file": "calibration plot"},
        ),
    params:
        tf=TF,
        models=lambda wc, input: " ".join(f"--model {shlex.quote(os.path.dirname(p))}" for p in input),
    log:
        f"{LOGS}/{{task}}/{{ds}}/calibrate.{{split}}.{{model}}.log",
    benchmark:
        f"{BENCH}/{{task}}/{{ds}}/calibrate.{{split}}.{{model}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{params.tf} {wildcards.task} calibrate {params.models} -o {output.calibration:q} --plot {output.plot:q} > {log:q} 2>&1"


rule pair_table:
    input:
        lambda wc: PLAN.metrics_files(wc.task, wc.ds),
    output:
        table=f"{RESULTS}/{{task}}/{{ds}}/metrics.tsv",
        summary=f"{RESULTS}/{{task}}/{{ds}}/metrics.summary.tsv",
        plot=f"{RESULTS}/{{task}}/{{ds}}/metrics.png",
    params:
        tf=TF,
    log:
        f"{LOGS}/{{task}}/{{ds}}/table.log",
    benchmark:
        f"{BENCH}/{{task}}/{{ds}}/table.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "{params.tf} {wildcards.task} table {input:q} -o {output.table:q} --plot {output.plot:q} > {log:q} 2>&1"


rule pretrain:
    input:
        # ancient: a corpus is a large, usually shared, read-only file whose copy may be laid out again with a
        # fresh mtime (a scratch copy, an rsync without -t); that alone must not redo an hour's pretraining. A
        # different file (library:) redoes it; after editing the file in place: --forcerun pretrain. The
        # bundle's card records the corpus's sha256.
        lambda wc: ancient(expand_path(PLAN.pretrain[wc.name]["library"])),
    output:
        weights=protected(f"{RESULTS}/pretrain/{{name}}/model.safetensors"),
        meta=f"{RESULTS}/pretrain/{{name}}/model.json",
        card=f"{RESULTS}/pretrain/{{name}}/card.md",
        plot=f"{RESULTS}/pretrain/{{name}}/loss.png",
    params:
        tf=TF,
        args=lambda wc: PLAN.pretrain_args(wc.name),
        outdir=lambda wc, output: os.path.dirname(output.meta),
    log:
        f"{LOGS}/pretrain/{{name}}.log",
    benchmark:
        f"{BENCH}/pretrain/{{name}}.tsv"
    threads: lambda wc: int(PLAN.pretrain[wc.name]["threads"])
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=16000,
        runtime=lambda wc: int(PLAN.pretrain[wc.name]["max_minutes"]) + 30,
    shell:
        "{params.tf} pretrain {input:q} -o {params.outdir:q} {params.args} > {log:q} 2>&1"
