// Package cluster gives the suites a Kubernetes cluster to test against, as an
// sigs.k8s.io/e2e-framework cluster provider ([Provider]) that the stock envfuncs
// (CreateClusterWithConfig, DestroyCluster, LoadImageToCluster, ExportClusterLogs, …)
// drive unchanged.
//
// Unlike e2e-framework's support/kind, which shells out to (and may `go install`) the
// kind CLI, [Provider] links the kind Go library (sigs.k8s.io/kind/pkg/cluster) at the
// version pinned in go.mod and versions.env. The only host commands it runs are
// `docker info` (the preflight, [CheckDocker]) and `docker image inspect` / `docker
// save` (image loading), as kind's own `load docker-image` does.
//
// Three modes ([Mode]), chosen by the pure function [Decide] from [Options]:
//
//   - create (default): create the kind cluster CLUSTER_NAME and delete it afterwards
//     (KEEP_CLUSTER=1 keeps it; KEEP_CLUSTER_ON_FAILURE=1 keeps it when the run failed);
//   - reuse (REUSE_CLUSTER=1): reuse the kind cluster CLUSTER_NAME if the harness
//     created it, else create it; never delete it afterwards;
//   - existing (KUBE_CONTEXT=<context>, optionally KUBECONFIG=<file>): use that one
//     named context and nothing else; never create, modify as a whole or delete
//     that cluster. A KUBECONFIG without KUBE_CONTEXT is refused: the harness never
//     uses a kubeconfig's current-context.
//
// How the harness recognises its own kind cluster: right after creating a cluster it
// writes the ConfigMap kube-system/egress-conformance (see [MarkerName]) recording the
// cluster name and node image. A kind cluster without that ConfigMap, or whose
// ConfigMap names another cluster, is somebody else's: the harness refuses to reuse
// it and never deletes it. See marker.go for why a ConfigMap and not a name prefix.
package cluster
