# Downloads of pair data sets (DTI and DDI), sha256-checked, a mirror directory first.


rule pair_download:
    output:
        "data/raw/{ds}/download.json",
    params:
        source=lambda wc: task_dataset(task_of(wc.ds), wc.ds)["download"]["source"],
        options=lambda wc: download_args(task_of(wc.ds), wc.ds),
    log:
        f"{LOGS}/data/{{ds}}/download.log",
    benchmark:
        f"{BENCH}/data/{{ds}}/download.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "theraflow --no-progress download {params.source} --dest data/raw/{wildcards.ds} {params.options}"
        " > {log:q} 2>&1"
