package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const (
	seedDir      = "../../scenarios/egress-gateway-http"
	workloadsDir = "../../fixtures/workloads"
)

var withWorkloads = Options{WorkloadsDir: workloadsDir}

func ptr[T any](v T) *T { return &v }

func TestLoadSeed(t *testing.T) {
	s, err := LoadWith(seedDir, withWorkloads)
	if err != nil {
		t.Fatalf("LoadWith(%s): %v", seedDir, err)
	}
	if s.Dir != seedDir || s.File != filepath.Join(seedDir, FileName) {
		t.Errorf("Dir, File = %q, %q", s.Dir, s.File)
	}
	if s.APIVersion != APIVersion || s.Kind != Kind || s.Name != "egress-gateway-http" || s.Client != "sleep" {
		t.Errorf("header = %q %q %q client %q", s.APIVersion, s.Kind, s.Name, s.Client)
	}
	if !strings.HasPrefix(s.Description, "HTTP to httpbin.org leaves straight") || strings.Contains(s.Description, "\n") {
		t.Errorf("Description = %q", s.Description)
	}
	if s.Source != "https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/" {
		t.Errorf("Source = %q", s.Source)
	}
	if !reflect.DeepEqual(s.Labels, []string{"egress-gateway", "http"}) {
		t.Errorf("Labels = %q", s.Labels)
	}
	if s.Mesh.OutboundTrafficPolicy != AllowAny {
		t.Errorf("OutboundTrafficPolicy = %q", s.Mesh.OutboundTrafficPolicy)
	}
	if len(s.Steps) != 2 {
		t.Fatalf("%d steps, want 2", len(s.Steps))
	}

	before, after := s.Steps[0], s.Steps[1]
	wantBefore := Expect{
		Route:  RouteDirect,
		Status: ptr(200),
		Origin: &Origin{Hops: 1},
		SidecarLog: &LogExpect{Method: "GET", Path: "/ip", Authority: "httpbin.org", ResponseCode: 200,
			UpstreamCluster: "outbound|80||httpbin.org"},
		GatewayLog: &LogExpect{Absent: true},
	}
	wantAfter := Expect{
		Route:      RouteEgressGateway,
		Status:     ptr(200),
		Origin:     &Origin{Hops: 2, First: OriginFirstClient},
		SidecarLog: &LogExpect{UpstreamCluster: "outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local"},
		GatewayLog: &LogExpect{Method: "GET", Path: "/ip", Authority: "httpbin.org", ResponseCode: 200,
			UpstreamCluster: "outbound|80||httpbin.org"},
	}
	for _, c := range []struct {
		got        Step
		name       string
		line       int
		apply      []string
		expect     Expect
		bundleSize int
	}{
		{before, "before-routing", 14, []string{"serviceentry.yaml"}, wantBefore, 1},
		{after, "after-routing", 24, []string{"gateway.yaml", "destinationrule.yaml", "virtualservice.yaml"}, wantAfter, 4},
	} {
		st := c.got
		if st.Name != c.name || st.Line != c.line || !reflect.DeepEqual(st.ApplyFiles(), c.apply) {
			t.Errorf("step %q line %d apply %q, want %q line %d apply %q", st.Name, st.Line, st.ApplyFiles(), c.name, c.line, c.apply)
		}
		if st.Request.URL != "http://httpbin.org/ip" {
			t.Errorf("step %s: URL = %q", st.Name, st.Request.URL)
		}
		if !reflect.DeepEqual(st.Expect, c.expect) {
			t.Errorf("step %s: Expect =\n%s\nwant\n%s", st.Name, dump(st.Expect), dump(c.expect))
		}
		if len(st.Bundle) != c.bundleSize {
			t.Errorf("step %s: bundle of %d objects, want %d", st.Name, len(st.Bundle), c.bundleSize)
		}
	}

	// The cumulative bundle, in apply order, with the typed objects.
	wantObjects := []struct {
		file, kind, name string
		typ              any
	}{
		{"serviceentry.yaml", "ServiceEntry", "httpbin", &networkingv1alpha3.ServiceEntry{}},
		{"gateway.yaml", "Gateway", "istio-egressgateway", &networkingv1alpha3.Gateway{}},
		{"destinationrule.yaml", "DestinationRule", "dr-for-egressgateway", &networkingv1alpha3.DestinationRule{}},
		{"virtualservice.yaml", "VirtualService", "vs-for-egressgateway", &networkingv1alpha3.VirtualService{}},
	}
	for i, w := range wantObjects {
		o := after.Bundle[i]
		if o.File != w.file || o.Line != 1 || o.APIVersion != "networking.istio.io/v1alpha3" || o.Kind != w.kind || o.Name != w.name || o.Namespace != "" {
			t.Errorf("object %d = %s:%d %s %s %s/%s", i, o.File, o.Line, o.APIVersion, o.Kind, o.Namespace, o.Name)
		}
		if reflect.TypeOf(o.Typed) != reflect.TypeOf(w.typ) {
			t.Errorf("object %d: Typed is %T, want %T", i, o.Typed, w.typ)
		}
		raw, err := os.ReadFile(filepath.Join(seedDir, w.file))
		if err != nil {
			t.Fatal(err)
		}
		if string(o.YAML) != string(raw) {
			t.Errorf("object %d: YAML is not the file as written:\n%s", i, o.YAML)
		}
	}
	if before.Bundle[0].Typed != after.Bundle[0].Typed {
		t.Errorf("the steps' bundles should share the decoded objects")
	}

	se := after.Bundle[0].Typed.(*networkingv1alpha3.ServiceEntry)
	if got := se.Spec.GetHosts(); !reflect.DeepEqual(got, []string{"httpbin.org"}) || se.Spec.GetPorts()[0].GetNumber() != 80 || se.Spec.GetResolution().String() != "DNS" {
		t.Errorf("ServiceEntry spec = %v", &se.Spec)
	}
	vs := after.Bundle[3].Typed.(*networkingv1alpha3.VirtualService)
	if len(vs.Spec.GetHttp()) != 2 || vs.Spec.GetHttp()[0].GetRoute()[0].GetDestination().GetSubset() != "httpbin" {
		t.Errorf("VirtualService spec = %v", &vs.Spec)
	}
}

