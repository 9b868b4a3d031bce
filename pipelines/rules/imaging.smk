# Imaging: (synthetic data | MSD download | a folder pair | a CSV) → datalist → preprocessing cache
# → train → infer (masks on each scan's grid) → measure → overlays → report.
# Every rule calls `theraflow seg ...`; the stage functions live in theraflow.imaging.


rule seg_synth:
    output:
        images=directory(f"{IMG_DATA}/{{ds}}/images"),
        labels=directory(f"{IMG_DATA}/{{ds}}/labels"),
        stats=f"{IMG_DATA}/{{ds}}/synth.json",
    params:
        tf=TF,
        root=lambda wc: f"{IMG_DATA}/{wc.ds}",
        options=lambda wc: PLAN.synth_args(wc.ds),
    log:
        f"{LOGS}/imaging/{{ds}}/synth.log",
    benchmark:
        f"{BENCH}/imaging/{{ds}}/synth.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{params.tf} seg synth {params.root:q} {params.options} --stats {output.stats:q} > {log:q} 2>&1"


rule seg_download:
    output:
        images=directory(f"{IMG_DATA}/{{ds}}/msd/images"),
        labels=directory(f"{IMG_DATA}/{{ds}}/msd/labels"),
        stats=f"{IMG_DATA}/{{ds}}/msd/download.json",
    params:
        tf=TF,
        root=lambda wc: f"{IMG_DATA}/{wc.ds}/msd",
        url=lambda wc: PLAN.imaging_set(wc.ds)["download"]["url"],
        checksum=lambda wc: PLAN.imaging_set(wc.ds)["download"]["checksum"] or "none",
    log:
        f"{LOGS}/imaging/{{ds}}/download.log",
    benchmark:
        f"{BENCH}/imaging/{{ds}}/download.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=2000,
        runtime=120,
    shell:
        "{params.tf} seg download {params.root:q} --url {params.url:q} --checksum {params.checksum:q}"
        " --stats {output.stats:q} > {log:q} 2>&1"


rule seg_datalist:
    input:
        unpack(lambda wc: PLAN.imaging_inputs(wc.ds)),
    output:
        datalist=f"{RESULTS}/imaging/{{ds}}/datalist.tsv",
        rejects=f"{RESULTS}/imaging/{{ds}}/datalist_rejects.tsv",
        stats=f"{RESULTS}/imaging/{{ds}}/datalist.json",
    params:
        tf=TF,
        args=lambda wc: PLAN.datalist_args(wc.ds),
    log:
        f"{LOGS}/imaging/{{ds}}/datalist.log",
    benchmark:
        f"{BENCH}/imaging/{{ds}}/datalist.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{params.tf} seg datalist {params.args} -o {output.datalist:q} --rejects {output.rejects:q}"
        " --stats {output.stats:q} > {log:q} 2>&1"


rule seg_preprocess:
    input:
        datalist=rules.seg_datalist.output.datalist,
        model_config=lambda wc: PLAN.imaging_model_config(wc.ds),
    output:
        table=f"{RESULTS}/imaging/{{ds}}/preprocess.tsv",
        stats=f"{RESULTS}/imaging/{{ds}}/preprocess.json",
    params:
        tf=TF,
        cache=IMG_CACHE,
        overrides=lambda wc: PLAN.overrides_args(wc.ds),
    log:
        f"{LOGS}/imaging/{{ds}}/preprocess.log",
    benchmark:
        f"{BENCH}/imaging/{{ds}}/preprocess.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{params.tf} seg preprocess {input.datalist:q} --model-config {input.model_config:q}"
        " {params.overrides} --cache {params.cache:q} --threads {threads} -o {output.table:q}"
        " --stats {output.stats:q} > {log:q} 2>&1"


rule seg_train:
    input:
        datalist=rules.seg_datalist.output.datalist,
        preprocessed=rules.seg_preprocess.output.stats,
        model_config=lambda wc: PLAN.imaging_model_config(wc.ds),
    output:
        bundle=f"{RESULTS}/imaging/{{ds}}/model/model.json",
        weights=protected(f"{RESULTS}/imaging/{{ds}}/model/model.safetensors"),
        history=f"{RESULTS}/imaging/{{ds}}/model/history.tsv",
        split=f"{RESULTS}/imaging/{{ds}}/model/split.tsv",
    params:
        tf=TF,
        out=lambda wc: f"{RESULTS}/imaging/{wc.ds}/model",
        cache=IMG_CACHE,
        overrides=lambda wc: PLAN.overrides_args(wc.ds),
        split=lambda wc: PLAN.imaging_split_args(wc.ds),
    log:
        f"{LOGS}/imaging/{{ds}}/train.log",
    benchmark:
        f"{BENCH}/imaging/{{ds}}/train.tsv"
    threads: IMG_THREADS
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=16000,
        runtime=600,
        gpu=IMG_GPUS,
    shell:
        "{params.tf} seg train {input.datalist:q} --model-config {input.model_config:q}"
        " {params.overrides} {params.split} --cache {params.cache:q} --threads {threads}"
        " -o {params.out:q} > {log:q} 2>&1"


