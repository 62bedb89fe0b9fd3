"""A thin, fast Kubernetes REST client: raw JSON over the official client's connection pool.

The official client's typed models cost a lot of CPU per object; the agent moves thousands
of plain dicts, so it talks JSON directly while reusing the official client for what it does
well: reading the kubeconfig (certificates, tokens, exec plugins) and the TLS pool.
Transient failures (429, 5xx, connection resets) are retried with backoff; every call has a
timeout, so nothing hangs.
"""

from __future__ import annotations

import http.client
import json
import random
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import urllib3

from sandbox.kube.kubeconfig import api_client, identity_of
from sandbox.manifest import kubeyaml
from sandbox.model import Manifest, ObjectKey

FIELD_MANAGER = "gitops-sandbox"
TRANSIENT = {429, 500, 502, 503, 504}
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"


class KubeError(RuntimeError):
    """An API error with the server's own status and message."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT or self.status == 0


@dataclass(frozen=True)
class Resource:
    """One API resource as discovery describes it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str = "", name: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        return base + (f"/{quote(name)}" if name else "")


class Kube:
    """JSON requests, discovery and watch streams against one cluster."""

    def __init__(self, kubeconfig: Path, context: str | None = None, retries: int = 4) -> None:
        self.kubeconfig, self.context = kubeconfig, context
        self.retries = retries
        self._lock = threading.Lock()
        self._streams: set[urllib3.BaseHTTPResponse] = set()
        self._connect()

    def _connect(self) -> None:
        self.identity = identity_of(self.kubeconfig, self.context)
        self._api = api_client(self.kubeconfig, self.context)
        self._config = self._api.configuration
        self._pool: urllib3.PoolManager = self._api.rest_client.pool_manager
        self.host = self._config.host.rstrip("/")
        self._transport = _Transport(self.host, self._config)
        self._discovery: dict[tuple[str, str], Resource] | None = None
        self._by_version: dict[tuple[str, str], Resource] = {}

    def replaced(self) -> bool:
        """Whether the kubeconfig now names another cluster than this client talks to (`cluster
        down` then `cluster up` makes one with a new CA, maybe a new port)."""
        now = identity_of(self.kubeconfig, self.context)
        return bool(now) and now != self.identity

    def reconnect(self) -> None:
        """Talk to the cluster the kubeconfig names now: new credentials, new discovery; the
        watches' streams are ended, so they list again from the new cluster."""
        old = self._api
        with self._lock:
            self._connect()
        self.close_streams()
        old.close()

    def close(self) -> None:
        self._api.close()

    # -- requests ---------------------------------------------------------------------------

    def _headers(self, content_type: str | None, accept: str) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": "gitops-sandbox"}
        if content_type:
            headers["Content-Type"] = content_type
        # auth_settings refreshes exec/oidc tokens through the hook the kubeconfig loader set.
        if self._config.refresh_api_key_hook is not None:
            self._config.refresh_api_key_hook(self._config)
        for setting in self._config.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        return headers

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        timeout: float = 30,
    ) -> Any:
        """One API call, retried on transient failures; returns the decoded JSON body."""
        return self.call(method, path, body, params, content_type, accept, timeout)[1]

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        timeout: float = 30,
    ) -> tuple[int, Any]:
        """Like ``request``, also returning the HTTP status (201 tells created from updated)."""
        target = path + ("?" + urlencode(params) if params else "")
        payload = kubeyaml.json_bytes(body) if body is not None else None
        headers = self._headers(content_type if payload is not None else None, accept)
        delay = 0.05
        for attempt in range(self.retries + 1):
            try:
                status, data = self._transport.send(method, target, payload, headers, timeout)
            except (OSError, http.client.HTTPException) as exc:
                error = KubeError(0, "ConnectionError", self._unreached(exc))
            else:
                if status < 400:
                    return status, (json.loads(data) if data else None)
                error = _error_from_body(status, data)
            if not error.transient or attempt == self.retries:
                raise error
            time.sleep(delay + random.uniform(0, delay))
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _unreached(self, exc: BaseException) -> str:
        """Why a request got no answer; a certificate the cluster's CA did not sign is another
        server at the cluster's address (the cluster is gone, and something else took its port)."""
        said = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (f"another server answers at {self.host} (its certificate is not of the cluster's CA): the "
                    f"cluster there is gone or replaced; `gitops-sandbox cluster up` brings it back ({said})")  # fmt: skip
        return said

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def cluster_uid(self) -> str:
        """What tells this cluster from another behind the same address (a `cluster down` and
        `up`): its kube-system namespace's uid; "" when it cannot be read."""
        try:
            return str(self.get("/api/v1/namespaces/kube-system").get("metadata", {}).get("uid", ""))
        except KubeError:
            return ""

    def ping(self, timeout: float) -> None:
        """One request the API server answers at once (its version), never retried: raises
        KubeError when no answer comes within ``timeout`` (a server stopped, not gone, accepts
        connections and answers nothing: only a deadline tells)."""
        try:
            status, data = self._transport.send(
                "GET", "/version", None, self._headers(None, "application/json"), timeout
            )
        except (OSError, http.client.HTTPException) as exc:
            raise KubeError(0, "ConnectionError", self._unreached(exc)) from None
        if status >= 400:
            raise _error_from_body(status, data)

    def stream(self, path: str, params: dict[str, str], timeout: float) -> Iterator[dict[str, Any]]:
        """Watch events (one JSON document per line) until the server ends the stream."""
        url = self.host + path + "?" + urlencode(params)
        resp = self._pool.request(
            "GET", url, headers=self._headers(None, "application/json"), preload_content=False,
            timeout=urllib3.Timeout(connect=5, read=timeout), retries=False,
        )  # fmt: skip
        with self._lock:
            self._streams.add(resp)
        try:
            if resp.status >= 400:
                resp.data  # noqa: B018 - read the body for the error message
                raise _error_from(resp)
            buffer = b""
            for chunk in resp.stream(65536, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            with self._lock:
                self._streams.discard(resp)
            resp.release_conn()

    def close_streams(self) -> None:
        """End every open watch now: a quiet watch would otherwise hold its thread (and all
        it references) until the server's timeout, minutes later."""
        with self._lock:
            streams = list(self._streams)
        for resp in streams:
            try:
                resp.shutdown()
            except Exception:  # already closed or closing: nothing left to end
                pass

    # -- discovery --------------------------------------------------------------------------

    def resources(self, refresh: bool = False) -> dict[tuple[str, str], Resource]:
        """(group, kind) -> the preferred version of that resource (top-level resources only)."""
        with self._lock:
            if self._discovery is None or refresh:
                self._discovery, self._by_version = self._discover()
            return self._discovery

    def resource_for(self, api_version: str, kind: str) -> Resource | None:
        """The resource for an object's apiVersion and kind, rediscovering once if unknown."""
        group, _, version = api_version.rpartition("/")
        self.resources()
        found = self._by_version.get((api_version, kind))
        if found is None:
            self.resources(refresh=True)
            found = self._by_version.get((api_version, kind))
        if found is None and (group, kind) in self.resources():
            return None  # kind known, version not served
        return found

    def is_namespaced(self, group: str, kind: str) -> bool | None:
        found = self.resources().get((group, kind))
        return found.namespaced if found else None

    def _discover(self) -> tuple[dict[tuple[str, str], Resource], dict[tuple[str, str], Resource]]:
        preferred: dict[tuple[str, str], Resource] = {}
        by_version: dict[tuple[str, str], Resource] = {}
        for path in ("/api", "/apis"):
            doc = self.request("GET", path, accept=AGGREGATED_DISCOVERY)
            if doc.get("kind") != "APIGroupDiscoveryList":
                raise KubeError(0, "Discovery", f"{self.host} does not serve aggregated discovery (1.30+)")
            for group_doc in doc.get("items", []):
                group = group_doc.get("metadata", {}).get("name", "")
                for rank, version_doc in enumerate(group_doc.get("versions", [])):
                    version = version_doc["version"]
                    for res in version_doc.get("resources", []):
                        kind = res.get("responseKind", {}).get("kind")
                        if not kind:
                            continue
                        resource = Resource(
                            group, version, kind, res["resource"], res.get("scope") == "Namespaced",
                            frozenset(res.get("verbs", [])),
                        )  # fmt: skip
                        by_version[(resource.api_version, kind)] = resource
                        if rank == 0:  # versions are listed in preference order
                            preferred[(group, kind)] = resource
        return preferred, by_version

    # -- objects ----------------------------------------------------------------------------

    def object_path(self, manifest: Manifest) -> str:
        resource = self.resource_for(manifest["apiVersion"], manifest["kind"])
        if resource is None:
            raise KubeError(
                404, "NotFound", f"the cluster does not know {manifest['apiVersion']} {manifest['kind']}"
            )
        meta = manifest["metadata"]
        return resource.path(meta.get("namespace", ""), meta["name"])

    def apply(
        self, manifest: Manifest, timeout: float = 30, field_manager: str = FIELD_MANAGER
    ) -> tuple[bool, Manifest]:
        """Server-side apply with our field manager, conflicts forced (as Flux does).

        Returns whether the object was created, and only its metadata: metadata alone spares
        the server encoding, and us decoding, the whole object thousands of times.
        """
        status, result = self.call(
            "PATCH", self.object_path(manifest), body=manifest,
            params={"fieldManager": field_manager, "force": "true"},
            content_type="application/apply-patch+yaml", timeout=timeout, accept=METADATA_ONLY,
        )  # fmt: skip
        return status == 201, result

    def dry_run(
        self, manifest: Manifest, timeout: float = 30, field_manager: str = FIELD_MANAGER
    ) -> Manifest:
        """The object as the API server would have it after a server-side apply; nothing is stored."""
        _status, result = self.call(
            "PATCH", self.object_path(manifest), body=manifest,
            params={"fieldManager": field_manager, "force": "true", "dryRun": "All"},
            content_type="application/apply-patch+yaml", timeout=timeout,
        )  # fmt: skip
        predicted: Manifest = result
        return predicted

    def delete(self, key: ObjectKey, resource: Resource, propagation: str = "Background") -> None:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            self.request("DELETE", resource.path(key.namespace, key.name), body=body)
        except KubeError as exc:
            if exc.status != 404:
                raise

    def read(self, resource: Resource, namespace: str, name: str) -> Manifest | None:
        try:
            found: Manifest = self.get(resource.path(namespace, name))
            return found
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise


def _error_from(resp: urllib3.BaseHTTPResponse) -> KubeError:
    return _error_from_body(resp.status, resp.data or b"")


def _error_from_body(status: int, data: bytes) -> KubeError:
    try:
        body = json.loads(data)
    except (ValueError, TypeError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    reason = body.get("reason", "") if isinstance(body, dict) else ""
    return KubeError(
        status,
        reason or http.client.responses.get(status, ""),
        message or data[:300].decode(errors="replace"),
        body,
    )


class _Transport:
    """One keep-alive HTTPS connection per thread, with plain http.client.

    urllib3's pool costs about twice the CPU per request; with thousands of requests on a
    two-core machine shared with the API server, that CPU is the sync's bottleneck.
    """

    def __init__(self, host: str, config: Any) -> None:
        parsed = urlsplit(host)
        self.scheme = parsed.scheme
        self.hostname = parsed.hostname or "localhost"
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.prefix = parsed.path.rstrip("/")
        self.context: ssl.SSLContext | None = None
        if self.scheme == "https":
            context = ssl.create_default_context(cafile=config.ssl_ca_cert or None)
            if not config.verify_ssl:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if config.cert_file:
                context.load_cert_chain(config.cert_file, config.key_file)
            self.context = context
        self.server_name = getattr(config, "tls_server_name", None) or None
        self._local = threading.local()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.context is not None:
                conn = http.client.HTTPSConnection(
                    self.hostname, self.port, timeout=timeout, context=self.context
                )
            else:
                conn = http.client.HTTPConnection(self.hostname, self.port, timeout=timeout)
            self._local.conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def send(
        self, method: str, target: str, payload: bytes | None, headers: dict[str, str], timeout: float
    ) -> tuple[int, bytes]:
        # A kept-alive connection the server closed fails on first use: reconnect once.
        for attempt in range(2):
            conn = self._connection(timeout)
            try:
                conn.request(method, self.prefix + target, body=payload, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._local.conn = None
                if attempt == 1:
                    raise
            except BaseException:
                conn.close()
                self._local.conn = None
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
