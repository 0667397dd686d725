package scenario

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	knetworkingv1 "k8s.io/api/networking/v1"
)

// writeScenario writes files into a fresh scenario directory.
func writeScenario(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const seHTTPBin = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: httpbin
spec:
  hosts: [httpbin.org]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
`

// TestStepsChangeTheBundle: delete removes a file's objects, a later file
// replaces an object of the same kind, namespace and name in place (also across
// API versions, as the API server stores one object), and an apply entry's
// namespace places the objects that name none.
func TestStepsChangeTheBundle(t *testing.T) {
	dir := writeScenario(t, map[string]string{
		"scenario.yaml": `apiVersion: egress-conformance.io/v1alpha1
kind: Scenario
name: steps
client: sleep
clients:
- {name: bare, namespace: test-egress, injected: false}
steps:
- name: add
  apply: [se.yaml, {file: np.yaml, namespace: test-egress}, gw.yaml]
  request: {url: http://httpbin.org/ip}
  expect: {route: direct}
- name: redefine
  apply: [se-v1alpha3.yaml]
  request: {url: http://httpbin.org/ip}
  expect: {route: direct}
- name: remove
  delete: [se.yaml]
  request: {url: http://httpbin.org/ip, from: bare}
  expect: {route: blocked}
- name: back
  apply: [se.yaml]
  request: {url: http://httpbin.org/ip}
  expect: {route: direct}
`,
		"se.yaml":          seHTTPBin,
		"se-v1alpha3.yaml": "apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: httpbin\nspec:\n  hosts: [httpbin.org]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n  resolution: DNS\n",
		"np.yaml":          "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny-egress\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n",
		"gw.yaml":          "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: egress\n  namespace: istio-system\nspec:\n  selector: {istio: egressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [httpbin.org]}]\n",
	})
	s, err := LoadWith(dir, withWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	names := func(b Bundle) []string {
		var out []string
		for _, o := range b {
			out = append(out, o.File+" "+o.Kind+" "+o.Namespace+"/"+o.Name)
		}
		return out
	}
	want := [][]string{
		{"se.yaml ServiceEntry /httpbin", "np.yaml NetworkPolicy test-egress/deny-egress", "gw.yaml Gateway istio-system/egress"},
		{"se-v1alpha3.yaml ServiceEntry /httpbin", "np.yaml NetworkPolicy test-egress/deny-egress", "gw.yaml Gateway istio-system/egress"},
		{"np.yaml NetworkPolicy test-egress/deny-egress", "gw.yaml Gateway istio-system/egress"},
		{"np.yaml NetworkPolicy test-egress/deny-egress", "gw.yaml Gateway istio-system/egress", "se.yaml ServiceEntry /httpbin"},
	}
	for i, st := range s.Steps {
		if got := names(st.Bundle); !slices.Equal(got, want[i]) {
			t.Errorf("step %s bundle = %q, want %q", st.Name, got, want[i])
		}
	}
	if _, ok := s.Steps[0].Bundle[0].Typed.(*networkingv1.ServiceEntry); !ok {
		t.Errorf("step add: %T", s.Steps[0].Bundle[0].Typed)
	}
	if _, ok := s.Steps[1].Bundle[0].Typed.(*networkingv1alpha3.ServiceEntry); !ok {
		t.Errorf("step redefine: %T", s.Steps[1].Bundle[0].Typed)
	}
	if _, ok := s.Steps[0].Bundle[1].Typed.(*knetworkingv1.NetworkPolicy); !ok {
		t.Errorf("NetworkPolicy decoded as %T", s.Steps[0].Bundle[1].Typed)
	}
	if got := s.Steps[0].Apply[1]; got.File != "np.yaml" || got.Namespace != "test-egress" {
		t.Errorf("apply[1] = %+v", got)
	}
	if got := s.ClientFor(s.Steps[2].Request); got.Injected || got.Namespace != "test-egress" {
		t.Errorf("client bare = %+v", got)
	}
	if got := s.Steps[2].Delete; !slices.Equal(got, []string{"se.yaml"}) {
		t.Errorf("delete = %q", got)
	}
	// What each step does to a cluster: the replacement is applied, the delete
	// removes the replaced object (kubectl delete -f se.yaml deletes it by name).
	changes := [][2][]string{
		{want[0], nil},
		{{"se-v1alpha3.yaml ServiceEntry /httpbin"}, nil},
		{nil, {"se-v1alpha3.yaml ServiceEntry /httpbin"}},
		{{"se.yaml ServiceEntry /httpbin"}, nil},
	}
	for i, st := range s.Steps {
		applied, deleted := s.StepChanges(i)
		if got := names(applied); !slices.Equal(got, changes[i][0]) {
			t.Errorf("step %s applies %q, want %q", st.Name, got, changes[i][0])
		}
		if got := names(deleted); !slices.Equal(got, changes[i][1]) {
			t.Errorf("step %s deletes %q, want %q", st.Name, got, changes[i][1])
		}
	}
	if a, d := s.StepChanges(4); a != nil || d != nil {
		t.Error("an out-of-range step has changes")
	}
}

// TestStepChangesReapply: a step that deletes a file and applies it again
// deletes its objects and creates them anew, as kubectl delete -f; apply -f.
func TestStepChangesReapply(t *testing.T) {
	se := Object{File: "se.yaml", Line: 1, APIVersion: "networking.istio.io/v1", Kind: "ServiceEntry", Name: "httpbin"}
	np := Object{File: "np.yaml", Line: 1, APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Name: "np"}
	s := &Scenario{Steps: []Step{
		{Apply: []ApplyFile{{File: "se.yaml"}, {File: "np.yaml"}}, Bundle: Bundle{se, np}},
		{Delete: []string{"./se.yaml"}, Apply: []ApplyFile{{File: "se.yaml"}}, Bundle: Bundle{np, se}},
		{Bundle: Bundle{np, se}},
	}}
	a, d := s.StepChanges(1)
	if len(a) != 1 || a[0].File != "se.yaml" || len(d) != 1 || d[0].File != "se.yaml" {
		t.Errorf("re-apply: applied %v deleted %v, want se.yaml in both", a, d)
	}
	if a, d := s.StepChanges(2); a != nil || d != nil {
		t.Errorf("a step that only probes changes %v / %v", a, d)
	}
}

func TestRequestOptions(t *testing.T) {
	dir := writeScenario(t, map[string]string{
		"scenario.yaml": `apiVersion: egress-conformance.io/v1alpha1
kind: Scenario
name: request
client: sleep
mesh: {outboundTrafficPolicy: REGISTRY_ONLY}
steps:
- name: spoof
  request:
    url: https://httpbin.org/status/302
    method: HEAD
    headers: ["Host: example.org", "X-Test: 1"]
    resolve: ["httpbin.org:443:192.0.2.7"]
    proxy: http://10.0.0.5:3128
    followRedirects: true
  expect: {route: blocked, status: 302}
`,
	})
	s, err := LoadWith(dir, withWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Steps[0].Request
	want := []string{"-I", "-H", "Host: example.org", "-H", "X-Test: 1", "--resolve", "httpbin.org:443:192.0.2.7", "-x", "http://10.0.0.5:3128", "-L"}
	if got := r.CurlArgs(); !reflect.DeepEqual(got, want) {
		t.Errorf("CurlArgs = %q, want %q", got, want)
	}
	if h, ok := r.Header("host"); !ok || h != "example.org" {
		t.Errorf("Header(host) = %q %v", h, ok)
	}
	if a, ok := r.Resolved(); !ok || a != "192.0.2.7" {
		t.Errorf("Resolved = %q %v", a, ok)
	}
	if got := (Request{URL: "http://x/", Method: "POST"}).CurlArgs(); !slices.Equal(got, []string{"-X", "POST"}) {
		t.Errorf("POST CurlArgs = %q", got)
	}
	if got := (Request{URL: "http://x/"}).CurlArgs(); len(got) != 0 {
		t.Errorf("a v1alpha1 request gets curl options %q", got)
	}
}