rule seg_infer:
    input:
        datalist=rules.seg_datalist.output.datalist,
        bundle=rules.seg_train.output.bundle,
        weights=rules.seg_train.output.weights,
    output:
        masks=directory(f"{RESULTS}/imaging/{{ds}}/masks"),
        predictions=f"{RESULTS}/imaging/{{ds}}/predictions.tsv",
        rejects=f"{RESULTS}/imaging/{{ds}}/infer_rejects.tsv",
        volumes=f"{RESULTS}/imaging/{{ds}}/volumes.tsv",
    params:
        tf=TF,
        model=lambda wc, input: os.path.dirname(input.bundle),
    log:
        f"{LOGS}/imaging/{{ds}}/infer.log",
    benchmark:
        f"{BENCH}/imaging/{{ds}}/infer.tsv"
    threads: IMG_THREADS
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=IMG_GPUS,
    shell:
        "{params.tf} seg infer {input.datalist:q} --model {params.model:q} -o {output.masks:q}"
        " --predictions {output.predictions:q} --rejects {output.rejects:q} --measurements {output.volumes:q}"
        " --threads {threads} > {log:q} 2>&1"


rule seg_measure:
    input:
        predictions=rules.seg_infer.output.predictions,
        datalist=rules.seg_datalist.output.datalist,
        split=rules.seg_train.output.split,
        bundle=rules.seg_train.output.bundle,
    output:
        table=report(
            f"{RESULTS}/imaging/{{ds}}/measurements.tsv",
            caption="../report/imaging_measurements.rst",
            category="Imaging",
            subcategory="{ds}",
        ),
        summary=f"{RESULTS}/imaging/{{ds}}/measurements.json",
    params:
        tf=TF,
        model=lambda wc, input: os.path.dirname(input.bundle),
    log:
        f"{LOGS}/imaging/{{ds}}/measure.log",
    benchmark:
        f"{BENCH}/imaging/{{ds}}/measure.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{params.tf} seg measure {input.predictions:q} --datalist {input.datalist:q}"
        " --split {input.split:q} --model {params.model:q} -o {output.table:q} --summary {output.summary:q}"
        " > {log:q} 2>&1"


rule seg_overlay:
    input:
        predictions=rules.seg_infer.output.predictions,
        datalist=rules.seg_datalist.output.datalist,
        measurements=rules.seg_measure.output.table,
        bundle=rules.seg_train.output.bundle,
    output:
        pngs=directory(f"{RESULTS}/imaging/{{ds}}/overlays"),
        index=f"{RESULTS}/imaging/{{ds}}/overlays.tsv",
    params:
        tf=TF,
        model=lambda wc, input: os.path.dirname(input.bundle),
    log:
        f"{LOGS}/imaging/{{ds}}/overlay.log",
    benchmark:
        f"{BENCH}/imaging/{{ds}}/overlay.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{params.tf} seg overlay {input.predictions:q} -o {output.pngs:q} --datalist {input.datalist:q}"
        " --measurements {input.measurements:q} --model {params.model:q} --index {output.index:q} > {log:q} 2>&1"


rule seg_report:
    input:
        measurements=rules.seg_measure.output.table,
        overlays=rules.seg_overlay.output.index,
        history=rules.seg_train.output.history,
        bundle=rules.seg_train.output.bundle,
        rejects=[rules.seg_datalist.output.rejects, rules.seg_infer.output.rejects],
    output:
        html=report(
            f"{RESULTS}/imaging/{{ds}}/report.html",
            caption="../report/imaging_report.rst",
            category="Imaging",
            subcategory="{ds}",
        ),
        figures=directory(f"{RESULTS}/imaging/{{ds}}/figures"),
        summary=f"{RESULTS}/imaging/{{ds}}/report.json",
    params:
        tf=TF,
        model=lambda wc, input: os.path.dirname(input.bundle),
        title=lambda wc: f"theraflow segmentation report: {wc.ds}",
        bench=lambda wc: f"{BENCH}/imaging/{wc.ds}",
    log:
        f"{LOGS}/imaging/{{ds}}/report.log",
    benchmark:
        f"{BENCH}/imaging/{{ds}}/report.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{params.tf} seg report {input.measurements:q} -o {output.html:q} --model {params.model:q}"
        " --history {input.history:q} --rejects {input.rejects:q} --overlays {input.overlays:q}"
        " --figures {output.figures:q} --summary {output.summary:q} --title {params.title:q}"
        " --benchmarks {params.bench:q} > {log:q} 2>&1"
