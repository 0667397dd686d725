package external

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

func TestSupportsSeedScenario(t *testing.T) {
	s, err := scenario.LoadWith("../../scenarios/egress-gateway-http", scenario.Options{WorkloadsDir: "../../fixtures/workloads"})
	if err != nil {
		t.Fatal(err)
	}
	ok, reason := Supports(s)
	if !ok || reason != "" {
		t.Errorf("Supports(egress-gateway-http) = %v, %q; want true with no conditions", ok, reason)
	}
	st, err := New(Config{}, nil) // HTTP-only stand-in serves it too
	if err != nil {
		t.Fatal(err)
	}
	if ok, reason := st.Supports(s); !ok {
		t.Errorf("HTTP-only stand-in: %q", reason)
	}
}

func obj(kind, name, doc string) scenario.Object {
	return scenario.Object{Kind: kind, Name: name, File: strings.ToLower(kind) + ".yaml", Line: 1, YAML: []byte(doc)}
}

func oneStep(url string, bundle ...scenario.Object) *scenario.Scenario {
	return &scenario.Scenario{Name: "x", Steps: []scenario.Step{{
		Name: "s1", Request: scenario.Request{URL: url}, Bundle: bundle,
		Expect: scenario.Expect{Route: scenario.RouteDirect},
	}}}
}

const drSimple = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate}
spec:
  host: httpbin.org
  trafficPolicy:
    portLevelSettings:
    - port: {number: 443}
      tls: {mode: SIMPLE}
`

func TestSupports(t *testing.T) {
	for name, tc := range map[string]struct {
		s      *scenario.Scenario
		ok     bool
		reason string
	}{
		"http":              {oneStep("http://httpbin.org/ip"), true, ""},
		"http explicit 80":  {oneStep("http://httpbin.org:80/headers"), true, ""},
		"http to 443":       {oneStep("http://httpbin.org:443/ip"), true, ""},
		"https passthrough": {oneStep("https://httpbin.org/ip"), true, NeedsCurlTrust},
		"upper-case host":   {oneStep("http://HTTPBIN.org/ip"), true, ""},
		"other host":        {oneStep("http://edition.cnn.com/politics"), false, `does not impersonate "edition.cnn.com"`},
		"other port":        {oneStep("http://httpbin.org:8080/ip"), false, "port 8080"},
		"other scheme":      {oneStep("ftp://httpbin.org/"), false, `scheme "ftp"`},
		"tls origination":   {oneStep("http://httpbin.org/ip", obj("DestinationRule", "originate", drSimple)), true, NeedsCAAdapt},
		"insecureSkipVerify": {oneStep("http://httpbin.org/ip", obj("DestinationRule", "skip",
			strings.Replace(drSimple, "{mode: SIMPLE}", "{mode: SIMPLE, insecureSkipVerify: true}", 1))), true, ""},
		"mutual": {oneStep("http://httpbin.org/ip", obj("DestinationRule", "mtls",
			strings.Replace(drSimple, "{mode: SIMPLE}", "{mode: MUTUAL, credentialName: client-credential}", 1))), false, "MUTUAL"},
		"own caCertificates": {oneStep("http://httpbin.org/ip", obj("DestinationRule", "ca",
			strings.Replace(drSimple, "{mode: SIMPLE}", "{mode: SIMPLE, caCertificates: /etc/certs/ca.pem}", 1))), false, "caCertificates"},
		"own credentialName": {oneStep("http://httpbin.org/ip", obj("DestinationRule", "cred",
			strings.Replace(drSimple, "{mode: SIMPLE}", "{mode: SIMPLE, credentialName: my-ca}", 1))), false, "credentialName"},
		"DR for another host": {oneStep("http://httpbin.org/ip", obj("DestinationRule", "other",
			strings.Replace(drSimple, "host: httpbin.org", "host: example.com", 1))), true, ""},
		"DR ISTIO_MUTUAL to the gateway": {oneStep("http://httpbin.org/ip", obj("DestinationRule", "gw", `kind: DestinationRule
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: httpbin
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL, sni: httpbin.org}}
`)), true, ""},
		"ServiceEntry endpoint elsewhere": {oneStep("http://httpbin.org/ip", obj("ServiceEntry", "se", `kind: ServiceEntry
spec:
  hosts: [httpbin.org]
  resolution: DNS
  endpoints: [{address: 203.0.113.7}]
`)), false, `endpoint "203.0.113.7"`},
		"ServiceEntry endpoint is the host": {oneStep("http://httpbin.org/ip", obj("ServiceEntry", "se", `kind: ServiceEntry
spec:
  hosts: [httpbin.org]
  resolution: DNS
  endpoints: [{address: httpbin.org}]
