local k = import 'k.libsonnet';
[k.configMap('first', {}), k.configMap('second', {})]
