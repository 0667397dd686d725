package ambient

import (
	"context"
	"fmt"
	"time"

	"istio.io/api/annotation"
	"istio.io/api/label"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egress-conformance/egress-conformance/pkg/deploy"
)

// DataplaneModeLabel enrols a namespace's pods in ambient mode, with value
// DataplaneModeAmbient (istio.io/api label.IoIstioDataplaneMode; istio/istio
// pkg/config/constants DataplaneModeAmbient). istio.io's tasks enrol a namespace
// with `kubectl label namespace <ns> istio.io/dataplane-mode=ambient`.
var DataplaneModeLabel = label.IoIstioDataplaneMode.Name

// DataplaneModeAmbient is the label's value for ambient mode.
const DataplaneModeAmbient = "ambient"

// RedirectionAnnotation is set by the istio-cni node agent on a pod once its
// traffic is redirected to ztunnel, to RedirectionEnabled (istio.io/api
// annotation.AmbientRedirection; istio/istio cni/pkg/util/podutil.go
// PodRedirectionEnabled reads it). It is the ambient counterpart of "the pod has an
// istio-proxy container": until it is set, the client's traffic bypasses ztunnel.
var RedirectionAnnotation = annotation.AmbientRedirection.Name

// RedirectionEnabled is the annotation's value once redirection is in place.
const RedirectionEnabled = "enabled"

// NamespaceLabels are the labels that enrol a namespace in ambient mode.
func NamespaceLabels() map[string]string {
	return map[string]string{DataplaneModeLabel: DataplaneModeAmbient}
}

// Enrol labels namespace, which must be this run's (deploy.RunLabel=runID, so
// created by deploy.EnsureNamespace without injection), for ambient mode. The
// harness never enrols a namespace it did not create.
func Enrol(ctx context.Context, c *deploy.Cluster, namespace, runID string) error {
	var ns corev1.Namespace
	if err := c.Client.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
		return fmt.Errorf("enrol namespace %s in ambient mode: %w", namespace, err)
	}
	if ns.Labels[deploy.RunLabel] != runID {
		return fmt.Errorf("enrol namespace %s in ambient mode: %s=%q, want %q: it is %w",
			namespace, deploy.RunLabel, ns.Labels[deploy.RunLabel], runID, deploy.ErrNotOurs)
	}
	if v, ok := ns.Labels[deploy.InjectionLabel]; ok && v == "enabled" {
		// Injection wins over ambient for a pod created there (a sidecar pod is
		// not redirected to ztunnel), so the client would not be ambient.
		return fmt.Errorf("enrol namespace %s in ambient mode: it is labelled %s=enabled for sidecar injection",
			namespace, deploy.InjectionLabel)
	}
	if ns.Labels[DataplaneModeLabel] == DataplaneModeAmbient {
		return nil
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[DataplaneModeLabel] = DataplaneModeAmbient
	if err := c.Client.Update(ctx, &ns); err != nil {
		return fmt.Errorf("enrol namespace %s in ambient mode: %w", namespace, err)
	}
	return nil
}

// WaitRedirected polls, within timeout, until the client pod carries
// RedirectionAnnotation=enabled. A pod with an istio-proxy container fails at once:
// it was injected, so it is a sidecar client, not an ambient one.
func WaitRedirected(ctx context.Context, kube kubernetes.Interface, namespace, pod string, timeout, poll time.Duration) error {
	last := "pod not read yet"
	err := wait.PollUntilContextTimeout(ctx, poll, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := kube.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if c := sidecarOf(p); c != "" {
			return false, fmt.Errorf("pod %s/%s has a %s container: it was injected with a sidecar, so its traffic is not ztunnel's", namespace, pod, c)
		}
		if v := p.Annotations[RedirectionAnnotation]; v != RedirectionEnabled {
			last = fmt.Sprintf("annotation %s=%q, want %q (istio-cni has not redirected the pod's traffic to ztunnel yet)", RedirectionAnnotation, v, RedirectionEnabled)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("ambient client %s/%s: %w (last: %s)", namespace, pod, err, last)
	}
	return nil
}

func sidecarOf(p *corev1.Pod) string {
	for _, cs := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == deploy.SidecarContainer {
				return c.Name
			}
		}
	}
	return ""
}
