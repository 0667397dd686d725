package mesh

import (
	"encoding/json"
	"strings"
	"testing"

	apinetworkingv1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/yaml"
)

func TestSidecar(t *testing.T) {
	for _, c := range []struct {
		mode     string
		want     apinetworkingv1.OutboundTrafficPolicy_Mode
		wantJSON string
	}{
		{AllowAny, apinetworkingv1.OutboundTrafficPolicy_ALLOW_ANY, `{"outboundTrafficPolicy":{"mode":"ALLOW_ANY"}}`},
		{"", apinetworkingv1.OutboundTrafficPolicy_ALLOW_ANY, `{"outboundTrafficPolicy":{"mode":"ALLOW_ANY"}}`},
		// REGISTRY_ONLY is the enum's zero value: set, but printed as {}.
		{RegistryOnly, apinetworkingv1.OutboundTrafficPolicy_REGISTRY_ONLY, `{"outboundTrafficPolicy":{}}`},
	} {
		t.Run(c.mode, func(t *testing.T) {
			sc, err := Sidecar("egress-http-abc", c.mode)
			if err != nil {
				t.Fatal(err)
			}
			if sc.APIVersion != "networking.istio.io/v1" || sc.Kind != "Sidecar" ||
				sc.Name != SidecarName || sc.Namespace != "egress-http-abc" {
				t.Errorf("meta = %v %v", sc.TypeMeta, sc.ObjectMeta)
			}
			if sc.Spec.GetWorkloadSelector() != nil || len(sc.Spec.GetEgress()) != 0 || len(sc.Spec.GetIngress()) != 0 {
				t.Errorf("spec sets more than the policy: %v", &sc.Spec)
			}

			spec, err := json.Marshal(&sc.Spec)
			if err != nil {
				t.Fatal(err)
			}
			if string(spec) != c.wantJSON {
				t.Errorf("spec JSON = %s, want %s", spec, c.wantJSON)
			}

			// What the API server stores is what istiod reads back.
			b, err := yaml.Marshal(sc)
			if err != nil {
				t.Fatal(err)
			}
			var back networkingv1.Sidecar
			if err := yaml.UnmarshalStrict(b, &back); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			p := back.Spec.GetOutboundTrafficPolicy()
			if p == nil || p.GetMode() != c.want {
				t.Errorf("round trip of\n%s\ngives policy %v, want mode %v", b, p, c.want)
			}
			if !strings.Contains(string(b), "kind: Sidecar") || !strings.Contains(string(b), "name: "+SidecarName) {
				t.Errorf("YAML:\n%s", b)
			}
		})
	}
}

func TestSidecarRefusesBadInput(t *testing.T) {
	if _, err := Sidecar("ns", "ALLOW_ANY_DYNAMIC_DNS"); err == nil {
		t.Error("a mode the Sidecar API does not have was accepted")
	}
	if _, err := Sidecar("ns", "allow_any"); err == nil {
		t.Error("a lower-case mode was accepted")
	}
	if _, err := Sidecar("", AllowAny); err == nil {
		t.Error("an empty namespace was accepted")
	}
}
