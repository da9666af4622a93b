# Sourced by demo.sh and bench.sh: one stand-in for a workload cluster's XCP
# edge, what the failover reads of it (its Deployment, its Pods, their logs
# since the DNS switch), so that both show the same edge.

# apply_edge_stand_in CLUSTERLOGS_NAME LOG_FILE KUBECTL_ARG...: namespace
# istio-system, Deployment edge in it (kwok makes its Pod Ready), and a kwok
# ClusterLogs by which kwok serves LOG_FILE as the log of that namespace's
# Pods; KUBECTL_ARGs pick the cluster (--kubeconfig, --context).
apply_edge_stand_in() {
  local name=$1 log_file=$2
  shift 2
  kubectl "$@" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata: {name: $name}
spec:
  selector: {matchNamespaces: [istio-system]}
  logs: [{logsFile: $log_file}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge, namespace: istio-system}
spec:
  replicas: 1
  selector: {matchLabels: {app: edge}}
  template:
    metadata: {labels: {app: edge}}
    spec: {containers: [{name: edge, image: registry.invalid/xcp-edge:1}]}
YAML
}

# edge_connected_line DNS_NAME: the line an edge logs once connected to the
# MP at DNS_NAME, stamped now, in the CRI log format kwok reads
# (`TIME stdout F LINE`).
edge_connected_line() {
  printf '%s stdout F connected to central %s:9443\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$1"
}
