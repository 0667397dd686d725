package ambient

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/world"
)

// OverlayFile is the IstioOperator overlay, relative to the repository root, that
// turns the harness's install (fixtures/istio/egress.yaml) into an ambient one. It
// is passed as a second --filename to the same `istioctl install`, so that one
// install serves sidecar and ambient scenarios alike; istioctl merges files in
// order (istio/istio operator/pkg/render/manifest.go: "base < profile < … < files
// (in order) < --set flags").
const OverlayFile = "fixtures/istio/ambient.yaml"

// Variant is the image variant the ambient profile selects: its Helm profile sets
// global.variant: distroless (istio/istio manifests/helm-profiles/ambient.yaml),
// so every image of an ambient install is tagged <version>-distroless.
const Variant = "distroless"

// Images are the images an ambient install of c pulls (for PRELOAD_IMAGES):
// istiod's and the proxies' in the distroless variant, and the two node agents.
func Images(c mesh.Config) []string {
	hub := c.Hub
	if hub == "" {
		hub = mesh.DefaultHub
	}
	var out []string
	for _, name := range []string{"pilot", "proxyv2", "install-cni", "ztunnel"} {
		out = append(out, hub+"/"+name+":"+c.Version+"-"+Variant)
	}
	return out
}

// DaemonSet is a node agent of ambient mode.
type DaemonSet struct{ Namespace, Name string }

func (d DaemonSet) String() string { return d.Namespace + "/" + d.Name }

// The node agents istioctl installs with the overlay, both in istio-system:
// istio-cni's DaemonSet "<chart name>-node" (manifests/charts/istio-cni/templates/
// daemonset.yaml) and ztunnel's "ztunnel" (manifests/charts/ztunnel/templates/
// daemonset.yaml; pods labelled app=ztunnel, container istio-proxy).
var (
	CNI     = DaemonSet{Namespace: world.IstioNamespace, Name: "istio-cni-node"}
	Ztunnel = DaemonSet{Namespace: world.IstioNamespace, Name: "ztunnel"}
)

// DaemonSets are the node agents an ambient run waits for after the install.
func DaemonSets() []DaemonSet { return []DaemonSet{CNI, Ztunnel} }

// WaitDaemonSets polls every poll, within timeout, until each DaemonSet has
// observed its latest spec and every node runs an updated, ready pod of it
// (DaemonSetReady). On timeout the error says what each one was last waiting for.
func WaitDaemonSets(ctx context.Context, client kubernetes.Interface, sets []DaemonSet, timeout, poll time.Duration, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	last := map[DaemonSet]string{}
	for _, d := range sets {
		last[d] = "not read yet" // so that the first read is reported either way
	}
	err := wait.PollUntilContextTimeout(ctx, poll, timeout, true, func(ctx context.Context) (bool, error) {
		all := true
		for _, d := range sets {
			why := ""
			ds, err := client.AppsV1().DaemonSets(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				why = "daemonset not found"
			case err != nil:
				why = "get daemonset: " + err.Error()
			default:
				why = DaemonSetReady(ds)
			}
			if why != last[d] {
				if why == "" {
					fmt.Fprintf(out, "ambient: %s ready\n", d)
				} else {
					fmt.Fprintf(out, "ambient: waiting for %s: %s\n", d, why)
				}
				last[d] = why
			}
			all = all && why == ""
		}
		return all, nil
	})
	if err == nil {
		return nil
	}
	var waiting []string
	for _, d := range sets {
		if why := last[d]; why != "" {
			waiting = append(waiting, d.String()+": "+why)
		}
	}
	return fmt.Errorf("ambient node agents not ready within %s: %w: %s", timeout, err, strings.Join(waiting, "; "))
}

// DaemonSetReady returns "" when ds has observed its latest generation, is
// scheduled on at least one node, and every scheduled pod is updated and ready;
// otherwise what it waits for.
func DaemonSetReady(ds *appsv1.DaemonSet) string {
	s := ds.Status
	switch {
	case s.ObservedGeneration < ds.Generation:
		return fmt.Sprintf("generation %d not observed yet (observed %d)", ds.Generation, s.ObservedGeneration)
	case s.DesiredNumberScheduled == 0:
		return "scheduled on no node"
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		return fmt.Sprintf("%d of %d pods updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	case s.NumberReady < s.DesiredNumberScheduled:
		return fmt.Sprintf("%d of %d pods ready", s.NumberReady, s.DesiredNumberScheduled)
	}
	return ""
}

// DefaultOverlay finds fixtures/istio/ambient.yaml next to the egress overlay
// mesh.DefaultOverlay finds (both in this repository's checkout).
func DefaultOverlay() (string, error) {
	egress, err := mesh.DefaultOverlay()
	if err != nil {
		return "", err
	}
	root := strings.TrimSuffix(egress, filepath.FromSlash(mesh.OverlayFile))
	p := filepath.Join(root, filepath.FromSlash(OverlayFile))
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}
