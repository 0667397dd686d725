package scenario

import (
	"fmt"
	"sort"
	"strings"

	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	gatewayscheme "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/scheme"
)

// supportedKinds is what a bundle may hold: the egress building blocks of Istio
// and the Gateway API, and the few core kinds a scenario needs around them. Each
// row is crossed with the versions the scheme knows, so a version that a pinned
// module drops disappears from the list instead of failing at run time.
//
// apps and core are limited to v1: the client-go scheme still registers
// apps/v1beta1 and v1beta2, which no supported cluster serves.
var supportedKinds = []struct {
	group    string
	versions []string
	kinds    []string
}{
	{"networking.istio.io", []string{"v1", "v1beta1", "v1alpha3"},
		[]string{"ServiceEntry", "Gateway", "VirtualService", "DestinationRule", "Sidecar", "WorkloadEntry"}},
	// EnvoyFilter exists only as v1alpha3; istio.io's tasks reach for it where no
	// API covers a need (e.g. a header the egress gateway must add).
	{"networking.istio.io", []string{"v1alpha3"}, []string{"EnvoyFilter"}},
	{"security.istio.io", []string{"v1", "v1beta1"},
		[]string{"AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication"}},
	{"gateway.networking.k8s.io", []string{"v1", "v1beta1"},
		[]string{"Gateway", "HTTPRoute", "GRPCRoute", "ReferenceGrant", "TLSRoute", "TCPRoute", "BackendTLSPolicy"}},
	// The alpha versions only for the routes and policies that began there.
	{"gateway.networking.k8s.io", []string{"v1alpha2", "v1alpha3"},
		[]string{"TLSRoute", "TCPRoute", "BackendTLSPolicy"}},
	// Endpoints and EndpointSlice give a selector-less Service its addresses, as
	// istio.io's egress-kubernetes-services task does for an external host.
	{"", []string{"v1"}, []string{"Namespace", "Service", "Endpoints", "ServiceAccount", "ConfigMap", "Secret"}},
	{"discovery.k8s.io", []string{"v1"}, []string{"EndpointSlice"}},
	{"apps", []string{"v1"}, []string{"Deployment"}},
	// NetworkPolicy is what keeps a pod without a sidecar, or one that goes
	// around it, from leaving other than through the egress gateway (istio.io's
	// egress-gateway task, "Apply Kubernetes network policies").
	{"networking.k8s.io", []string{"v1"}, []string{"NetworkPolicy"}},
	// Role and RoleBinding: the Gateway API variant of the mutual-TLS
	// origination task grants the gateway access to a Secret with them.
	{"rbac.authorization.k8s.io", []string{"v1"}, []string{"Role", "RoleBinding"}},
}

var (
	// bundleScheme knows every type a bundle may hold. Core and apps come from
	// k8s.io/api directly rather than client-go's kubernetes scheme: the same
	// types, without registering the forty API groups a bundle may not use.
	bundleScheme = newBundleScheme()
	// supported is supportedKinds crossed with bundleScheme.
	supported = supportedGVKs(bundleScheme)
	// strictSerializer decodes YAML and reports unknown and duplicate fields
	// (runtime.StrictDecodingError) next to the decoded object. It does not
	// see unknown fields inside Istio specs: see protowalk.go.
	strictSerializer = json.NewSerializerWithOptions(json.DefaultMetaFactory, bundleScheme, bundleScheme,
		json.SerializerOptions{Yaml: true, Strict: true})
)

func newBundleScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(istioscheme.AddToScheme(s))
	utilruntime.Must(gatewayscheme.AddToScheme(s))
	utilruntime.Must(corev1.AddToScheme(s))
	utilruntime.Must(appsv1.AddToScheme(s))
	utilruntime.Must(discoveryv1.AddToScheme(s))
	utilruntime.Must(networkingv1.AddToScheme(s))
	utilruntime.Must(rbacv1.AddToScheme(s))
	return s
}

func supportedGVKs(s *runtime.Scheme) map[schema.GroupVersionKind]bool {
	m := map[schema.GroupVersionKind]bool{}
	for _, row := range supportedKinds {
		for _, v := range row.versions {
			for _, k := range row.kinds {
				gvk := schema.GroupVersionKind{Group: row.group, Version: v, Kind: k}
				if s.Recognizes(gvk) {
					m[gvk] = true
				}
			}
		}
	}
	return m
}

// SupportedKinds lists the apiVersion/kind pairs a bundle may hold, sorted, as
// "networking.istio.io/v1 ServiceEntry".
func SupportedKinds() []string {
	out := make([]string, 0, len(supported))
	for gvk := range supported {
		out = append(out, gvk.GroupVersion().String()+" "+gvk.Kind)
	}
	sort.Strings(out)
	return out
}

// unsupportedMessage explains a refused apiVersion/kind: the versions its kind is
// read with when only the version is wrong, else the whole supported list.
func unsupportedMessage(gvk schema.GroupVersionKind) string {
	var versions []string
	for s := range supported {
		if s.Group == gvk.Group && s.Kind == gvk.Kind {
			versions = append(versions, s.GroupVersion().String())
		}
	}
	what := fmt.Sprintf("%s %s is not supported", gvk.GroupVersion(), gvk.Kind)
	if len(versions) > 0 {
		sort.Strings(versions)
		return fmt.Sprintf("%s; %s is read as %s", what, gvk.Kind, strings.Join(versions, ", "))
	}
	// Group the list by apiVersion so that it stays readable.
	byGV := map[string][]string{}
	for s := range supported {
		gv := s.GroupVersion().String()
		byGV[gv] = append(byGV[gv], s.Kind)
	}
	var parts []string
	for _, gv := range sortedKeys(byGV) {
		kinds := byGV[gv]
		sort.Strings(kinds)
		parts = append(parts, gv+" "+strings.Join(kinds, ", "))
	}
	return what + "; supported: " + strings.Join(parts, "; ")
}
