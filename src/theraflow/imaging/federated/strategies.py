"""The federated strategies, declared in :data:`theraflow.registry.FED_STRATEGIES` (light: no Flower import).

Each entry's object builds a Flower strategy (``flwr.serverapp.strategy``) with theraflow's round hooks
(:mod:`theraflow.imaging.federated.server`); ``params`` are what a plan's ``strategy_params`` may set.
Another strategy is one more declaration here (or a run-time ``FED_STRATEGIES.register``).
"""

from theraflow.registry import FED_STRATEGIES

FED_STRATEGIES.declare(
    "fedavg", "theraflow.imaging.federated.server:fedavg",
    description="FedAvg (McMahan et al. 2017): the sites' weights averaged, weighted by their case counts",
    params={})
FED_STRATEGIES.declare(
    "fedprox", "theraflow.imaging.federated.server:fedprox",
    description="FedProx (Li et al. 2020): FedAvg, and each site's loss gets (mu/2)·||w − w_global||², so sites "
                "whose data differ drift less from the global model during their local epochs",
    params={"proximal_mu": 0.01})
