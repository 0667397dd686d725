package offline

import (
	"fmt"
	"strings"
	"time"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubeyaml "sigs.k8s.io/yaml"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/world"
)

// Finding is one problem Istio's own code reports about a bundle object, placed at
// the file and line of the object so a user can go straight to it.
type Finding struct {
	// Origin is "<file>:<line>" relative to the scenario directory, or a name the
	// simulated cluster gave an object of its own.
	Origin string
	// Level is "Error", "Warning" or "Info", as Istio names them.
	Level string
	// Code is Istio's analyzer code (e.g. IST0101), empty for validation.
	Code string
	// Object names the document an analyzer message is about, as istioctl
	// analyze does: "<Kind> <namespace>/<name>". Empty for validation findings,
	// whose Message names the object itself.
	Object  string
	Message string
}

func (f Finding) String() string {
	switch {
	case f.Code != "" && f.Object != "":
		return fmt.Sprintf("%s: %s [%s] (%s) %s", f.Origin, f.Level, f.Code, f.Object, f.Message)
	case f.Code != "":
		return fmt.Sprintf("%s: %s [%s] %s", f.Origin, f.Level, f.Code, f.Message)
	}
	return fmt.Sprintf("%s: %s %s", f.Origin, f.Level, f.Message)
}

// converted is a bundle object in istiod's internal form.
type converted struct {
	obj    scenario.Object
	schema resource.Schema
	cfg    config.Config
}

// creationTime is the creation timestamp of every simulated object. Istio breaks ties
// between conflicting resources by age; one fixed time plus apply order (kept by
// nudging each object by a nanosecond) reproduces what kubectl apply would give.
var creationTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// convert turns the bundle's Istio and Gateway API objects into istiod's config.Config,
// filling in the scenario namespace for objects that name none, as the cluster tier
// applies them. Objects istiod does not consume (core Kubernetes kinds) are returned
// in others. A document Istio cannot convert is a Finding of level Error.
func convert(b scenario.Bundle, namespace string) (cfgs, gwAPI []converted, others []scenario.Object, findings []Finding) {
	for i, o := range b {
		var kind crd.IstioKind
		if err := kubeyaml.Unmarshal(o.YAML, &kind); err != nil {
			findings = append(findings, errorAt(o, fmt.Sprintf("cannot read %s %s: %v", o.Kind, o.Name, err)))
			continue
		}
		gvk := kind.GroupVersionKind()
		s, ok := collections.PilotGatewayAPI().FindByGroupVersionAliasesKind(resource.FromKubernetesGVK(&gvk))
		if !ok || isGatewayAPI(o) {
			// Gateway API resources are validated here but reach istiod through
			// the Kubernetes client (kubeObjects), as on a cluster.
			if ok {
				c, err := crd.ConvertObject(s, &kind, "cluster.local")
				if err != nil {
					findings = append(findings, errorAt(o, fmt.Sprintf("%s %s: %v", o.Kind, o.Name, err)))
				} else {
					gwAPI = append(gwAPI, converted{obj: o, schema: s, cfg: *c})
				}
				continue
			}
			others = append(others, o)
			continue
		}
		if kind.Namespace == "" && !s.IsClusterScoped() {
			kind.Namespace = namespace
			if o.Namespace != "" {
				kind.Namespace = o.Namespace // an apply entry's namespace
			}
		}
		c, err := crd.ConvertObject(s, &kind, "cluster.local")
		if err != nil {
			findings = append(findings, errorAt(o, fmt.Sprintf("%s %s: %v", o.Kind, o.Name, err)))
			continue
		}
		c.CreationTimestamp = creationTime.Add(time.Duration(i))
		cfgs = append(cfgs, converted{obj: o, schema: s, cfg: *c})
	}
	return cfgs, gwAPI, others, findings
}

func errorAt(o scenario.Object, msg string) Finding {
	return Finding{Origin: fmt.Sprintf("%s:%d", o.File, o.Line), Level: "Error", Message: msg}
}

// validate runs Istio's own validation (the code behind istiod's validating webhook)
// on every converted object. Warnings are reported, errors fail the step.
func validate(cfgs []converted) []Finding {
	var out []Finding
	for _, c := range cfgs {
		warn, err := c.schema.ValidateConfig(c.cfg)
		if err != nil {
			out = append(out, errorAt(c.obj, fmt.Sprintf("%s %s is rejected by Istio's validation: %v", c.obj.Kind, c.obj.Name, err)))
		}
		if warn != nil {
			out = append(out, Finding{
				Origin: fmt.Sprintf("%s:%d", c.obj.File, c.obj.Line), Level: "Warning",
				Message: fmt.Sprintf("%s %s: %v", c.obj.Kind, c.obj.Name, warn),
			})
		}
	}
	return out
}