func dump(e Expect) string {
	deref := func(p *int) any {
		if p == nil {
			return nil
		}
		return *p
	}
	return fmt.Sprintf("route=%s status=%v curlExit=%v origin=%+v sidecarLog=%+v gatewayLog=%+v",
		e.Route, deref(e.Status), deref(e.CurlExit), e.Origin, e.SidecarLog, e.GatewayLog)
}

// TestStepBundlesAreCopies: appending to one step's bundle never shows in another's.
func TestStepBundlesAreCopies(t *testing.T) {
	s, err := Load(seedDir)
	if err != nil {
		t.Fatal(err)
	}
	first := s.Steps[0].Bundle
	_ = append(first, Object{Name: "intruder"})
	if got := s.Steps[1].Bundle[1].Name; got != "istio-egressgateway" {
		t.Fatalf("appending to step 0's bundle changed step 1's: %q", got)
	}
	s.Steps[1].Bundle[0].Name = "renamed"
	if s.Steps[0].Bundle[0].Name != "httpbin" {
		t.Fatalf("step bundles alias each other")
	}
}

// TestLoadInvalid loads every testdata/invalid/<case>/: one broken scenario per
// rule, with want.txt listing the expected problems, one per line, as
// "file:line: field: message" (a prefix of it). Every error must be listed.
func TestLoadInvalid(t *testing.T) {
	dirs, err := filepath.Glob("testdata/invalid/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, "want.txt"))
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Split(strings.TrimSpace(string(raw)), "\n")

			s, err := LoadWith(dir, withWorkloads)
			if err == nil {
				t.Fatalf("loaded %q without error", s.Name)
			}
			if s != nil {
				t.Errorf("a scenario came back with the error")
			}
			got := leaves(err)
			for _, w := range want {
				prefix := dir + string(filepath.Separator) + w
				found := false
				for _, g := range got {
					if strings.HasPrefix(g.Error(), prefix) {
						found = true
					}
				}
				if !found {
					t.Errorf("no error starts with\n\t%s", prefix)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d errors, want %d", len(got), len(want))
			}
			for _, g := range got {
				var fe *FieldError
				if !errors.As(g, &fe) {
					t.Errorf("%v is not a *FieldError", g)
				}
			}
			if t.Failed() {
				t.Logf("got:\n%s", err)
			}
		})
	}
}

