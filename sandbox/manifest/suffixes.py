"""The file names that hold manifests: what kubectl, kustomize and the controllers read as YAML or JSON."""

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
