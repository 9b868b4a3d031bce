"""The Flower apps: ``server_app`` (the coordinator, :mod:`.server`) and ``client_app`` (a site).

A site's SuperNode is started with its own paths in ``--node-config`` (``site``: its number, ``datalist``,
``workdir``, optionally ``cache`` and ``threads``); they are read here, on the site, and never sent. What a
site sends back is its network's tensors (an ArrayRecord) and a MetricRecord of numbers: cases, epochs,
last training loss, seconds, energy and its site number.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

log = logging.getLogger("theraflow.imaging.federated.site")

client_app = ClientApp()
server_app = ServerApp()

NODE_KEYS = {"site", "datalist", "workdir", "cache", "threads"}


def _site_log(workdir: Path) -> logging.Handler:
    workdir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(workdir / "site.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("theraflow").addHandler(handler)
    logging.getLogger("theraflow").setLevel(logging.INFO)
    return handler


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    from theraflow.imaging.federated.local_training import train_round

    node = dict(context.node_config)
    unknown = set(node) - NODE_KEYS
    if unknown or not {"site", "datalist", "workdir"} <= set(node):
        raise ValueError(f"--node-config: expected site, datalist, workdir (and optionally cache, threads); "
                         f"got {sorted(node)}")
    workdir = Path(str(node["workdir"]))
    handler = _site_log(workdir)
    try:
        config = msg.content["config"]
        r = int(config["round"])
        state = msg.content["arrays"].to_torch_state_dict()
        log.info("round %d: received the global weights (%d tensors), lr %.2e, %d local epochs", r, len(state),
                 float(config["lr"]), int(config["local-epochs"]))
        new, metrics = train_round(str(node["datalist"]), workdir, state, json.loads(str(config["model"])),
                                   server_round=r, lr=float(config["lr"]), local_epochs=int(config["local-epochs"]),
                                   seed=int(config["seed"]), proximal_mu=float(config.get("proximal-mu", 0.0)),
                                   keep_optimizer_state=bool(int(config.get("keep-optimizer-state", 0))),
                                   cache_dir=str(node.get("cache") or workdir / "cache"),
                                   threads=int(node["threads"]) if node.get("threads") else None)
        metrics["site"] = int(node["site"])
        metrics["unit-weight"] = 1  # what a plan with differential privacy averages by: every site alike
        log.info("round %d: sending the new weights (%d tensors) and metrics %s", r, len(new), metrics)
        return Message(content=RecordDict({"arrays": ArrayRecord(new), "metrics": MetricRecord(metrics)}),
                       reply_to=msg)
    finally:
        logging.getLogger("theraflow").removeHandler(handler)
        handler.close()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    from theraflow.imaging.federated.server import read_plan, run

    run(grid, read_plan(str(context.run_config["plan"])))