`)), true, ""},
		"https and origination": {oneStep("https://httpbin.org/ip", obj("DestinationRule", "originate", drSimple)), true,
			NeedsCurlTrust + "; " + NeedsCAAdapt},
		"nil": {nil, false, "no scenario"},
	} {
		ok, reason := Supports(tc.s)
		if ok != tc.ok || (tc.reason == "" && reason != "") || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: Supports = %v, %q; want %v, %q", name, ok, reason, tc.ok, tc.reason)
		}
	}
}

func TestSupportsNamesTheStepAndFile(t *testing.T) {
	s := oneStep("http://httpbin.org/ip", obj("DestinationRule", "mtls",
		strings.Replace(drSimple, "{mode: SIMPLE}", "{mode: MUTUAL}", 1)))
	_, reason := Supports(s)
	for _, want := range []string{"step s1", "DestinationRule mtls", "destinationrule.yaml:1", "spec.trafficPolicy.portLevelSettings[0].tls"} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q lacks %q", reason, want)
		}
	}
}

func TestSupportsWithoutTLS(t *testing.T) {
	st, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*scenario.Scenario{
		oneStep("https://httpbin.org/ip"),
		oneStep("http://httpbin.org/ip", obj("DestinationRule", "originate", drSimple)),
	} {
		if ok, reason := st.Supports(s); ok || !strings.Contains(reason, "no TLS") {
			t.Errorf("HTTP-only stand-in: %v, %q", ok, reason)
		}
	}
}

func TestAdaptDestinationRule(t *testing.T) {
	st, err := New(Config{}, mustCA(t))
	if err != nil {
		t.Fatal(err)
	}
	out, ns, err := st.AdaptDestinationRule([]byte(drSimple), "egress-tls")
	if err != nil {
		t.Fatal(err)
	}
	if ns != "egress-tls" {
		t.Errorf("CA namespace %q", ns)
	}
	var m map[string]any
	if err := yaml.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	tls := m["spec"].(map[string]any)["trafficPolicy"].(map[string]any)["portLevelSettings"].([]any)[0].(map[string]any)["tls"].(map[string]any)
	if tls["credentialName"] != "configmap://egress-tls/"+CAConfigMapName || tls["mode"] != "SIMPLE" {
		t.Errorf("adapted tls %v", tls)
	}
	// Idempotent: an adapted rule is not adapted again.
	again, ns2, err := st.AdaptDestinationRule(out, "egress-tls")
	if err != nil || ns2 != "" || string(again) != string(out) {
		t.Errorf("second adaptation: ns %q err %v", ns2, err)
	}
	// metadata.namespace wins over the default namespace.
	withNS := strings.Replace(drSimple, "metadata: {name: originate}", "metadata: {name: originate, namespace: istio-system}", 1)
	if _, ns, _ := st.AdaptDestinationRule([]byte(withNS), "egress-tls"); ns != "istio-system" {
		t.Errorf("CA namespace %q, want the rule's own", ns)
	}
	// Subsets are adapted too.
	subset := `kind: DestinationRule
metadata: {name: s}
spec:
  host: httpbin.org
  subsets:
  - name: tls
    trafficPolicy: {tls: {mode: SIMPLE, sni: httpbin.org}}
`
	out, _, err = st.AdaptDestinationRule([]byte(subset), "ns1")
	if err != nil || !strings.Contains(string(out), "credentialName: configmap://ns1/"+CAConfigMapName) || !strings.Contains(string(out), "sni: httpbin.org") {
		t.Errorf("subset: err %v\n%s", err, out)
	}

	// Left byte for byte: other kinds, other hosts, no TLS, insecureSkipVerify.
	for name, doc := range map[string]string{
		"service entry": "kind: ServiceEntry\nspec: {hosts: [httpbin.org]}\n",
		"other host":    strings.Replace(drSimple, "host: httpbin.org", "host: example.com", 1),
		"no tls":        "kind: DestinationRule\nspec: {host: httpbin.org}\n",
		"skip verify":   strings.Replace(drSimple, "{mode: SIMPLE}", "{mode: SIMPLE, insecureSkipVerify: true}", 1),
	} {
		out, ns, err := st.AdaptDestinationRule([]byte(doc), "ns1")
		if err != nil || ns != "" || string(out) != doc {
			t.Errorf("%s: changed (ns %q, err %v):\n%s", name, ns, err, out)
		}
	}
	// Refused: MUTUAL, own CA; no TLS stand-in; no namespace; invalid YAML.
	for name, tc := range map[string]struct {
		st  *Standin
		doc string
		ns  string
	}{
		"mutual":  {st, strings.Replace(drSimple, "{mode: SIMPLE}", "{mode: MUTUAL}", 1), "ns"},
		"own ca":  {st, strings.Replace(drSimple, "{mode: SIMPLE}", "{mode: SIMPLE, caCertificates: /x}", 1), "ns"},
		"no ns":   {st, drSimple, ""},
		"invalid": {st, "kind: [", "ns"},
		"no tls":  {&Standin{Config: st.Config}, drSimple, "ns"},
	} {
		if _, _, err := tc.st.AdaptDestinationRule([]byte(tc.doc), tc.ns); err == nil {
			t.Errorf("%s: adapted", name)
		}
	}
}
