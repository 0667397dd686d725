package mesh

import (
	"fmt"

	apinetworkingv1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/egress-conformance/egress-conformance/pkg/world"
)

// SidecarName is the name of the Sidecar the harness puts in each scenario
// namespace. It has no workloadSelector, so it is the namespace's default Sidecar:
// a scenario bundle must not bring another selector-less Sidecar of its own.
const SidecarName = world.OutboundPolicySidecarName

// Outbound traffic policy modes a scenario may ask for (scenario.yaml
// mesh.outboundTrafficPolicy).
const (
	AllowAny     = "ALLOW_ANY"
	RegistryOnly = "REGISTRY_ONLY"
)

// Sidecar renders the Sidecar that gives every workload of namespace the
// outbound traffic policy mode ("" means ALLOW_ANY, Istio's default). It sets no
// egress listeners, so the workloads keep Istio's default visibility ("*/*") and
// only the policy for unknown destinations changes. See docs/mesh.md.
//
// Note that REGISTRY_ONLY is the zero value of the proto enum, so its JSON form is
// `outboundTrafficPolicy: {}`: the policy is set (non-nil), with mode
// REGISTRY_ONLY, and Istio reads it that way (pilot/pkg/model/sidecar.go uses the
// Sidecar's policy whenever it is non-nil).
func Sidecar(namespace, mode string) (*networkingv1.Sidecar, error) {
	var m apinetworkingv1.OutboundTrafficPolicy_Mode
	switch mode {
	case AllowAny, "":
		m = apinetworkingv1.OutboundTrafficPolicy_ALLOW_ANY
	case RegistryOnly:
		m = apinetworkingv1.OutboundTrafficPolicy_REGISTRY_ONLY
	default:
		return nil, fmt.Errorf("outbound traffic policy %q: want %s or %s", mode, AllowAny, RegistryOnly)
	}
	if namespace == "" {
		return nil, fmt.Errorf("sidecar: no namespace")
	}
	return &networkingv1.Sidecar{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "Sidecar"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      SidecarName,
			Namespace: namespace,
		},
		Spec: apinetworkingv1.Sidecar{
			OutboundTrafficPolicy: &apinetworkingv1.OutboundTrafficPolicy{Mode: m},
		},
	}, nil
}
