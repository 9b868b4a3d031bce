"""The coordinator's side of a federated run: a Flower ServerApp over theraflow's plan.

The ServerApp reads a plan (``theraflow-federated/1``, written by :func:`theraflow.imaging.federated.local.plan`
or by hand; ``flwr run ... --run-config 'plan="/abs/plan.json"'``), starts the global network from the
model config and seed, and runs the plan's strategy (:data:`theraflow.registry.FED_STRATEGIES`) for its
rounds. Each round:

- every site gets the global weights, the model config, the round's learning rate (the config's schedule
  over rounds) and the number of local epochs;
- what comes back is checked before it is used: a reply must hold exactly the network's tensors (names and
  shapes) and a record of numbers, nothing else; anything more is refused and logged as a failure of that site;
  ``server.log`` and ``received.jsonl`` say what each site sent (tensor count, bytes, metrics);
- a site that does not answer within ``round_timeout`` seconds is left out of that round (Flower's timeout),
  with a log line, and the round goes on with the others (at least ``min_sites``);
- the averaged weights are measured on the coordinator's held-out cases (when the plan names them; no site
  holds them), written as a segmentation bundle (``model/``: ``theraflow seg infer`` reads it), and the
  round's row (Dice, seconds, the sites' energy) is added to ``history.tsv``; per-site rows to ``sites.tsv``.

A coordinator restarted with the same plan continues after the last finished round (``state.json``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from theraflow.io import InputError, write_json, write_table

log = logging.getLogger(__name__)

PLAN_FORMAT = "theraflow-federated/1"
PLAN_DEFAULTS = {"strategy": "fedavg", "strategy_params": {}, "rounds": 10, "local_epochs": 1,
                 "round_timeout": 3600.0, "min_sites": 2, "heldout": None, "cache": None,
                 "evaluate_site_models": False, "seed": 0, "dp": None, "keep_optimizer_state": False}
DP_KEYS = {"noise_multiplier", "clipping_norm", "delta"}


def read_plan(path: str | os.PathLike) -> dict:
    """A plan file, with defaults filled in and its keys checked."""
    path = Path(path)
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a federated plan ({exc})") from None
    if plan.get("format") != PLAN_FORMAT:
        raise InputError(f"{path}: unknown format {plan.get('format')!r} (expected {PLAN_FORMAT})")
    known = {*PLAN_DEFAULTS, "format", "name", "model", "out", "sites"}
    unknown = set(plan) - known
    if unknown or "model" not in plan or "out" not in plan:
        raise InputError(f"{path}: expected keys model, out and optionally {sorted(PLAN_DEFAULTS)}; "
                         f"unknown {sorted(unknown)}" if unknown else f"{path}: model and out are required")
    return {**PLAN_DEFAULTS, **plan}


def _digest(plan: dict) -> str:
    keep = {k: plan.get(k) for k in ("model", "strategy", "strategy_params", "local_epochs", "seed", "dp")}
    if plan.get("keep_optimizer_state"):  # only when set: a run planned before the option keeps its digest
        keep["keep_optimizer_state"] = True
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def round_lr(cfg: dict, server_round: int, rounds: int) -> float:
    """The model config's learning rate at a round: its schedule (cosine, poly, constant) over the rounds,
    warm-up as the share of rounds its epochs are of max_epochs."""
    from theraflow.training.schedules import epoch_factor

    t = cfg["train"]
    warmup = int(round(rounds * int(t["warmup_epochs"]) / max(1, int(t["max_epochs"]))))
    return float(t["lr"]) * float(epoch_factor(t["schedule"], warmup, rounds)(server_round - 1))


def describe_reply(content) -> dict:
    """What a site sent: each record's kind, and for tensors their count, values and bytes (the log's view)."""
    out = {}
    for name, rec in content.items():
        kind = type(rec).__name__
        if kind == "ArrayRecord":
            shapes = [tuple(a.shape) for a in rec.values()]
            out[name] = {"kind": kind, "tensors": len(shapes), "values": int(sum(math.prod(s) for s in shapes)),
                         "bytes": int(rec.count_bytes())}
        elif kind == "MetricRecord":
            out[name] = {"kind": kind, "metrics": {k: v for k, v in rec.items()}}
        else:
            out[name] = {"kind": kind, "keys": sorted(rec.keys()) if hasattr(rec, "keys") else None}
    return out


def check_reply(content, expected: dict[str, tuple]) -> str | None:
    """Why a reply is refused (None: it holds the network's tensors and numbers only)."""
    names = set(content.keys())
    if names != {"arrays", "metrics"}:
        return f"records {sorted(names)} (expected exactly arrays and metrics)"
    arrays, metrics = content["arrays"], content["metrics"]
    if type(arrays).__name__ != "ArrayRecord" or type(metrics).__name__ != "MetricRecord":
        return "arrays is not an ArrayRecord or metrics not a MetricRecord"
    got = {k: tuple(a.shape) for k, a in arrays.items()}
    if got != expected:
        extra, lost = sorted(set(got) - set(expected))[:3], sorted(set(expected) - set(got))[:3]
        wrong = [k for k in set(got) & set(expected) if got[k] != expected[k]][:3]
        return f"tensors that are not the network's (extra {extra}, missing {lost}, other shapes {wrong})"
    if not all(isinstance(v, (int, float)) for v in metrics.values()):
        return "metrics that are not numbers"
    if "num-examples" not in metrics:
        return "no num-examples metric"
    return None


def _strategy_class(base):
    """``base`` (a Flower strategy) with theraflow's round hooks."""

    class Recorded(base):
        def setup(self, run: _Run) -> None:
            self.run = run
            run.strategy = self

        def configure_train(self, server_round, arrays, config, grid):
            r = self.run.offset + server_round
            config["round"] = r
            config["lr"] = round_lr(self.run.cfg, r, self.run.rounds)
            config["local-epochs"] = int(self.run.plan["local_epochs"])
            config["seed"] = int(self.run.plan["seed"])
            config["keep-optimizer-state"] = int(bool(self.run.plan["keep_optimizer_state"]))
            config["model"] = json.dumps(self.run.cfg)
            self.run.round_started = time.perf_counter()
            log.info("round %d/%d: sending the global weights to the sites (lr %.2e, %d local epochs)", r,
                     self.run.rounds, config["lr"], config["local-epochs"])
            messages = list(super().configure_train(server_round, arrays, config, grid))
            self.run.sent = [m.metadata.dst_node_id for m in messages]
            return messages

        def aggregate_train(self, server_round, replies):
            replies = list(replies)
            answered = {m.metadata.src_node_id for m in replies if not m.has_error()}
            for node in self.run.sent:
                if node not in answered:
                    log.warning("round %d: node %d did not answer (within %.0f s, or it stopped): left out of this "
                                "round", self.run.offset + server_round, node, float(self.run.plan["round_timeout"]))
            accepted = []
            for msg in replies:
                node = msg.metadata.src_node_id
                if msg.has_error():  # from Flower on a site's behalf (a node that stopped sending heartbeats)
                    log.warning("round %d: a site's reply is an error: %s", self.run.offset + server_round,
                                msg.error.reason)
                    continue
                why = check_reply(msg.content, self.run.expected)
                self.run.received(server_round, node, msg.content, why)
                if why is None:
                    accepted.append(msg)
            return super().aggregate_train(server_round, accepted)

    return Recorded


def fedavg(**params):
    """Flower's FedAvg class and its parameters (the run adds theraflow's round hooks)."""
    from flwr.serverapp.strategy import FedAvg

    return FedAvg, params


def fedprox(**params):
    from flwr.serverapp.strategy import FedProx

    return FedProx, params


def build_strategy(plan: dict, sites: int, run_state: _Run | None = None):
    """The plan's strategy with theraflow's round hooks; with ``dp``, wrapped in Flower's central differential
    privacy (each site's update clipped to ``clipping_norm``, Gaussian noise of ``noise_multiplier`` × the norm
    added to their average, every site weighted alike) with its RDP accountant (ε at ``delta``; a site is the
    unit of privacy: ε bounds what the model tells about whether one site took part)."""
    from theraflow.registry import FED_STRATEGIES

    allowed = FED_STRATEGIES.info(plan["strategy"]).get("params", {})
    unknown = set(plan["strategy_params"]) - set(allowed)
    if unknown:
        raise InputError(f"strategy {plan['strategy']}: unknown strategy_params {sorted(unknown)} "
                         f"(it takes {sorted(allowed) or 'none'})")
    base, params = FED_STRATEGIES.get(plan["strategy"])(**{**allowed, **plan["strategy_params"]})
    common = {"fraction_train": 1.0, "fraction_evaluate": 0.0, "min_train_nodes": int(plan["min_sites"]),
              "min_available_nodes": int(plan["min_sites"])}
    dp = plan.get("dp")
    if not dp:
        strategy = _strategy_class(base)(**common, **params)
    else:
        from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping
        from flwr.supercore.privacy_accounting import NeighboringRelation, PrivacyConfig, SamplingMethod
        from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

        if set(dp) - DP_KEYS or not {"noise_multiplier", "clipping_norm"} <= set(dp):
            raise InputError(f"dp: expected noise_multiplier, clipping_norm and optionally delta; got {sorted(dp)}")
        if int(plan["min_sites"]) != sites:
            raise InputError("dp: every site takes part in every round (min_sites = sites), as the accountant assumes")
        inner = base(**common, weighted_by_key="unit-weight", **params)
        accountant = RdpAccountant(PrivacyConfig(target_delta=float(dp.get("delta", 1e-5)), population_size=sites,
                                                 neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
                                                 sampling_method=SamplingMethod.NO_AMPLIFICATION))
        if run_state is not None and run_state.offset:  # a restarted coordinator: the rounds already released count
            from flwr.supercore.privacy_accounting import GaussianPrivacyEvent

            accountant.compose(GaussianPrivacyEvent(noise_multiplier=float(dp["noise_multiplier"]), sample_size=sites,
                                                    population_size=sites), count=int(run_state.offset))
        strategy = _strategy_class(DifferentialPrivacyServerSideFixedClipping)(
            inner, float(dp["noise_multiplier"]), float(dp["clipping_norm"]), sites, accountant=accountant)
    if run_state is not None:
        strategy.setup(run_state)
    return strategy


class _Run:
    """A federated run's state on the coordinator: plan, network, outputs."""

    def __init__(self, plan: dict, sites_expected: int) -> None:
        from theraflow.imaging.modelconfig import resolve
        from theraflow.nn.segmentation import build_seg_net

        self.plan = plan
        self.out = Path(plan["out"])
        self.out.mkdir(parents=True, exist_ok=True)
        self.cfg = resolve(plan["model"])
        torch.manual_seed(int(plan["seed"]))
        self.net = build_seg_net(self.cfg["network"], out_channels=len(self.cfg["labels"]))
        self.expected = {k: tuple(v.shape) for k, v in self.net.state_dict().items()}
        self.rounds = int(plan["rounds"])
        self.sites_expected = sites_expected
        self.offset = 0
        self.history: list[dict] = []
        self.site_rows: list[dict] = []
        self.round_started = time.perf_counter()
        self.sent: list[int] = []
        self.strategy = None
        self.digest = _digest(plan)
        state = self.out / "state.json"
        if state.exists():
            saved = json.loads(state.read_text())
            if saved.get("digest") == self.digest and (self.out / "model" / "model.safetensors").exists():
                from safetensors.torch import load_file

                self.net.load_state_dict(load_file(str(self.out / "model" / "model.safetensors")))
                self.offset = int(saved["rounds_done"])
                self.history = _rows(self.out / "history.tsv")
                self.site_rows = _rows(self.out / "sites.tsv")
                log.info("continuing after round %d (%s)", self.offset, state)
            else:
                log.info("%s: another plan's state; starting over", state)

    def received(self, server_round: int, node: int, content, refused: str | None) -> None:
        r = self.offset + server_round
        seen = describe_reply(content) if content is not None else {}
        entry = {"round": r, "node": node, "records": seen, "refused": refused}
        with open(self.out / "received.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")
        if refused:
            log.warning("round %d: node %d: reply refused: %s", r, node, refused)
            return
        m = seen["metrics"]["metrics"]
        a = seen["arrays"]
        log.info("round %d: received from node %d (site %s): %d tensors (%.1f MB of weights) and metrics %s", r,
                 node, int(m.get("site", -1)), a["tensors"], a["bytes"] / 1e6,
                 {k: v for k, v in m.items() if k != "site"})
        row = {"round": r, "node": node, "site": int(m.get("site", -1)), **{k: v for k, v in m.items() if k != "site"}}
        if self.plan["evaluate_site_models"] and self.plan["heldout"]:
            net = self._net_from(content["arrays"].to_torch_state_dict())
            row.update({f"site_model_{k}": v for k, v in self.measure(net).items()})
        self.site_rows.append(row)

    def _net_from(self, state: dict):
        from theraflow.nn.segmentation import build_seg_net

        net = build_seg_net(self.cfg["network"], out_channels=len(self.cfg["labels"]))
        net.load_state_dict(state)
        return net

    def measure(self, net) -> dict:
        from theraflow.imaging.federated.local_training import evaluate

        cache = self.plan["cache"] or str(self.out / "cache")
        return evaluate(net, self.cfg, self.plan["heldout"], cache)

    def evaluate_fn(self, server_round: int, arrays) -> Any:
        """Flower's centralized evaluation hook: after each round (and once before the first)."""
        from flwr.app import MetricRecord

        from theraflow.imaging.bundle import save_bundle

        r = self.offset + server_round
        if server_round == 0 and self.offset:
            return None
        net = self._net_from(arrays.to_torch_state_dict())
        scores = self.measure(net) if self.plan["heldout"] else {}
        seconds = time.perf_counter() - self.round_started if server_round else 0.0
        this = [row for row in self.site_rows if row["round"] == r]
        wh = [row["energy_wh"] for row in this if row.get("energy_wh", -1) >= 0]
        row = {"round": r, **scores, "sites_answered": len(this) if server_round else 0,
               "sites": self.sites_expected, "seconds": round(seconds, 2),
               "energy_wh": round(sum(wh), 4) if wh else None,
               "train_loss": round(sum(x["train_loss"] * x["num-examples"] for x in this)
                                   / max(1, sum(x["num-examples"] for x in this)), 5) if this else None}
        spent = self.strategy.privacy_spent() if hasattr(self.strategy, "privacy_spent") and server_round else None
        if spent is not None:
            row.update({"epsilon": round(float(spent.epsilon), 4), "delta": float(spent.delta)})
        self.history.append(row)
        record = {"federated": {"strategy": self.plan["strategy"], "strategy_params": self.plan["strategy_params"],
                                "rounds_done": r, "local_epochs": self.plan["local_epochs"]},
                  "last_val_dice": scores}
        save_bundle(self.out / "model", net, self.cfg, record)
        write_table(pd.DataFrame(self.history), self.out / "history.tsv")
        if self.site_rows:
            write_table(pd.DataFrame(self.site_rows), self.out / "sites.tsv")
        write_json(self.out / "state.json", {"digest": self.digest, "rounds_done": r})
        if server_round:
            log.info("round %d/%d done in %.1f s: %d of %d sites answered; held-out %s", r, self.rounds, seconds,
                     len(this), self.sites_expected, scores or "(no held-out cases in the plan)")
        self.round_started = time.perf_counter()
        return MetricRecord({k: float(v) for k, v in scores.items()}) if scores else None


def _rows(path: Path) -> list[dict]:
    return pd.read_csv(path, sep="\t").to_dict("records") if path.exists() else []


def run(grid, plan: dict) -> dict:
    """Run the plan's rounds on a Flower grid; return the summary (also ``summary.json``)."""
    from flwr.app import ArrayRecord

    sites = int(plan.get("sites") or plan["min_sites"])
    run_state = _Run(plan, sites)
    left = run_state.rounds - run_state.offset
    handler = logging.FileHandler(run_state.out / "server.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("theraflow").addHandler(handler)
    logging.getLogger("theraflow").setLevel(logging.INFO)
    try:
        if left > 0:
            strategy = build_strategy(plan, sites, run_state)
            log.info("federated run %s: %s, %d rounds of %d local epochs, %d sites expected (at least %d a round)",
                     plan.get("name", ""), plan["strategy"], run_state.rounds, plan["local_epochs"], sites,
                     plan["min_sites"])
            strategy.start(grid=grid, initial_arrays=ArrayRecord(run_state.net.state_dict()), num_rounds=left,
                           timeout=float(plan["round_timeout"]), evaluate_fn=run_state.evaluate_fn)
        summary = {"strategy": plan["strategy"], "rounds": run_state.rounds, "history": run_state.history,
                   "final": run_state.history[-1] if run_state.history else None}
        write_json(run_state.out / "summary.json", summary)
        return summary
    finally:
        logging.getLogger("theraflow").removeHandler(handler)
        handler.close()
