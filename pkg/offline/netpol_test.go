package offline

import (
	"strings"
	"testing"

	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// TestNetworkPolicyVerdicts walks testdata/network-policy: each step's route is
// the NetworkPolicy matcher's verdict on the connections the request makes.
func TestNetworkPolicyVerdicts(t *testing.T) {
	s := loadTestdata(t, "network-policy")
	hops := func(j Judgement) string {
		var out []string
		if j.Network != nil {
			for _, h := range j.Network.Hops {
				out = append(out, h.String())
			}
		}
		return strings.Join(out, "\n")
	}
	for i, tc := range []struct {
		pass     bool
		contains []string
	}{
		// The task's policy: DNS allowed, the external address denied.
		{true, []string{"DNS lookup of httpbin.org", "→ pod kube-system/coredns (10.244.0.3):53/UDP: allowed",
			"→ external 203.0.113.10:80/TCP: DENIED"}},
		// The injected client: xDS, DNS, its sidecar to the gateway pod's target
		// port, the gateway out (no policy selects the gateway).
		{true, []string{"istiod (10.244.0.5):15012/TCP: allowed", "istio-egressgateway (10.244.0.20):8080/TCP: allowed",
			"egress gateway: pod istio-system/istio-egressgateway (10.244.0.20) → external 203.0.113.10:80/TCP: allowed (no policy selects the source for egress)"}},
		// The gateway's ingress policy refuses the client.
		{true, []string{"8080/TCP: DENIED (egress allowed by", "ingress of the destination selected by istio-system/gateway-only-from-elsewhere, none allows it"}},
		// Cut off from istiod: a defect whatever the step expects.
		{false, []string{"15012/TCP: DENIED"}},
		// The excluded range goes around the sidecar; the ipBlock lets it out.
		{true, []string{"→ external 203.0.113.10:80/TCP: allowed (egress allowed by egress-network-policy-ranges/ipblock)"}},
	} {
		j := Judge(s, i, Options{})
		if j.Passed() != tc.pass {
			t.Errorf("step %s: passed %v, want %v\n%s", j.Step, j.Passed(), tc.pass, j.Message())
		}
		got := hops(j)
		for _, want := range tc.contains {
			if !strings.Contains(got, want) {
				t.Errorf("step %s: network hops lack %q:\n%s", j.Step, want, got)
			}
		}
		if i == 3 && !strings.Contains(strings.Join(j.Blocking, "\n"), "never Ready") {
			t.Errorf("step %s: blocking %q, want the sidecar cut off from istiod", j.Step, j.Blocking)
		}
	}
}

// A policy the API server would refuse (endPort below port) makes the matcher
// panic; it is reported at the policy's file and line instead.
func TestInvalidNetworkPolicyNamesItsFile(t *testing.T) {
	port, end := intstr.FromInt32(100), int32(50)
	np := &knetworkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "ns"},
		Spec: knetworkingv1.NetworkPolicySpec{PolicyTypes: []knetworkingv1.PolicyType{knetworkingv1.PolicyTypeEgress},
			Egress: []knetworkingv1.NetworkPolicyEgressRule{{Ports: []knetworkingv1.NetworkPolicyPort{{Port: &port, EndPort: &end}}}}}}
	_, err := buildPolicy([]*knetworkingv1.NetworkPolicy{np}, []scenario.Object{{File: "np.yaml", Line: 3}})
	if err == nil || !strings.HasPrefix(err.Error(), "np.yaml:3: NetworkPolicy bad:") {
		t.Errorf("err = %v, want it at np.yaml:3", err)
	}
}

func TestBypassesSidecar(t *testing.T) {
	for _, tc := range []struct {
		ann     map[string]string
		addr    string
		port    int
		want    string
		wantErr string
	}{
		{nil, "203.0.113.10", 80, "", ""},
		{map[string]string{"traffic.sidecar.istio.io/excludeOutboundPorts": "443,80"}, "203.0.113.10", 80, "excludes port 80", ""},
		{map[string]string{"traffic.sidecar.istio.io/excludeOutboundPorts": "443"}, "203.0.113.10", 80, "", ""},
		{map[string]string{"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.0/8,203.0.113.0/24"}, "203.0.113.10", 80, "holds 203.0.113.10", ""},
		{map[string]string{"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.0/8"}, "203.0.113.10", 80, "", ""},
		{map[string]string{"traffic.sidecar.istio.io/excludeOutboundPorts": "eighty"}, "203.0.113.10", 80, "", "excludeOutboundPorts invalid"},
		{map[string]string{"traffic.sidecar.istio.io/excludeOutboundIPRanges": "203.0.113.0"}, "203.0.113.10", 80, "", "excludeIPRanges invalid"},
	} {
		got, err := bypassesSidecar(tc.ann, tc.addr, tc.port)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err %v, want %q", tc.ann, err, tc.wantErr)
			}
		case err != nil || (tc.want == "") != (got == "") || !strings.Contains(got, tc.want):
			t.Errorf("%v to %s:%d: %q, %v; want %q", tc.ann, tc.addr, tc.port, got, err, tc.want)
		}
	}
}
