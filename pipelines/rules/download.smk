# Downloads of pair data sets, sha256-checked, a mirror directory first.


rule pair_download:
    output:
        "data/raw/{ds}/download.json",
    params:
        tf=TF,
        source=lambda wc: PLAN.downloads()[f"data/raw/{wc.ds}"][1]["source"],
        options=lambda wc: PLAN.download_args(PLAN.datasets[wc.ds], wc.ds),
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
        "{params.tf} download {params.source} --dest data/raw/{wildcards.ds} {params.options} > {log:q} 2>&1"
