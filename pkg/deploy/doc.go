// Package deploy is the cluster tier's Kubernetes plumbing: the namespaces a run
// creates, the scenario bundles it applies (server-side apply, every served
// apiVersion), the client workload it deploys and waits for, the CRDs it installs
// from the pinned module versions, and the clean-up that removes exactly what the
// run created, also after an interrupt.
//
// Ownership is a label: every object the harness creates carries
// egress-conformance.io/run=<run-id> ([RunLabel]), and clean-up trusts that label
// and nothing else (never a name prefix). A namespace that exists without the label
// is the user's, and the harness refuses to touch it.
//
// Every function takes a [*Cluster] (a controller-runtime client plus the discovery
// client clean-up enumerates kinds with) and bounds every wait by its [Timeouts].
// Nothing here imports istio.io/istio.
package deploy

import "github.com/egress-conformance/egress-conformance/pkg/world"

// Labels the harness puts on what it creates.
const (
	// RunLabel carries the run id on every namespace and object the harness creates.
	RunLabel = "egress-conformance.io/run"
	// ManagedByLabel is the well-known label naming the tool that manages an object.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedBy is ManagedByLabel's value.
	ManagedBy = "egress-conformance"
	// InjectionLabel turns on Istio's sidecar injection in a namespace.
	InjectionLabel = world.InjectionLabel
	// FieldManager is the server-side apply field manager of every object applied.
	FieldManager = "egress-conformance"
	// SidecarContainer is the name of Istio's proxy container in an injected pod.
	SidecarContainer = "istio-proxy"
)
