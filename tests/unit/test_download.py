"""Download rule: served from 127.0.0.1 (no network), sha256-checked, mirror first, TOFU."""

import functools
import http.server
import shutil
import threading

import pytest

from theraflow.download import SOURCES, Source, fetch
from theraflow.errors import InputError, UserError


@pytest.fixture()
def serve():
    servers = []

    def start(directory):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
        handler.log_message = lambda *a, **k: None
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/"

    yield start
    for srv in servers:
        srv.shutdown()


@pytest.mark.shared_data
def test_davis_from_a_local_http_server(tmp_path, serve, shared_data):
    url = serve(shared_data / "davis")
    report = fetch("davis", tmp_path / "davis", base_url=url)
    assert sorted(report["downloaded"]) == sorted(SOURCES["davis"].files)
    again = fetch("davis", tmp_path / "davis", base_url=url)
    assert again["downloaded"] == [] and len(again["present"]) == 6
    from theraflow.pairs.loaders import load_deepdta

    assert len(load_deepdta(tmp_path / "davis")) == 30056


@pytest.mark.shared_data
def test_mirror_is_used_before_the_network(tmp_path, shared_data):
    report = fetch("davis", tmp_path / "d", mirror=shared_data / "davis", base_url="http://127.0.0.1:9/")
    assert len(report["from_mirror"]) == 6 and report["downloaded"] == []


def test_checksum_mismatch_is_refused_and_nothing_saved(tmp_path, serve):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "a.txt").write_text("tampered")
    src = Source("t", serve(tmp_path / "srv"), {"a.txt": "0" * 64})
    with pytest.raises(InputError, match="does not match the recorded"):
        fetch(src, tmp_path / "dest")
    assert not (tmp_path / "dest" / "a.txt").exists()


def test_unrecorded_checksums_need_trust_on_first_use(tmp_path, serve):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "a.txt").write_text("v1")
    src = Source("t", serve(tmp_path / "srv"), {"a.txt": None})
    with pytest.raises(UserError, match="refusing an unverified download"):
        fetch(src, tmp_path / "dest")
    fetch(src, tmp_path / "dest", trust_on_first_use=True)
    assert "a.txt" in (tmp_path / "dest" / "SHA256SUMS").read_text()
    (tmp_path / "dest" / "a.txt").unlink()
    (tmp_path / "srv" / "a.txt").write_text("v2 changed upstream")
    with pytest.raises(InputError, match="does not match"):
        fetch(src, tmp_path / "dest", trust_on_first_use=True)


def test_unreachable_server_is_a_clear_error(tmp_path):
    src = Source("t", "http://127.0.0.1:9/", {"a.txt": "0" * 64})
    with pytest.raises(UserError, match="download failed"):
        fetch(src, tmp_path / "d", timeout=2)
    assert shutil.which("theraflow")


@pytest.mark.shared_data
def test_drugbank_ddi_from_its_source_repositories_layout(tmp_path, serve, shared_data):
    """The download rule fetches each file from its repository path (SumGNN, SSI-DDI) into the local names."""
    src = SOURCES["drugbank_ddi"]
    root = tmp_path / "srv"
    for local, remote in src.remote.items():  # lay the shared copies out as the raw-file server does
        (root / remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_data / "drugbank_ddi" / local, root / remote)
    report = fetch("drugbank_ddi", tmp_path / "ddi", base_url=serve(root))
    assert sorted(report["downloaded"]) == sorted(src.files)
    from theraflow.pairs.loaders import load_drugbank_ddi

    pairs, rejects, types = load_drugbank_ddi(tmp_path / "ddi")
    assert len(pairs) + len(rejects) == 192_284
    mirror = fetch("drugbank_ddi", tmp_path / "m", mirror=shared_data / "drugbank_ddi", base_url="http://127.0.0.1:9/")
    assert len(mirror["from_mirror"]) == 3


@pytest.mark.parametrize("name", ["davis", "kiba", "drugbank_ddi"])
def test_shared_copies_match_the_recorded_hashes(tmp_path, shared_data, name):
    """config/kiba.yaml reads ../shared/data/kiba as a mirror: every file is checked against SOURCES' sha256."""
    assert all(SOURCES[name].files.values()), f"{name}: a file without a recorded sha256"
    report = fetch(name, tmp_path / name, mirror=shared_data / name)
    assert sorted(report["from_mirror"]) == sorted(SOURCES[name].files) and not report["downloaded"]
