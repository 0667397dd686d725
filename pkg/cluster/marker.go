package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The ownership marker: how the harness knows a kind cluster is its own.
//
// Right after kind has created a cluster (and before the cluster is handed to any
// suite) the harness creates the ConfigMap kube-system/egress-conformance recording
// the kind cluster name, the node image and the creation time. REUSE_CLUSTER=1 reuses
// a kind cluster only if that ConfigMap exists and names the same cluster; anything
// else is somebody else's cluster, which the harness neither uses nor deletes.
//
// Why a ConfigMap rather than the alternatives:
//   - a name prefix proves nothing: anyone may run `kind create cluster --name
//     egress-conformance`, and the name is user-configurable anyway;
//   - kind offers no custom labels on its node containers, and node labels set through
//     the kind config would be lost with a user-supplied KIND_CONFIG;
//   - a file on the host (e.g. under the temp dir) can outlive its cluster or be missing
//     on another checkout; the marker lives and dies with the cluster itself.
//
// It is written after kind succeeded, so a cluster whose set-up was interrupted has no
// marker and is refused by REUSE_CLUSTER=1 (the error says how to delete it): failing
// closed is the point. Deletion never consults the marker at all: the harness deletes
// only a cluster this very process created (Provider.Created).
const (
	// MarkerNamespace and MarkerName locate the ownership ConfigMap.
	MarkerNamespace = "kube-system"
	MarkerName      = "egress-conformance"

	// ManagedByLabel = ManagedByValue is set on the marker.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "egress-conformance"

	markerKeyCluster   = "kind-cluster"
	markerKeyNodeImage = "node-image"
	markerKeyCreated   = "created-at"
)

// ErrNotOurs is returned when a kind cluster exists that the harness did not create.
var ErrNotOurs = errors.New("was not created by egress-conformance")

// Marker is what the ownership ConfigMap records.
type Marker struct {
	Cluster   string
	NodeImage string
	CreatedAt time.Time
}

// configMaps is the part of a typed ConfigMap client the marker needs
// (k8s.io/client-go/kubernetes/typed/core/v1.ConfigMapInterface satisfies it).
type configMaps interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error)
	Create(ctx context.Context, cm *corev1.ConfigMap, opts metav1.CreateOptions) (*corev1.ConfigMap, error)
}

// MarkerConfigMap builds the ownership ConfigMap recording m.
func MarkerConfigMap(m Marker) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      MarkerName,
			Namespace: MarkerNamespace,
			Labels:    map[string]string{ManagedByLabel: ManagedByValue},
		},
		Data: map[string]string{
			markerKeyCluster:   m.Cluster,
			markerKeyNodeImage: m.NodeImage,
			markerKeyCreated:   m.CreatedAt.UTC().Format(time.RFC3339),
		},
	}
}

// ParseMarker checks that cm is the harness's marker for kind cluster name.
func ParseMarker(cm *corev1.ConfigMap, name string) (Marker, error) {
	if cm == nil {
		return Marker{}, fmt.Errorf("%w: no ConfigMap %s/%s", ErrNotOurs, MarkerNamespace, MarkerName)
	}
	if cm.Labels[ManagedByLabel] != ManagedByValue {
		return Marker{}, fmt.Errorf("%w: ConfigMap %s/%s lacks the label %s=%s", ErrNotOurs,
			MarkerNamespace, MarkerName, ManagedByLabel, ManagedByValue)
	}
	m := Marker{Cluster: cm.Data[markerKeyCluster], NodeImage: cm.Data[markerKeyNodeImage]}
	if m.Cluster != name {
		return Marker{}, fmt.Errorf("%w: ConfigMap %s/%s names kind cluster %q, not %q", ErrNotOurs,
			MarkerNamespace, MarkerName, m.Cluster, name)
	}
	if t, err := time.Parse(time.RFC3339, cm.Data[markerKeyCreated]); err == nil {
		m.CreatedAt = t
	}
	return m, nil
}

// writeMarker records that the harness created kind cluster m.Cluster. It is
// idempotent for the same cluster.
func writeMarker(ctx context.Context, cms configMaps, m Marker) error {
	_, err := cms.Create(ctx, MarkerConfigMap(m), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cm, gerr := cms.Get(ctx, MarkerName, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("ownership marker %s/%s: %w", MarkerNamespace, MarkerName, gerr)
		}
		_, err = ParseMarker(cm, m.Cluster)
	}
	if err != nil {
		return fmt.Errorf("write ownership marker %s/%s: %w", MarkerNamespace, MarkerName, err)
	}
	return nil
}

// readMarker fetches and checks the marker of kind cluster name.
func readMarker(ctx context.Context, cms configMaps, name string) (Marker, error) {
	cm, err := cms.Get(ctx, MarkerName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm, err = nil, nil
	}
	if err != nil {
		return Marker{}, fmt.Errorf("read ownership marker %s/%s: %w", MarkerNamespace, MarkerName, err)
	}
	return ParseMarker(cm, name)
}
