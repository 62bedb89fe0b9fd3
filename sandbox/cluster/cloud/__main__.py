"""``python -m sandbox.cluster.cloud --kubeconfig FILE --context NAME --volumes DIR``."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from sandbox.cluster.cloud.controller import Cloud
from sandbox.kube import kubeconfig


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.cluster.cloud", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--context", required=True)
    parser.add_argument("--volumes", type=Path, required=True, help="where claims' folders are made")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Cloud(kubeconfig.api_client(args.kubeconfig, args.context), args.volumes).run(stop)


if __name__ == "__main__":
    main()
