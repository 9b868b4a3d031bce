# Molecules: standardize (sharded) → featurize into the feature store (sharded) → gather.


rule chem_standardize:
    input:
        chem_inputs,
    output:
        table=f"{RESULTS}/chem/{{lib}}/shards/{{shard}}.standardized.parquet",
        rejects=f"{RESULTS}/chem/{{lib}}/shards/{{shard}}.standardize-rejects.parquet",
        stats=f"{RESULTS}/chem/{{lib}}/shards/{{shard}}.standardize.json",
    params:
        tf=TF,
        path=lambda wc: PLAN.molecule_path(wc.lib),
        shard=lambda wc: f"{int(wc.shard)}/{PLAN.n_shards(wc.lib)}",
        read=lambda wc: PLAN.read_args(wc.lib),
        options=PLAN.standardize_args(),
    log:
        f"{LOGS}/chem/{{lib}}/standardize.{{shard}}.log",
    benchmark:
        f"{BENCH}/chem/{{lib}}/standardize.{{shard}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "{params.tf} standardize {params.path:q} --shard {params.shard} {params.read} {params.options}"
        " -o {output.table:q} --rejects {output.rejects:q} --stats {output.stats:q} > {log:q} 2>&1"


rule chem_featurize:
    input:
        rules.chem_standardize.output.table,
    output:
        index=f"{RESULTS}/chem/{{lib}}/shards/{{shard}}.features.parquet",
        rejects=f"{RESULTS}/chem/{{lib}}/shards/{{shard}}.featurize-rejects.parquet",
        stats=f"{RESULTS}/chem/{{lib}}/shards/{{shard}}.featurize.json",
    params:
        tf=TF,
        featurizer=PLAN.featurize_args(),
        store=STORE,
    log:
        f"{LOGS}/chem/{{lib}}/featurize.{{shard}}.log",
    benchmark:
        f"{BENCH}/chem/{{lib}}/featurize.{{shard}}.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{params.tf} featurize {input:q} {params.featurizer} --store {params.store:q}"
        " --threads {threads} -o {output.index:q} --rejects {output.rejects:q} --stats {output.stats:q}"
        " > {log:q} 2>&1"


rule chem_gather:
    input:
        standardized=molecule_shard_files("standardized.parquet"),
        features=molecule_shard_files("features.parquet"),
        rejects=molecule_shard_files("standardize-rejects.parquet", "featurize-rejects.parquet"),
        stats=molecule_shard_files("standardize.json", "featurize.json"),
    output:
        molecules=f"{RESULTS}/chem/{{lib}}/molecules.parquet",
        rejects=f"{RESULTS}/chem/{{lib}}/rejects.tsv",
        summary=f"{RESULTS}/chem/{{lib}}/summary.json",
    params:
        tf=TF,
    log:
        f"{LOGS}/chem/{{lib}}/gather.log",
    benchmark:
        f"{BENCH}/chem/{{lib}}/gather.tsv"
    threads: 1
    conda:
        "../envs/theraflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{params.tf} gather --name {wildcards.lib} --standardized {input.standardized:q}"
        " --features {input.features:q} --rejects {input.rejects:q} --stats {input.stats:q}"
        " --molecules {output.molecules:q} --rejects-out {output.rejects:q} --summary {output.summary:q}"
        " --print > {log:q} 2>&1"
