package offline

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

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

// An HTTP proxy the scenario deploys is a pod to the NetworkPolicy matcher: a
// policy that lets a namespace out only to the proxy's pods (selected by label
// and namespace) lets the proxied request reach it and stops the direct one;
// the proxy's own ingress policy can still shut the namespace out. Judged on
// the proxy's offline address, as an address outside the cluster, the first
// step would be denied.
func TestNetworkPolicyToAWorkload(t *testing.T) {
	s := loadTestdata(t, "network-policy-proxy")
	for i, want := range []string{
		"client: pod egress-network-policy-proxy/curl (10.244.1.11) → pod proxy/squid (10.244.9.10):3128/TCP: allowed " +
			"(egress allowed by egress-network-policy-proxy/only-to-proxy; no policy selects the destination for ingress)",
		"→ external 203.0.113.10:443/TCP: DENIED",
		"→ pod proxy/squid (10.244.9.10):3128/TCP: DENIED (egress allowed by egress-network-policy-proxy/only-to-proxy; " +
			"ingress of the destination selected by proxy/proxy-from-team-a-only, none allows it)",
	} {
		j := Judge(s, i, Options{})
		if !j.Passed() {
			t.Errorf("step %s failed:\n%s", j.Step, j.Message())
		}
		var hops []string
		if j.Network != nil {
			for _, h := range j.Network.Hops {
				hops = append(hops, h.String())
			}
		}
		if got := strings.Join(hops, "\n"); !strings.Contains(got, want) {
			t.Errorf("step %s: network hops lack %q:\n%s", j.Step, want, got)
		}
	}
}

// workloadPeer and clientPeer label a workload's pod app=<file name>: every
// file under fixtures/workloads/ must label its pod template so.
func TestWorkloadFixturesLabelAppByName(t *testing.T) {
	files, err := filepath.Glob("../../fixtures/workloads/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no workload fixtures: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		deployments := 0
		for {
			var d appsv1.Deployment
			if err := dec.Decode(&d); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if d.Kind != "Deployment" {
				continue
			}
			deployments++
			if got := d.Spec.Template.Labels["app"]; got != name {
				t.Errorf("%s: Deployment %s labels its pods app=%q, want app=%s", f, d.Name, got, name)
			}
		}
		if deployments != 1 {
			t.Errorf("%s: %d Deployments, want one", f, deployments)
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
