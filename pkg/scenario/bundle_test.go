package scenario

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const serviceEntryWithTypo = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: httpbin
spec:
  hosts: [httpbin.org]
  ports:
  - number: 80
    nmber: 8080
    name: http
    protocol: HTTP
  resolution: DNS
`

const virtualServiceWithTypo = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts: [httpbin.org]
  htp:
  - route:
    - destination: {host: httpbin.org}
`

// TestStrictDecoderMissesIstioSpecFields pins why protowalk.go exists: the
// Kubernetes strict decoder accepts an unknown field inside an Istio spec,
// because istio.io/api unmarshals specs with jsonpb AllowUnknownFields. If this
// test fails, upstream changed: the walk may then be redundant (keep it for its
// lines and paths, or drop it).
func TestStrictDecoderMissesIstioSpecFields(t *testing.T) {
	for name, doc := range map[string]string{"ServiceEntry": serviceEntryWithTypo, "VirtualService": virtualServiceWithTypo} {
		obj, _, err := strictSerializer.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Errorf("%s: the strict decoder now refuses an unknown spec field: %v", name, err)
			continue
		}
		if obj == nil {
			t.Errorf("%s: no object", name)
		}
	}
	// It does catch unknown fields outside the spec.
	bad := strings.Replace(serviceEntryWithTypo, "  name: httpbin", "  name: httpbin\n  lables: {}", 1)
	if _, _, err := strictSerializer.Decode([]byte(bad), nil, nil); !runtime.IsStrictDecodingError(err) {
		t.Errorf("metadata.lables: err = %v, want a strict decoding error", err)
	}
}

func decodeString(t *testing.T, data string) ([]Object, error) {
	t.Helper()
	var p problems
	objs := decodeBundleFile("dir/bundle.yaml", "bundle.yaml", []byte(data), &p)
	return objs, p.err()
}

// TestDecodeBundleRejectsUnknownSpecFields: the loader does catch them, with the
// line and the path.
func TestDecodeBundleRejectsUnknownSpecFields(t *testing.T) {
	for _, c := range []struct {
		name, doc, want string
	}{
		{"ServiceEntry", serviceEntryWithTypo,
			`dir/bundle.yaml:9: spec.ports[0].nmber: unknown field in istio.networking.v1alpha3.ServicePort (did you mean "number"?)`},
		{"VirtualService", virtualServiceWithTypo,
			`dir/bundle.yaml:7: spec.htp: unknown field in istio.networking.v1alpha3.VirtualService (did you mean "http"?)`},
		{"DestinationRule nested", `apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: x}
spec:
  host: httpbin.org
  trafficPolicy:
    tls: {mode: SIMPLE, sniHost: httpbin.org}
`, `dir/bundle.yaml:7: spec.trafficPolicy.tls.sniHost: unknown field in istio.networking.v1alpha3.ClientTLSSettings`},
		{"AuthorizationPolicy", `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: x}
spec:
  action: DENY
  rules:
  - to:
    - operation: {hosts: [httpbin.org], pathz: [/ip]}
`, `dir/bundle.yaml:8: spec.rules[0].to[0].operation.pathz: unknown field in istio.security.v1beta1.Operation (did you mean "paths"?)`},
		{"map value", `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: x}
spec:
  address: 10.0.0.1
  ports: {http: eighty}
`, `dir/bundle.yaml:6: spec.ports.http: expected an integer, got "eighty"`},
		{"string given a number", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: x}
spec:
  hosts: [80]
`, `dir/bundle.yaml:5: spec.hosts[0]: expected a string, got int 80; quote it`},
		{"uint32 out of range", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: x}
spec:
  hosts: [a.org]
  ports: [{number: -1, name: http, protocol: HTTP}]
`, `dir/bundle.yaml:6: spec.ports[0].number: integer -1 is out of range for a uint32 field`},
		{"status is checked too", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: x}
spec: {hosts: [a.org]}
status: {conditionz: []}
`, `dir/bundle.yaml:5: status.conditionz: unknown field in istio.networking.v1alpha3.ServiceEntryStatus (did you mean "conditions"?)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs, err := decodeString(t, c.doc)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant %s", err, c.want)
			}
			if len(leaves(err)) != 1 {
				t.Errorf("%d errors, want 1: %v", len(leaves(err)), err)
			}
			if len(objs) != 0 {
				t.Errorf("a broken object was returned")
			}
		})
	}
}

