"""The base layer's Kubernetes access: the REST client, and the kubeconfig it is built from.

It imports nothing of the sandbox above the base layer: runtimes, sources, the apply side and
the agent all talk to an API server through it.
"""
