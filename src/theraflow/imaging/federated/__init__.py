"""Federated segmentation: train across sites that keep their scans, on Flower (``flwr``).

- :mod:`.sites` makes sites that differ (unequal sizes, per-site acquisition) from one datalist;
- :mod:`.local_training` is a site's round (theraflow's training runtime) and the held-out measurement;
- :mod:`.client` / :mod:`.server` are the Flower ClientApp and ServerApp that carry weights and metrics,
  nothing else; :mod:`.strategies` names the strategies (FedAvg, FedProx);
- :mod:`.local` runs a whole federation on one machine (a SuperLink, one SuperNode per site, ``flwr run``)
  as separate processes talking over localhost: the tests, the benchmark and a dry run before deployment.
"""