// TestDecodeBundleJSONForms: what jsonpb accepts, the walk accepts too.
func TestDecodeBundleJSONForms(t *testing.T) {
	objs, err := decodeString(t, `# proto names, quoted integers, enum numbers, wrappers, durations, merge keys
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
  namespace: egress
  labels: {app: httpbin}
spec:
  host: httpbin.org
  export_to: ["."]
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: "100", connectTimeout: 3s}
      http: {useClientProtocol: true}
    loadBalancer: {simple: 3}
    portLevelSettings:
    - port: &port {number: 443}
      tls: &tls {mode: SIMPLE, sni: httpbin.org}
    - <<: {port: {number: 8443}}
      tls: *tls
`)
	if err != nil {
		t.Fatal(err)
	}
	dr := objs[0].Typed.(*networkingv1.DestinationRule)
	if objs[0].Namespace != "egress" || dr.Spec.GetExportTo()[0] != "." || dr.Spec.GetTrafficPolicy().GetConnectionPool().GetTcp().GetMaxConnections() != 100 {
		t.Errorf("decoded %v", &dr.Spec)
	}
	if got := dr.Spec.GetTrafficPolicy().GetPortLevelSettings(); len(got) != 2 || got[1].GetPort().GetNumber() != 8443 || got[1].GetTls().GetSni() != "httpbin.org" {
		t.Errorf("port level settings %v", got)
	}
	if objs[0].Line != 2 {
		t.Errorf("Line = %d, want 2 (the comment is not the object)", objs[0].Line)
	}
}

// TestDecodeBundleWorkload: a real multi-document file of core kinds.
func TestDecodeBundleWorkload(t *testing.T) {
	data, err := os.ReadFile(workloadsDir + "/sleep.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeString(t, string(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line int
		kind string
		typ  runtime.Object
	}{{5, "ServiceAccount", &corev1.ServiceAccount{}}, {10, "Service", &corev1.Service{}}, {24, "Deployment", &appsv1.Deployment{}}}
	if len(objs) != len(want) {
		t.Fatalf("%d objects, want %d", len(objs), len(want))
	}
	for i, w := range want {
		o := objs[i]
		if o.Line != w.line || o.Kind != w.kind || o.Name != "sleep" || reflect.TypeOf(o.Typed) != reflect.TypeOf(w.typ) {
			t.Errorf("object %d: line %d %s %s %T", i, o.Line, o.Kind, o.Name, o.Typed)
		}
	}
	if d := objs[2].Typed.(*appsv1.Deployment); d.Spec.Template.Spec.Containers[0].Image != "docker.io/curlimages/curl:8.16.0" {
		t.Errorf("image = %q", d.Spec.Template.Spec.Containers[0].Image)
	}
	// Every document's YAML is its slice of the file, separators excluded, and
	// Offset places its lines in the file.
	joined := ""
	for _, o := range objs {
		joined += string(o.YAML)
		if lines := strings.Split(string(data), "\n"); o.Offset >= len(lines) || !strings.HasPrefix(string(o.YAML), lines[o.Offset]) {
			t.Errorf("%s: Offset %d does not start its YAML", o.Kind, o.Offset)
		}
	}
	if strings.Contains(joined, "\n---") || !strings.HasPrefix(string(objs[1].YAML), "apiVersion: v1\nkind: Service\n") {
		t.Errorf("documents cut wrongly:\n%s", objs[1].YAML)
	}
	// Every line of YAML is the file's line Offset+k, the rule pkg/offline places
	// analyzer messages by (Istio numbers lines from the start of the text it reads).
	lines := strings.Split(string(data), "\n")
	for i, o := range objs {
		for k, l := range strings.Split(strings.TrimSuffix(string(o.YAML), "\n"), "\n") {
			if lines[o.Offset+k] != l {
				t.Fatalf("object %d: line %d of YAML is %q, file line %d is %q", i, k+1, l, o.Offset+k+1, lines[o.Offset+k])
			}
		}
	}
}

func TestDecodeBundleVersions(t *testing.T) {
	for _, c := range []struct {
		apiVersion string
		typ        runtime.Object
	}{
		{"networking.istio.io/v1", &networkingv1.ServiceEntry{}},
		{"networking.istio.io/v1beta1", &networkingv1beta1.ServiceEntry{}},
		{"networking.istio.io/v1alpha3", &networkingv1alpha3.ServiceEntry{}},
	} {
		doc := strings.Replace(strings.Replace(serviceEntryWithTypo, "    nmber: 8080\n", "", 1), "networking.istio.io/v1", c.apiVersion, 1)
		objs, err := decodeString(t, doc)
		if err != nil {
			t.Errorf("%s: %v", c.apiVersion, err)
			continue
		}
		if reflect.TypeOf(objs[0].Typed) != reflect.TypeOf(c.typ) || objs[0].APIVersion != c.apiVersion {
			t.Errorf("%s: decoded %s as %T", c.apiVersion, objs[0].APIVersion, objs[0].Typed)
		}
	}
}

