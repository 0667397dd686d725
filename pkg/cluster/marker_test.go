package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// memConfigMaps is an in-memory ConfigMap store of one namespace.
type memConfigMaps struct {
	items  map[string]*corev1.ConfigMap
	getErr error
}

func (m *memConfigMaps) Get(_ context.Context, name string, _ metav1.GetOptions) (*corev1.ConfigMap, error) {
	if m.getErr != nil {
		return nil, m.getErr
	}
	cm, ok := m.items[name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
	}
	return cm.DeepCopy(), nil
}

func (m *memConfigMaps) Create(_ context.Context, cm *corev1.ConfigMap, _ metav1.CreateOptions) (*corev1.ConfigMap, error) {
	if _, ok := m.items[cm.Name]; ok {
		return nil, apierrors.NewAlreadyExists(corev1.Resource("configmaps"), cm.Name)
	}
	if m.items == nil {
		m.items = map[string]*corev1.ConfigMap{}
	}
	m.items[cm.Name] = cm.DeepCopy()
	return cm, nil
}

func TestMarkerRoundTrip(t *testing.T) {
	ctx := context.Background()
	created := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	store := &memConfigMaps{}
	m := Marker{Cluster: "egress-conformance", NodeImage: "kindest/node:v1.35.8@sha256:07b2", CreatedAt: created}

	if _, err := readMarker(ctx, store, m.Cluster); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("readMarker() on a cluster without marker = %v, want ErrNotOurs", err)
	}
	if err := writeMarker(ctx, store, m); err != nil {
		t.Fatal(err)
	}
	cm := store.items[MarkerName]
	if cm.Namespace != MarkerNamespace || cm.Labels[ManagedByLabel] != ManagedByValue {
		t.Errorf("marker = %+v", cm.ObjectMeta)
	}
	got, err := readMarker(ctx, store, m.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	if got != m {
		t.Errorf("readMarker() = %+v, want %+v", got, m)
	}
	// Writing again for the same cluster is fine; for another name it is not.
	if err := writeMarker(ctx, store, m); err != nil {
		t.Errorf("writeMarker() again = %v", err)
	}
	if err := writeMarker(ctx, store, Marker{Cluster: "other"}); !errors.Is(err, ErrNotOurs) {
		t.Errorf("writeMarker(other cluster) = %v, want ErrNotOurs", err)
	}
	if _, err := readMarker(ctx, store, "other"); err == nil || !strings.Contains(err.Error(),
		`names kind cluster "egress-conformance", not "other"`) {
		t.Errorf("readMarker(other) = %v", err)
	}
}

func TestParseMarkerNotOurs(t *testing.T) {
	good := MarkerConfigMap(Marker{Cluster: "c", NodeImage: "img", CreatedAt: time.Unix(0, 0)})
	unlabelled := good.DeepCopy()
	unlabelled.Labels = nil
	tests := []struct {
		name string
		cm   *corev1.ConfigMap
		want string
	}{
		{"absent", nil, "no ConfigMap kube-system/egress-conformance"},
		{"without the managed-by label", unlabelled, "lacks the label app.kubernetes.io/managed-by=egress-conformance"},
	}
	for _, tt := range tests {
		_, err := ParseMarker(tt.cm, "c")
		if !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseMarker() = %v, want ErrNotOurs containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := ParseMarker(good, "c"); err != nil {
		t.Errorf("ParseMarker(good) = %v", err)
	}
}

// An API error is not "not ours": the caller must not conclude anything about ownership.
func TestReadMarkerAPIError(t *testing.T) {
	store := &memConfigMaps{getErr: errors.New("connection refused")}
	_, err := readMarker(context.Background(), store, "c")
	if err == nil || errors.Is(err, ErrNotOurs) {
		t.Fatalf("readMarker() = %v, want a plain error", err)
	}
}
