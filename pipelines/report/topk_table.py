# Report glue for `snakemake --report`: the top-k TSV as a small HTML table.
import pandas as pd

from theraflow.report.html import HtmlReport

topk = pd.read_csv(snakemake.input[0], sep="\t", dtype={"id": str})  # noqa: F821
rep = HtmlReport(f"Top-k: {snakemake.wildcards.lib}")  # noqa: F821
rep.add_section("Top-ranked molecules", rep.table(topk))
rep.write(snakemake.output[0])  # noqa: F821
