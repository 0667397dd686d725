package scenario

import (
	"strings"
	"testing"

	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
)

// The ServiceEntry of istio.io's http-proxy task exactly as the page gives it
// (content/en/docs/tasks/traffic-management/egress/http-proxy/index.md,
// "Configure traffic to external HTTPS proxy"): $PROXY_PORT stands where YAML
// wants a number, so the substitution must happen before decoding.
const seProxy = `apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: proxy
spec:
  hosts:
  - my-company-proxy.com # ignored
  addresses:
  - $PROXY_IP/32
  ports:
  - number: $PROXY_PORT
    name: tcp
    protocol: TCP
  location: MESH_EXTERNAL
`

const proxyScenario = `apiVersion: egress-conformance.io/v1alpha1
kind: Scenario
name: proxy
client: sleep
workloads:
- {name: proxy, workload: squid, namespace: external}
variables:
- {name: PROXY_IP, podIP: proxy}
- {name: PROXY_PORT, value: "3128"}
steps:
- name: through-proxy
  apply: [se.yaml]
  request: {url: https://en.wikipedia.org/wiki/Main_Page, proxy: "http://${PROXY_IP}:$PROXY_PORT"}
  expect: {route: direct}
`

// TestVariables: the offline tier reads the stand-in pod IP, the cluster tier
// the run's, both from the document as written.
func TestVariables(t *testing.T) {
	dir := writeScenario(t, map[string]string{"scenario.yaml": proxyScenario, "se.yaml": seProxy})
	s, err := LoadWith(dir, withWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.WorkloadRefs(); len(got) != 1 || got[0].Namespace != "external" || got[0].StandinIP != "10.244.9.10" {
		t.Fatalf("WorkloadRefs = %+v", got)
	}
	o := s.Steps[0].Bundle[0]
	se := o.Typed.(*networkingv1alpha3.ServiceEntry)
	if se.Spec.Addresses[0] != "10.244.9.10/32" || se.Spec.Ports[0].Number != 3128 {
		t.Errorf("offline ServiceEntry: addresses %v port %d", se.Spec.Addresses, se.Spec.Ports[0].Number)
	}
	if !strings.Contains(string(o.Template), "$PROXY_IP/32") || !strings.Contains(string(o.YAML), "10.244.9.10/32") {
		t.Errorf("Template keeps the page's text, YAML the stand-in:\n%s\n%s", o.Template, o.YAML)
	}
	if s.Steps[0].Request.Proxy != "http://10.244.9.10:3128" || s.Steps[0].RequestAsWritten().Proxy != "http://${PROXY_IP}:$PROXY_PORT" {
		t.Errorf("request proxy %q (as written %q)", s.Steps[0].Request.Proxy, s.Steps[0].RequestAsWritten().Proxy)
	}

	run, err := s.WithPodIPs(map[string]string{"proxy": "10.244.1.7"})
	if err != nil {
		t.Fatal(err)
	}
	ro := run.Steps[0].Bundle[0]
	if a := ro.Typed.(*networkingv1alpha3.ServiceEntry).Spec.Addresses[0]; a != "10.244.1.7/32" || !strings.Contains(string(ro.YAML), "- 10.244.1.7/32") {
		t.Errorf("run ServiceEntry: addresses %s\n%s", a, ro.YAML)
	}
	if run.Steps[0].Request.Proxy != "http://10.244.1.7:3128" {
		t.Errorf("run request proxy %q", run.Steps[0].Request.Proxy)
	}
	if applied, _ := run.StepChanges(0); len(applied) != 1 || applied[0].Typed.(*networkingv1alpha3.ServiceEntry).Spec.Addresses[0] != "10.244.1.7/32" {
		t.Errorf("StepChanges of the run's copy: %+v", applied)
	}
	// The loaded scenario is unchanged.
	if se.Spec.Addresses[0] != "10.244.9.10/32" || s.Steps[0].Request.Proxy != "http://10.244.9.10:3128" {
		t.Error("WithPodIPs changed the scenario it copied")
	}
	if _, err := s.WithPodIPs(nil); err == nil || !strings.Contains(err.Error(), "no pod IP for workload proxy") {
		t.Errorf("WithPodIPs without the IP: %v", err)
	}
	if _, err := s.WithPodIPs(map[string]string{"proxy": "not-an-ip"}); err == nil {
		t.Error("WithPodIPs accepted a pod IP that is no IP")
	}
}

// TestVariablesErrors: each mistake names the file, line and field.
func TestVariablesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, scenario, want string
	}{
		{"undeclared workload", strings.Replace(proxyScenario, "podIP: proxy", "podIP: squid", 1),
			`scenario.yaml:8: variables[0].podIP: "squid" is not a workloads[].name`},
		{"both", strings.Replace(proxyScenario, "podIP: proxy}", "podIP: proxy, value: x}", 1),
			`scenario.yaml:8: variables[0].value: podIP and value are exclusive`},
		{"neither", strings.Replace(proxyScenario, "{name: PROXY_PORT, value: \"3128\"}", "{name: PROXY_PORT}", 1),
			`scenario.yaml:9: variables[1]: one of podIP`},
		{"bad name", strings.Replace(proxyScenario, "{name: PROXY_PORT,", "{name: PROXY-PORT,", 1),
			`scenario.yaml:9: variables[1].name: "PROXY-PORT" is not a shell variable name`},
		{"unused", strings.Replace(proxyScenario, "- {name: PROXY_PORT, value: \"3128\"}", "- {name: PROXY_PORT, value: \"3128\"}\n- {name: UNUSED, value: x}", 1),
			`scenario.yaml:10: variables[2].name: "UNUSED" is declared but no bundle file or request writes $UNUSED`},
		{"line break", strings.Replace(proxyScenario, `value: "3128"`, `value: "31\n28"`, 1),
			`scenario.yaml:9: variables[1].value: a value holds no line break`},
		{"missing fixture", strings.Replace(proxyScenario, "workload: squid", "workload: nginx", 1),
			`scenario.yaml:6: workloads[0].workload: "nginx" has no workload file`},
		{"in the mesh", strings.Replace(proxyScenario, "namespace: external}", "namespace: egress-proxy}", 1),
			`scenario.yaml:6: workloads[0].namespace: namespace egress-proxy holds a client in the mesh (client)`},
		{"reserved namespace", strings.Replace(proxyScenario, "namespace: external}", "namespace: istio-system}", 1),
			`scenario.yaml:6: workloads[0].namespace: "istio-system" is Kubernetes' or Istio's own namespace`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeScenario(t, map[string]string{"scenario.yaml": tc.scenario, "se.yaml": seProxy})
			_, err := LoadWith(dir, withWorkloads)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
