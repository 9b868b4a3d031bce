# Federated segmentation: an imaging dataset's datalist → sites that differ (sites.json) → a federation of
# separate processes on this machine (a Flower SuperLink, one SuperNode per site, the plan submitted) → report.
# Every rule calls `theraflow seg federate ...`; the functions live in theraflow.imaging.federated.


rule fed_sites:
    input:
        datalist=lambda wc: f"{RESULTS}/imaging/{PLAN.federated[wc.name]['dataset']}/datalist.tsv",
    output:
        plan=f"{RESULTS}/federated/{{name}}/sites/sites.json",
    params:
        tf=TF,
        out=lambda wc: f"{RESULTS}/federated/{wc.name}/sites",
        args=lambda wc: PLAN.federated_sites_args(wc.name),
    log:
        f"{LOGS}/federated/{{name}}/sites.log",
    benchmark:
        f"{BENCH}/federated/{{name}}/sites.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{params.tf} seg federate sites {input.datalist:q} -o {params.out:q} {params.args} > {log:q} 2>&1"


rule fed_run:
    input:
        sites=rules.fed_sites.output.plan,
        model_config=lambda wc: PLAN.imaging_model_config(PLAN.federated[wc.name]["dataset"]),
    output:
        summary=f"{RESULTS}/federated/{{name}}/server/summary.json",
        history=f"{RESULTS}/federated/{{name}}/server/history.tsv",
        bundle=f"{RESULTS}/federated/{{name}}/server/model/model.json",
        weights=protected(f"{RESULTS}/federated/{{name}}/server/model/model.safetensors"),
    params:
        tf=TF,
        out=lambda wc: f"{RESULTS}/federated/{wc.name}",
        args=lambda wc: PLAN.federated_args(wc.name),
    log:
        f"{LOGS}/federated/{{name}}/run.log",
    benchmark:
        f"{BENCH}/federated/{{name}}/run.tsv"
    # every site's process and the coordinator's run on this machine: one thread each, sites x threads in all
    threads: lambda wc: PLAN.federated_sites(wc.name) * int(PLAN.federated[wc.name]["threads"])
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=lambda wc: 3000 * (PLAN.federated_sites(wc.name) + 1),
        runtime=lambda wc: 60 + int(PLAN.federated[wc.name]["rounds"]) * 30,
    shell:
        "{params.tf} seg federate local {input.sites:q} -o {params.out:q} --model-config {input.model_config:q}"
        " {params.args} > {log:q} 2>&1"


rule fed_report:
    input:
        sites=rules.fed_sites.output.plan,
        history=rules.fed_run.output.history,
    output:
        page=f"{RESULTS}/federated/{{name}}/report.html",
    params:
        tf=TF,
        run=lambda wc: f"{RESULTS}/federated/{wc.name}",
    log:
        f"{LOGS}/federated/{{name}}/report.log",
    benchmark:
        f"{BENCH}/federated/{{name}}/report.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{params.tf} seg federate report {params.run:q} -o {output.page:q} --sites {input.sites:q} > {log:q} 2>&1"
