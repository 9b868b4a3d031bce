"""A federation of separate processes over localhost (a Flower SuperLink, two SuperNodes, ``flwr run``) with
a relay between the sites and the link that keeps every byte either way, and sites that fail as real ones do.

One run (3 rounds, 2 sites of the blob cases) checks:
- what crosses the wire: the sites' metrics do (the relay sees them: nothing is compressed out of its view),
  and no image or label path, case id, site folder, nor a window of any image's or label's voxels does;
- kill -9 of a site in round 1 and SIGTERM of the other in round 2: each round completes with the site that
  is left, and the restarted site (a new process, a new Flower node) answers in the next round;
- a site that stops answering (SIGSTOP) in round 3 is left out after the timeout with a line in the
  coordinator's log, and the round ends with the other site's weights.
"""

from __future__ import annotations

import signal
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .helpers import TINY_MODEL

pytest.importorskip("flwr")


class Relay:
    """A TCP relay that keeps the bytes of each direction (sites → link: ``up``; link → sites: ``down``)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.up: list[bytes] = []
        self.down: list[bytes] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            try:
                out = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                conn.close()
                continue
            threading.Thread(target=self._pump, args=(conn, out, self.up), daemon=True).start()
            threading.Thread(target=self._pump, args=(out, conn, self.down), daemon=True).start()

    def _pump(self, src, dst, keep) -> None:
        try:
            while data := src.recv(65536):
                with self.lock:
                    keep.append(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def bytes(self) -> tuple[bytes, bytes]:
        with self.lock:
            return b"".join(self.up), b"".join(self.down)


def _wait_for(path: Path, text: str, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.3)
    raise TimeoutError(f"{text!r} not in {path} after {timeout} s")


def _windows(array: np.ndarray, n: int = 4, width: int = 64) -> list[bytes]:
    """Byte windows from the middle of an array, in C and Fortran order (however a sender would lay it out); only
    windows of varied bytes (a run of zeros says nothing about where it came from)."""
    out = []
    for order in ("C", "F"):
        raw = np.ascontiguousarray(array).tobytes(order=order)
        for i in range(n):
            start = (len(raw) * (i + 1)) // (n + 2)
            window = raw[start:start + width]
            if len(set(window)) > 3:
                out.append(window)
    return out


@pytest.mark.slow
@pytest.mark.xdist_group("many_processes")  # never beside each other under `make test`
def test_a_federation_of_processes_sends_weights_and_metrics_only_and_survives_failing_sites(blob_dataset, tmp_path):
    import nibabel as nib

    from theraflow import imaging
    from theraflow.imaging.federated.local import Federation, free_port, plan
    from theraflow.imaging.federated.sites import make_sites
    from theraflow.imaging.modelconfig import resolve

    datalist, _ = imaging.make_datalist(images=blob_dataset / "images", labels=blob_dataset / "labels",
                                        label_values=[0, 1, 2])
    made = make_sites(datalist, tmp_path / "sites", sites=[{"share": 0.5, "noise": 0.1}, {"share": 0.5, "gamma": 0.8}],
                      split={"val_count": 2})
    cfg = resolve(TINY_MODEL)
    run = tmp_path / "run"
    plan_path = plan(run, cfg, sites=2, heldout=made["heldout"]["datalist"], rounds=3, local_epochs=2,
                     round_timeout=90, min_sites=1)  # a live site answers well within it, beside other tests
    sites = [{"datalist": s["datalist"], "workdir": run / f"site_{s['site']}", "threads": 1} for s in made["sites"]]
    link_port = free_port()
    relay = Relay(link_port)
    server_log = run / "server" / "server.log"
    events: list[str] = []

    with Federation(run, sites, port=link_port, site_port=relay.port) as fed:
        def chaos():
            _wait_for(run / "site_1" / "site.log", "round 1: received")
            time.sleep(1)
            fed.signal_site(1, signal.SIGKILL)  # in the middle of its local epochs
            events.append("killed 1")
            fed.start_site(1)
            _wait_for(run / "site_0" / "site.log", "round 2: received")
            time.sleep(1)
            fed.signal_site(0, signal.SIGTERM)
            events.append("terminated 0")
            fed.start_site(0)
            _wait_for(server_log, "round 3/3: sending")
            fed.signal_site(1, signal.SIGSTOP)  # alive, registered, silent
            events.append("stopped 1")

        thread = threading.Thread(target=chaos, daemon=True)
        thread.start()
        try:
            summary = fed.run(plan_path, timeout=600)
        finally:
            if 1 in fed.nodes and fed.nodes[1].poll() is None:
                fed.signal_site(1, signal.SIGCONT)
        thread.join(timeout=5)

    assert events == ["killed 1", "terminated 0", "stopped 1"]
    hist = pd.DataFrame(summary["history"]).set_index("round")
    assert list(hist.index) == [0, 1, 2, 3] and hist.loc[3, "dice"] == hist.loc[3, "dice"]  # measured each round
    answered = pd.read_csv(run / "server" / "sites.tsv", sep="\t").groupby("round")["site"].apply(set).to_dict()
    assert answered == {1: {0}, 2: {1}, 3: {0}}, answered  # each round ends with the site left; the restarted rejoin
    text = server_log.read_text()
    assert "did not answer" in text and "round 3/3 done" in text
    # the coordinator's model is a segmentation bundle
    net, _, record = imaging.load_bundle(run / "server" / "model")
    assert record["federated"]["rounds_done"] == 3

    up, down = relay.bytes()
    assert len(up) > 3 * 0.5 * sum(v.numel() * 4 for v in net.state_dict().values())  # the replies' weights went up
    first = pd.read_csv(run / "server" / "sites.tsv", sep="\t").iloc[0]
    assert struct.pack("<d", float(first["train_loss"])) in up  # the relay sees what the sites send, uncompressed
    secrets: list[bytes] = []
    for s in made["sites"]:
        secrets += [str(s["datalist"]).encode(), str(Path(s["datalist"]).parent).encode(),
                    str((run / f"site_{s['site']}").resolve()).encode()]
        for row in pd.read_csv(s["datalist"], sep="\t").itertuples():
            secrets += [row.image.encode(), row.label.encode(), row.id.encode(), Path(row.image).name.encode()]
            secrets += _windows(np.asarray(nib.load(row.image).dataobj))
            label = np.asarray(nib.load(row.label).dataobj)
            secrets += _windows(label[label.shape[0] // 3: 2 * label.shape[0] // 3])
    assert sum(len(x) == 64 for x in secrets) >= 20  # voxel windows of every kind were looked for
    for secret in secrets:
        assert secret not in up and secret not in down, secret[:80]
