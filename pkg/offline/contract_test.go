package offline

import (
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/expect"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// TestHostSpoofRegistryOnly pins what Istio's simulation does with a request to
// an address outside the registry that names a registered host in its Host
// header: the sidecar's HTTP listener picks the virtual host by Host
// (pilot/pkg/simulation/traffic.go: matchVirtualHost on the Host header), so the
// request goes to the registered host's DNS cluster, whose upstream Envoy
// resolves itself: the spoofed address is never dialled. Without the Host
// header the IP matches no virtual host but block_all (502), and a registered
// name with an unregistered Host is blocked too.
func TestHostSpoofRegistryOnly(t *testing.T) {
	s := loadTestdata(t, "host-spoof")
	for i, st := range s.Steps {
		j := Judge(s, i, Options{})
		if !j.Passed() || j.NotObservable != "" {
			t.Errorf("step %s:\n%s", st.Name, j.Message())
		}
	}
	j := Judge(s, 0, Options{})
	if got := j.Path.Sidecar.Call; !strings.Contains(got, "httpbin.org:80") {
		t.Errorf("the sidecar hop's call %q does not carry the spoofed Host", got)
	}
	if j.Path.Sidecar.Listener != "0.0.0.0_80" {
		t.Errorf("spoof: listener %q, want 0.0.0.0_80 (HTTP, matched by Host)", j.Path.Sidecar.Listener)
	}
}

// TestDeleteStep: the wildcard task's cleanup deletes the ServiceEntry; under
// REGISTRY_ONLY the next request is blocked again, because the step's bundle
// no longer holds it.
func TestDeleteStep(t *testing.T) {
	s := loadTestdata(t, "wildcard-delete")
	if n := len(s.Steps[1].Bundle); n != 0 {
		t.Fatalf("step 2's bundle holds %d objects after the delete", n)
	}
	for i, st := range s.Steps {
		if j := Judge(s, i, Options{}); !j.Passed() {
			t.Errorf("step %s:\n%s", st.Name, j.Message())
		}
	}
	// The expectation is not vacuous: the deleted object must be gone.
	s.Steps[1].Expect.Route = scenario.RouteDirect
	if j := Judge(s, 1, Options{}); j.Passed() {
		t.Errorf("after the delete the request still goes direct:\n%s", j.Message())
	}
}

// TestNotObservableOffline: the injected client is simulated, and the
// uninjected one is judged by the network alone (no NetworkPolicy: it goes out
// on its own; curl's exit and the status are cluster evidence).
func TestNotObservableOffline(t *testing.T) {
	s := loadTestdata(t, "uninjected-client")
	j := Judge(s, 0, Options{})
	if !j.Passed() || j.NotObservable != "" || j.Path.Route != scenario.RouteDirect {
		t.Fatalf("injected client:\n%s", j.Message())
	}
	j = Judge(s, 1, Options{})
	if !j.Passed() || !j.NoSidecar || j.Network == nil || j.Path.Route != scenario.RouteDirect || len(j.Verdict.NotObservable()) != 1 {
		t.Errorf("uninjected client without a NetworkPolicy:\n%s", j.Message())
	}
	for _, c := range j.Verdict.NotObservable() {
		if c.Outcome == expect.Pass {
			t.Errorf("step %s: %s passes offline", j.Step, c.Field)
		}
	}
	// The uninjected pod is rendered without a sidecar, in the injected namespace.
	w := worldFor(s, nil)
	if w.Clients[2].Injected || !w.Clients[1].Injected {
		t.Errorf("world clients %+v", w.Clients)
	}
}

// TestHTTPProxy: a request through an HTTP proxy (curl -x) is the client's
// connection to the proxy's address and port. Under REGISTRY_ONLY the sidecar
// sends it to BlackHoleCluster until a TCP ServiceEntry with the proxy's IP in
// its addresses registers it; then to that ServiceEntry's cluster, as the
// sidecar log of istio.io's http-proxy task shows (test.sh: _verify_contains
// ... "outbound|3128||my-company-proxy.com"). The status the destination
// answers through the proxy stays not observable.
func TestHTTPProxy(t *testing.T) {
	s := loadTestdata(t, "http-proxy")
	for i, st := range s.Steps {
		j := Judge(s, i, Options{})
		if !j.Passed() || j.NotObservable != "" {
			t.Errorf("step %s:\n%s", st.Name, j.Message())
		}
	}
	j := Judge(s, 0, Options{})
	if j.Path.Sidecar.Cluster != "BlackHoleCluster" {
		t.Errorf("unregistered proxy: cluster %q, want BlackHoleCluster", j.Path.Sidecar.Cluster)
	}
	j = Judge(s, 1, Options{})
	if got := j.Path.Sidecar.Call; !strings.Contains(got, "CONNECT en.wikipedia.org:443 to the HTTP proxy 10.244.9.10:3128") {
		t.Errorf("the sidecar hop's call %q is not the CONNECT to the proxy", got)
	}
	if l := j.Path.Sidecar.Listener; l != "10.244.9.10_3128" {
		t.Errorf("listener %q, want the ServiceEntry address's TCP listener 10.244.9.10_3128", l)
	}
	if !strings.Contains(j.Path.Why, "not observable offline") {
		t.Errorf("why %q does not say the proxy's forwarding is not observable", j.Path.Why)
	}
	st := j.Verdict.NotObservable()
	if len(st) != 1 || st[0].Field != "expect.status" {
		t.Errorf("not observable: %+v, want the status alone", st)
	}
	// The client without a sidecar looks nothing up: it dials the proxy's IP,
	// the squid pod, and the proxy resolves en.wikipedia.org.
	if j := Judge(s, 3, Options{}); !j.Passed() || !j.NoSidecar || j.Network == nil || len(j.Network.Hops) != 1 ||
		!strings.Contains(j.Network.Hops[0].What, "→ pod external/squid (10.244.9.10):3128/TCP") {
		t.Errorf("client without a sidecar through the proxy:\n%s", j.Message())
	}
	// Not vacuous: the stand-in address must be the one the request dials.
	s.Steps[1].Request.Proxy = "http://10.244.9.99:3128"
	if j := Judge(s, 1, Options{}); j.Passed() || j.Path.Route != scenario.RouteBlocked {
		t.Errorf("a proxy at another address still gets out:\n%s", j.Message())
	}
}

func TestWithNamespace(t *testing.T) {
	doc := "# c\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  labels: {a: b}\nspec:\n  namespace: not-metadata\n"
	out, n := withNamespace([]byte(doc), "istio-system")
	want := "# c\napiVersion: v1\nkind: Secret\nmetadata:\n  namespace: istio-system\n  name: x\n  labels: {a: b}\nspec:\n  namespace: not-metadata\n"
	if string(out) != want || n != 5 {
		t.Errorf("withNamespace = %d\n%s", n, out)
	}
	named := "metadata:\n  name: x\n  namespace: mine\n"
	if out, n := withNamespace([]byte(named), "istio-system"); string(out) != named || n != 0 {
		t.Errorf("a document naming its namespace changed: %d %s", n, out)
	}
}
