"""theraflow seg federate: train a segmentation model across sites that keep their scans (Flower).

  sites   make sites that differ from one labelled datalist (benchmarks, tests, a dry run)
  plan    write the coordinator's plan (model config, strategy, rounds, local epochs, held-out cases)
  local   run a whole federation on this machine: a SuperLink, one SuperNode per site, the plan submitted
  site    start this site's SuperNode (its datalist and folders stay here) and connect to the coordinator
  report  the run's HTML report (Dice per round and site, time, energy, what the coordinator received)
  submit  submit a plan to a running SuperLink (the coordinator, after `flower-superlink`)

Only model weights and numbers (cases, epochs, loss, seconds, energy) leave a site; the coordinator's
server.log and received.jsonl say what each site sent.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

log = logging.getLogger("theraflow.seg.federate")


def _site_spec(text: str) -> dict:
    """``SHARE[,scale=S][,gamma=G][,noise=N]``."""
    parts = text.split(",")
    try:
        out = {"share": float(parts[0])}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            if key not in ("scale", "gamma", "noise"):
                raise ValueError(key)
            out[key] = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--site expects SHARE[,scale=S][,gamma=G][,noise=N], got {text!r}") from None
    return out


def _plan_options(q: argparse.ArgumentParser) -> None:
    from theraflow.registry import FED_STRATEGIES

    q.add_argument("--model-config", required=True, help="model config YAML or models/<name>/ folder")
    q.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides",
                   help="override a model-config key, dotted (train.lr=1e-3); repeatable")
    described = "; ".join(f"{n}: {FED_STRATEGIES.info(n).get('description', '')}" for n in FED_STRATEGIES.choices())
    q.add_argument("--strategy", choices=FED_STRATEGIES.choices(), default="fedavg", help=described)
    q.add_argument("--proximal-mu", type=float, help="FedProx's mu (default 0.01)")
    q.add_argument("--rounds", type=int, default=10)
    q.add_argument("--local-epochs", type=int, default=1, help="epochs over its own cases each site trains a round")
    q.add_argument("--round-timeout", type=float, default=3600.0,
                   help="seconds a round waits for a site before leaving it out (default 3600)")
    q.add_argument("--min-sites", type=int, help="sites a round needs (default: all)")
    q.add_argument("--heldout", help="the coordinator's labelled datalist to measure each round on (no site holds it)")
    q.add_argument("--evaluate-site-models", action="store_true",
                   help="also measure each site's returned weights on the held-out cases (per-site Dice per round)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--keep-optimizer-state", action="store_true",
                   help="each site's optimizer (AdamW's moments) goes on across rounds instead of starting afresh; "
                        "it stays on the site")
    q.add_argument("--dp-noise-multiplier", type=float,
                   help="differential privacy (Flower's central DP, fixed clipping): Gaussian noise of this many "
                        "clipping norms on the average of the sites' clipped updates; ε is reported per round")
    q.add_argument("--dp-clipping-norm", type=float, default=1.0, help="the clipping norm of each site's update")
    q.add_argument("--dp-delta", type=float, default=1e-5, help="δ of the reported (ε, δ)")


def register(sub) -> None:
    p = sub.add_parser("federate", help="federated training across sites that keep their scans (Flower)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="federate_command", metavar="STEP", required=True)

    q = s.add_parser("sites", help="make sites that differ (unequal sizes, per-site acquisition) from a datalist")
    q.add_argument("datalist", help="a labelled datalist (theraflow seg datalist)")
    q.add_argument("-o", "--output", required=True, help="folder for site_<k>/, heldout.tsv and sites.json")
    q.add_argument("--site", action="append", type=_site_spec, metavar="SHARE[,scale=S,gamma=G,noise=N]",
                   help="one site (repeat; default: four sites, 40/30/20/10 %% of the cases, see sites.py)")
    q.add_argument("--val-count", type=int, help="held-out cases (the last N by id; default 20 %%)")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=run_sites)

    q = s.add_parser("plan", help="write the coordinator's plan.json")
    q.add_argument("-o", "--output", required=True, help="run folder (plan.json; the coordinator writes server/)")
    q.add_argument("--sites", type=int, required=True, help="how many sites take part")
    _plan_options(q)
    q.set_defaults(func=run_plan)

    q = s.add_parser("local", help="run a federation on this machine (separate processes over localhost)")
    q.add_argument("sites", help="sites.json of `federate sites` (or its folder)")
    q.add_argument("-o", "--output", required=True, help="run folder (plan.json, server/, site_<k>/, logs/)")
    q.add_argument("--threads", type=int, default=1, help="torch threads per site (default 1)")
    q.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait for the whole run")
    _plan_options(q)
    q.set_defaults(func=run_local)

    q = s.add_parser("site", help="start this site's SuperNode and connect it to the coordinator's SuperLink")
    q.add_argument("--superlink", required=True, help="the coordinator's SuperLink, HOST:PORT")
    q.add_argument("--site", type=int, required=True, help="this site's number (0, 1, ...)")
    q.add_argument("--datalist", required=True, help="this site's labelled datalist (stays here)")
    q.add_argument("--workdir", required=True, help="this site's folder for checkpoints and its log")
    q.add_argument("--cache", help="preprocessing cache (default: WORKDIR/cache)")
    q.add_argument("--threads", type=int)
    q.add_argument("--root-certificates", help="the coordinator's CA certificate (PEM) for TLS")
    q.add_argument("--insecure", action="store_true", help="no TLS (a closed network, or tests)")
    q.add_argument("--port", type=int, default=9094, help="this node's local runtime port (default 9094)")
    q.set_defaults(func=run_site)

    q = s.add_parser("report", help="HTML report of a run: Dice per round, per site, time and energy, what was received")
    q.add_argument("run", help="the run folder (plan.json, server/)")
    q.add_argument("-o", "--output", help="the page (default RUN/report.html)")
    q.add_argument("--sites", help="sites.json of `federate sites` (case counts and acquisitions in the report)")
    q.set_defaults(func=run_report)

    q = s.add_parser("submit", help="submit a plan to the coordinator's running SuperLink and follow it")
    q.add_argument("plan", help="plan.json of `federate plan`")
    q.add_argument("--superlink", required=True, help="HOST:PORT of the SuperLink")
    q.add_argument("--root-certificates", help="CA certificate (PEM) for TLS")
    q.add_argument("--insecure", action="store_true")
    q.set_defaults(func=run_submit)


def _plan_from(args, out: Path, sites: int, heldout: str | None) -> Path:
    from theraflow.cli.common import parse_params
    from theraflow.imaging.federated.local import plan
    from theraflow.imaging.modelconfig import load_model_config

    cfg = load_model_config(args.model_config, parse_params(args.overrides))
    params = {"proximal_mu": args.proximal_mu} if args.proximal_mu is not None else {}
    dp = ({"noise_multiplier": args.dp_noise_multiplier, "clipping_norm": args.dp_clipping_norm, "delta": args.dp_delta}
          if args.dp_noise_multiplier is not None else None)
    return plan(out, cfg, sites=sites, heldout=heldout, name=out.name, strategy=args.strategy, strategy_params=params,
                rounds=args.rounds, local_epochs=args.local_epochs, round_timeout=args.round_timeout,
                min_sites=args.min_sites or sites, evaluate_site_models=args.evaluate_site_models, seed=args.seed,
                keep_optimizer_state=args.keep_optimizer_state, dp=dp)


def run_sites(args) -> int:
    from theraflow.imaging.federated.sites import make_sites

    split = {"val_count": args.val_count} if args.val_count is not None else None
    made = make_sites(args.datalist, args.output, sites=args.site, split=split, seed=args.seed)
    for s in made["sites"]:
        log.info("site %d: %d cases (scale %.2f, gamma %.2f, noise %.2f): %s", s["site"], s["cases"], s["scale"],
                 s["gamma"], s["noise"], s["datalist"])
    log.info("held out (for the coordinator only): %d cases in %s", made["heldout"]["cases"],
             made["heldout"]["datalist"])
    return 0


def run_report(args) -> int:
    from theraflow.imaging.federated.report import build_report

    page = build_report(args.run, args.output, args.sites)
    log.info("report: %s", page)
    return 0


def run_plan(args) -> int:
    path = _plan_from(args, Path(args.output), args.sites, args.heldout)
    print(path)
    return 0


def run_local(args) -> int:
    from theraflow.imaging.federated.local import Federation
    from theraflow.imaging.federated.sites import read_sites

    made = read_sites(args.sites)
    out = Path(args.output).resolve()
    heldout = args.heldout or made["heldout"]["datalist"]
    path = _plan_from(args, out, len(made["sites"]), heldout)
    sites = [{"datalist": s["datalist"], "workdir": out / f"site_{s['site']}", "threads": args.threads}
             for s in made["sites"]]
    with Federation(out, sites) as fed:
        summary = fed.run(path, timeout=args.timeout)
    last = summary.get("final") or {}
    log.info("federated %s: %d rounds; held-out Dice %s; model in %s", summary["strategy"], summary["rounds"],
             last.get("dice"), out / "server" / "model")
    print(json.dumps(last))
    return 0


def run_site(args) -> int:
    from theraflow.imaging.federated.local import _bin, flower_env

    if not args.insecure and not args.root_certificates:
        raise ValueError("give --root-certificates (TLS to the coordinator) or --insecure (a closed network)")
    node = [f"site={args.site}", f'datalist="{Path(args.datalist).resolve()}"',
            f'workdir="{Path(args.workdir).resolve()}"']
    if args.cache:
        node.append(f'cache="{Path(args.cache).resolve()}"')
    if args.threads:
        node.append(f"threads={args.threads}")
    cmd = [_bin("flower-supernode"), "--superlink", args.superlink, "--port", str(args.port),
           "--node-config", " ".join(node)]
    cmd += ["--insecure"] if args.insecure else ["--root-certificates", args.root_certificates]
    log.info("site %d: %s", args.site, " ".join(cmd))
    os.execve(cmd[0], cmd, flower_env())
    return 0  # not reached


def run_submit(args) -> int:
    import subprocess

    from theraflow.imaging.federated.local import APP, _bin, flower_env

    if not args.insecure and not args.root_certificates:
        raise ValueError("give --root-certificates (TLS to the SuperLink) or --insecure (a closed network)")
    plan_path = Path(args.plan).resolve()
    home = plan_path.parent / "flower"
    home.mkdir(parents=True, exist_ok=True)
    tls = "insecure = true" if args.insecure else f'root-certificates = "{Path(args.root_certificates).resolve()}"'
    (home / "config.toml").write_text(f'[superlink]\ndefault = "coordinator"\n\n[superlink.coordinator]\n'
                                      f'address = "{args.superlink}"\n{tls}\n')
    env = flower_env(FLWR_HOME=str(home))
    return subprocess.call([_bin("flwr"), "run", str(APP), "coordinator", "--run-config", f'plan="{plan_path}"',
                            "--stream"], env=env)
