package scenario

import (
	"reflect"
	"testing"
)

func TestClientRefs(t *testing.T) {
	no := false
	s := &Scenario{Name: "gateway-authz", Client: "sleep", Clients: []ExtraClient{{Name: "denied"}, {Name: "curl", Workload: "curl"},
		{Name: "bare", Namespace: "test-egress", Injected: &no}}}
	want := []ClientRef{
		{Workload: "sleep", Namespace: "egress-gateway-authz", Injected: true, DataPlane: Sidecar},
		{Name: "denied", Workload: "sleep", Namespace: "egress-gateway-authz-denied", Injected: true, DataPlane: Sidecar},
		{Name: "curl", Workload: "curl", Namespace: "egress-gateway-authz-curl", Injected: true, DataPlane: Sidecar},
		{Name: "bare", Workload: "sleep", Namespace: "test-egress", DataPlane: Sidecar},
	}
	if got := s.ClientRefs(); !reflect.DeepEqual(got, want) {
		t.Errorf("ClientRefs = %+v", got)
	}
	if got := s.ClientFor(Request{From: "denied"}); got != want[1] {
		t.Errorf("ClientFor(denied) = %+v", got)
	}
	if got := s.ClientFor(Request{}); got != want[0] {
		t.Errorf("ClientFor() = %+v", got)
	}
	if s.InjectedNamespace("test-egress") || !s.InjectedNamespace("egress-gateway-authz-curl") {
		t.Errorf("InjectedNamespace: test-egress holds only an uninjected client, egress-gateway-authz-curl an injected one")
	}
}

func TestClientRefsDataPlane(t *testing.T) {
	no := false
	s := &Scenario{Name: "mixed", Client: "sleep", DataPlane: Ambient, Clients: []ExtraClient{
		{Name: "side", DataPlane: Sidecar}, {Name: "bare", DataPlane: Sidecar, Injected: &no}, {Name: "amb"}}}
	want := []ClientRef{
		{Workload: "sleep", Namespace: "egress-mixed", DataPlane: Ambient},
		{Name: "side", Workload: "sleep", Namespace: "egress-mixed-side", Injected: true, DataPlane: Sidecar},
		{Name: "bare", Workload: "sleep", Namespace: "egress-mixed-bare", DataPlane: Sidecar},
		{Name: "amb", Workload: "sleep", Namespace: "egress-mixed-amb", DataPlane: Ambient},
	}
	if got := s.ClientRefs(); !reflect.DeepEqual(got, want) {
		t.Errorf("ClientRefs = %+v", got)
	}
	if !s.Ambient() || !s.AmbientNamespace("egress-mixed") || s.AmbientNamespace("egress-mixed-side") || !s.AmbientNamespace("egress-mixed-amb") {
		t.Errorf("AmbientNamespace: the scenario's and amb's namespaces are ambient, side's is not")
	}
	if s.InjectedNamespace("egress-mixed") || !s.InjectedNamespace("egress-mixed-side") {
		t.Errorf("InjectedNamespace: an ambient namespace is never labelled for injection")
	}
	// A Scenario built in Go without dataPlane is the v1alpha1 sidecar scenario.
	plain := &Scenario{Name: "plain", Client: "sleep"}
	if plain.Ambient() || plain.ClientRefs()[0].DataPlane != Sidecar || !plain.ClientRefs()[0].Injected {
		t.Errorf("default data plane: %+v", plain.ClientRefs()[0])
	}
}

func TestLoadAmbient(t *testing.T) {
	s, err := LoadWith("testdata/ambient", withWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	if s.DataPlane != Ambient || s.Clients[0].DataPlane != Sidecar {
		t.Errorf("dataPlane = %q, clients[0].dataPlane = %q", s.DataPlane, s.Clients[0].DataPlane)
	}
	wp := s.Steps[0].Expect
	if wp.Route != RouteWaypoint || !reflect.DeepEqual(wp.WaypointLog, &LogExpect{Method: "GET", ResponseCode: 200}) ||
		!reflect.DeepEqual(wp.GatewayLog, &LogExpect{Absent: true}) {
		t.Errorf("step 0 expect = %+v", wp)
	}
	if l := s.Steps[0].LineOf("expect.waypointLog.responseCode"); l != 16 {
		t.Errorf("LineOf(expect.waypointLog.responseCode) = %d, want 16", l)
	}
	if c := s.ClientFor(s.Steps[1].Request); c.Ambient() || !c.Injected {
		t.Errorf("step 1 client = %+v, want the sidecar client", c)
	}
	if !reflect.DeepEqual(s.Steps[1].Expect.WaypointLog, &LogExpect{Absent: true}) {
		t.Errorf("step 1 waypointLog = %+v", s.Steps[1].Expect.WaypointLog)
	}
}

// TestSidecarDefault: a v1alpha1 scenario written before ambient reads as
// sidecar mode, every client injected.
func TestSidecarDefault(t *testing.T) {
	s, err := LoadWith(seedDir, withWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	if s.DataPlane != Sidecar || s.Ambient() {
		t.Errorf("dataPlane = %q", s.DataPlane)
	}
	for _, c := range s.ClientRefs() {
		if c.DataPlane != Sidecar || !c.Injected {
			t.Errorf("client %+v", c)
		}
	}
}
