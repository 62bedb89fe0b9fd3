"""The local runtime's small cloud: what a cloud provider and an ingress controller give a real
cluster, for a cluster whose pods kwok simulates.

It runs as one process beside the control plane (started by ``cluster up``, ended by
``cluster down``), talks only to the cluster's API server through the runtime's kubeconfig,
and listens on nothing:

- volumes: a default StorageClass whose claims it binds to folders under the cluster's state
  directory (and deletes with their claim, as a ``Delete`` reclaim policy says);
- addresses: LoadBalancer Services and Ingresses get an address in their status, from the
  documentation-only range 203.0.113.0/24 (RFC 5737): nothing listens there, nothing is sent.
"""
