local k = import 'k.libsonnet';
function(replicas=1) k.configMap('settings', { env: std.extVar('env'), replicas: std.toString(replicas) })