func TestSupportedKinds(t *testing.T) {
	got := map[string]bool{}
	for _, k := range SupportedKinds() {
		got[k] = true
	}
	for _, want := range []string{
		"networking.istio.io/v1 ServiceEntry", "networking.istio.io/v1beta1 WorkloadEntry", "networking.istio.io/v1alpha3 Sidecar",
		"security.istio.io/v1 AuthorizationPolicy", "security.istio.io/v1beta1 RequestAuthentication",
		"gateway.networking.k8s.io/v1 Gateway", "gateway.networking.k8s.io/v1beta1 ReferenceGrant", "gateway.networking.k8s.io/v1 GRPCRoute",
		"gateway.networking.k8s.io/v1alpha2 TCPRoute", "gateway.networking.k8s.io/v1alpha3 BackendTLSPolicy",
		"v1 Namespace", "v1 Service", "v1 ServiceAccount", "v1 ConfigMap", "v1 Secret", "apps/v1 Deployment",
		"v1 Endpoints", "discovery.k8s.io/v1 EndpointSlice", "networking.istio.io/v1alpha3 EnvoyFilter",
		"networking.k8s.io/v1 NetworkPolicy", "rbac.authorization.k8s.io/v1 Role", "rbac.authorization.k8s.io/v1 RoleBinding",
	} {
		if !got[want] {
			t.Errorf("%s is not supported", want)
		}
	}
	for _, refused := range []string{"networking.istio.io/v1 EnvoyFilter", "networking.k8s.io/v1beta1 NetworkPolicy", "apps/v1beta1 Deployment", "gateway.networking.k8s.io/v1alpha2 HTTPRoute", "v1 Pod"} {
		if got[refused] {
			t.Errorf("%s is supported", refused)
		}
	}
	// Every kind of the table exists in some version: a typo there would
	// otherwise silently shrink the list.
	for _, row := range supportedKinds {
		for _, k := range row.kinds {
			found := false
			for gvk := range supported {
				found = found || (gvk.Group == row.group && gvk.Kind == k)
			}
			if !found {
				t.Errorf("%s %s is in no version of the scheme", row.group, k)
			}
		}
	}
	if msg := unsupportedMessage(schema.GroupVersionKind{Version: "v2", Kind: "Service"}); msg != "v2 Service is not supported; Service is read as v1" {
		t.Errorf("core message = %q", msg)
	}
}

func TestSplitDocuments(t *testing.T) {
	in := "a: 1\n---\nb: 2\n--- # comment\n\nc: 3\n--- {d: 4}\n----\n---\n"
	var got []string
	for _, d := range splitDocuments([]byte(in)) {
		got = append(got, strings.TrimSpace(string(d.text))+"@"+itoa(d.offset))
	}
	want := []string{"a: 1@0", "b: 2@2", "c: 3@4", "--- {d: 4}\n----@6", "@9"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestLogExpectUnmarshalYAML: plain yaml/v3 decoding agrees with the loader.
func TestLogExpectUnmarshalYAML(t *testing.T) {
	var e Expect
	if err := yaml.Unmarshal([]byte("route: direct\nsidecarLog: {method: GET}\ngatewayLog: absent\n"), &e); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e.SidecarLog, &LogExpect{Method: "GET"}) || !reflect.DeepEqual(e.GatewayLog, &LogExpect{Absent: true}) {
		t.Errorf("decoded %+v %+v", e.SidecarLog, e.GatewayLog)
	}
	for doc, want := range map[string]string{
		"gatewayLog: none\n":            `line 1: "none" is neither "absent" nor a mapping`,
		"gatewayLog: {methd: GET}\n":    `line 1: methd: unknown field (did you mean "method"?)`,
		"gatewayLog: [absent]\n":        `line 1: expected a mapping, got a list`,
		"gatewayLog: {responseCode: x}": `line 1: responseCode: expected an integer, got "x"`,
	} {
		var e Expect
		err := yaml.Unmarshal([]byte(doc), &e)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %s", doc, err, want)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