// harnessObjects are the objects the cluster tier itself adds before any bundle:
// in every client namespace, the Sidecar that sets the scenario's outbound
// traffic policy (world.OutboundPolicies, rendered by pkg/mesh.Sidecar, which
// deploy.ApplyBundle applies). The offline tier simulates them too, so both tiers
// judge the same configuration. They are returned as bundle objects so that they
// go through the same conversion as the user's files.
func harnessObjects(s *scenario.Scenario, w world.World) (scenario.Bundle, error) {
	var out scenario.Bundle
	for _, p := range w.OutboundPolicies {
		sc, err := mesh.Sidecar(p.Namespace, p.Mode)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		y, err := kubeyaml.Marshal(sc)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: encoding the harness Sidecar: %w", s.Name, err)
		}
		out = append(out, scenario.Object{
			File: "(harness) Sidecar " + sc.Namespace + "/" + sc.Name, Line: 1,
			APIVersion: sc.APIVersion, Kind: sc.Kind, Name: sc.Name, Namespace: sc.Namespace,
			Typed: sc, YAML: y,
		})
	}
	return out, nil
}

// isGatewayAPI reports whether an object is a Kubernetes Gateway API resource.
func isGatewayAPI(o scenario.Object) bool {
	return strings.HasPrefix(o.APIVersion, "gateway.networking.k8s.io/")
}

// kubeObjects renders what istiod reads from the Kubernetes API rather than from
// its Istio config store: Gateway API resources, which its gateway controller
// converts, and ServiceEntries, which HTTPRoutes may name as parents. On a cluster
// both come from the API server; in the fake discovery server they must be in its
// Kubernetes client. The GatewayClass "istio" is what istiod creates at start-up.
func kubeObjects(b scenario.Bundle, namespace string) (string, error) {
	var out strings.Builder
	hasGatewayAPI := false
	for _, o := range b {
		if !isGatewayAPI(o) && !(o.Kind == "ServiceEntry" && strings.HasPrefix(o.APIVersion, "networking.istio.io/")) {
			continue
		}
		hasGatewayAPI = hasGatewayAPI || isGatewayAPI(o)
		ns := namespace
		if o.Namespace != "" {
			ns = o.Namespace
		}
		y, err := asServed(o.YAML, ns)
		if err != nil {
			return "", fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
		out.WriteString("\n---\n")
		out.Write(y)
	}
	if hasGatewayAPI {
		out.WriteString("\n---\n" + istioGatewayClass)
	}
	return out.String(), nil
}

const istioGatewayClass = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: istio
spec:
  controllerName: istio.io/gateway-controller
`

// asServed is a document as istiod's informers get it from the API server:
// in the scenario namespace when it names none, as `kubectl apply -n` would, and
// at the API version istiod watches. The API server stores a Gateway API object at
// its CRD's storage version and serves it at any served version; the CRDs convert
// with strategy None (only apiVersion changes: config/crd of
// sigs.k8s.io/gateway-api). istiod watches one version per kind (TLSRoute at v1:
// gvr.TLSRoute, pilot/pkg/config/kube/gateway/controller.go), so a TLSRoute
// written at v1alpha2, as istio.io's egress tasks write it, must reach the fake
// client at v1, or istiod never sees it. Istio's own CRDs work the same way
// (every version served, conversion None, manifests/charts/base/files/
// crd-all.gen.yaml), and the gateway controller watches ServiceEntries at v1 only
// (gvr.ServiceEntry): a v1alpha3 ServiceEntry, as every istio.io page writes it,
// is the parent of an HTTPRoute or TLSRoute only once it is served at v1.
func asServed(doc []byte, namespace string) ([]byte, error) {
	var m map[string]any
	if err := kubeyaml.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		m["metadata"] = meta
	}
	if ns, _ := meta["namespace"].(string); ns == "" {
		meta["namespace"] = namespace
	}
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	if gv, err := schema.ParseGroupVersion(apiVersion); err == nil {
		if s, ok := collections.PilotGatewayAPI().FindByGroupVersionAliasesKind(resource.FromKubernetesGVK(&schema.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: kind})); ok {
			m["apiVersion"] = s.GroupVersionKind().GroupVersion()
		}
	}
	return kubeyaml.Marshal(m)
}
