"""The REST client's words for a cluster it cannot reach."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube, KubeError


def test_another_server_at_the_clusters_address_is_said_so_with_the_fix(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """The cluster went, and a server with a certificate its CA did not sign took the address:
    the error says so and how to bring the cluster back, not only an SSL error."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = yaml.safe_load(local_runtime.kubeconfig_path.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{server.server_address[1]}"
    other = tmp_path / "kubeconfig"
    other.write_text(yaml.safe_dump(config))
    kube = Kube(other, local_runtime.context)
    kube.retries = 0
    try:
        with pytest.raises(KubeError) as err:
            kube.get("/version")
        assert "another server answers at https://127.0.0.1:" in err.value.message, err.value.message
        assert "gitops-sandbox cluster up" in err.value.message
    finally:
        kube.close()
        server.shutdown()