// leaves flattens errors.Join trees.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// TestLoadValid: every apiVersion a user may write loads, into the matching type.
func TestLoadValid(t *testing.T) {
	all, err := LoadAllWith("testdata/valid", withWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]map[string]reflect.Type{}
	for _, s := range all {
		types[s.Name] = map[string]reflect.Type{}
		last := s.Steps[len(s.Steps)-1].Bundle
		for _, o := range last {
			types[s.Name][o.APIVersion+" "+o.Kind+" "+o.Name] = reflect.TypeOf(o.Typed)
		}
	}
	want := map[string]map[string]reflect.Type{
		"istio-v1": {
			"networking.istio.io/v1 ServiceEntry httpbin":              reflect.TypeFor[*networkingv1.ServiceEntry](),
			"networking.istio.io/v1 Gateway istio-egressgateway":       reflect.TypeFor[*networkingv1.Gateway](),
			"networking.istio.io/v1 DestinationRule egressgateway":     reflect.TypeFor[*networkingv1.DestinationRule](),
			"networking.istio.io/v1 VirtualService httpbin":            reflect.TypeFor[*networkingv1.VirtualService](),
			"security.istio.io/v1 AuthorizationPolicy deny-httpbin-ip": reflect.TypeFor[*securityv1.AuthorizationPolicy](),
		},
		"istio-v1beta1": {
			"networking.istio.io/v1beta1 ServiceEntry httpbin":   reflect.TypeFor[*networkingv1beta1.ServiceEntry](),
			"networking.istio.io/v1beta1 VirtualService httpbin": reflect.TypeFor[*networkingv1beta1.VirtualService](),
			"networking.istio.io/v1beta1 Sidecar default":        reflect.TypeFor[*networkingv1beta1.Sidecar](),
		},
		"gateway-api": {
			"gateway.networking.k8s.io/v1 Gateway egress":    reflect.TypeFor[*gatewayv1.Gateway](),
			"gateway.networking.k8s.io/v1 HTTPRoute httpbin": reflect.TypeFor[*gatewayv1.HTTPRoute](),
			"networking.istio.io/v1 ServiceEntry httpbin":    reflect.TypeFor[*networkingv1.ServiceEntry](),
			"v1 ConfigMap notes":                             reflect.TypeFor[*corev1.ConfigMap](),
		},
	}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("loaded\n%v\nwant\n%v", types, want)
	}
	if len(all) != 3 || all[0].Name != "gateway-api" || all[1].Name != "istio-v1" || all[2].Name != "istio-v1beta1" {
		t.Errorf("LoadAll order: %v", names(all))
	}
}

func names(ss []*Scenario) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func TestLoadAll(t *testing.T) {
	t.Run("catalog directory", func(t *testing.T) {
		all, err := LoadAll("../../scenarios")
		if err != nil {
			t.Fatal(err)
		}
		got := names(all)
		if !slices.Contains(got, "egress-gateway-http") || !slices.IsSorted(got) {
			t.Errorf("names = %q: want the seed among them, sorted", got)
		}
	})
	t.Run("root is a scenario", func(t *testing.T) {
		all, err := LoadAll(seedDir)
		if err != nil || len(all) != 1 || all[0].Name != "egress-gateway-http" {
			t.Fatalf("LoadAll(%s) = %v, %v", seedDir, names(all), err)
		}
	})
	t.Run("duplicate names", func(t *testing.T) {
		_, err := LoadAll("testdata/loadall/duplicate-names")
		want := `testdata/loadall/duplicate-names/b/scenario.yaml:3: name: "same" is also the name of testdata/loadall/duplicate-names/a/scenario.yaml:3`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want %s", err, want)
		}
	})
	t.Run("every problem of every scenario", func(t *testing.T) {
		_, err := LoadAll("testdata/loadall/broken")
		if err == nil {
			t.Fatal("no error")
		}
		for _, w := range []string{
			`testdata/loadall/broken/one/scenario.yaml:3: name: "One" is not kebab-case`,
			`testdata/loadall/broken/one/scenario.yaml:9: steps[0].expect.route: "egress" is not one of`,
			`testdata/loadall/broken/two/scenario.yaml:1: client: required`,
			`testdata/loadall/broken/wrong-name/scenario.yml: scenario files are named scenario.yaml`,
		} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("missing %s", w)
			}
		}
		if n := len(leaves(err)); n != 4 {
			t.Errorf("%d errors, want 4:\n%v", n, err)
		}
	})
	t.Run("no scenario", func(t *testing.T) {
		_, err := LoadAll(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "no scenario directory") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing root", func(t *testing.T) {
		_, err := LoadAll("testdata/does-not-exist")
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestLoadWithoutWorkloads: Load checks the client's shape only.
func TestLoadWithoutWorkloads(t *testing.T) {
	if _, err := Load("testdata/invalid/client-no-workload"); err != nil {
		t.Fatalf("Load without WorkloadsDir: %v", err)
	}
	if _, err := Load("testdata/invalid/client-not-kebab"); err == nil {
		t.Fatal("Load accepted client ../sleep")
	}
}

// LineOf places a failed check of pkg/expect (its Field names) at the line where
// the expectation is written; a field not written falls back to its parent.
func TestStepLineOf(t *testing.T) {
	s, err := Load(seedDir)
	if err != nil {
		t.Fatal(err)
	}
	after := s.Steps[1]
	for field, want := range map[string]int{
		"expect.route":                      28,
		"expect.status":                     29,
		"expect.sidecarLog.upstreamCluster": 31,
		"expect.gatewayLog.responseCode":    32,
		"expect.curlExit":                   28, // not written: where the expect block starts
		"apply[2]":                          25,
	} {
		if got := after.LineOf(field); got != want {
			t.Errorf("LineOf(%q) = %d, want %d", field, got, want)
		}
	}
	if got := (Step{Line: 7}).LineOf("expect.route"); got != 7 {
		t.Errorf("a step the loader did not read: LineOf = %d, want its Line 7", got)
	}
}
