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
		{Workload: "sleep", Namespace: "egress-gateway-authz", Injected: true},
		{Name: "denied", Workload: "sleep", Namespace: "egress-gateway-authz-denied", Injected: true},
		{Name: "curl", Workload: "curl", Namespace: "egress-gateway-authz-curl", Injected: true},
		{Name: "bare", Workload: "sleep", Namespace: "test-egress"},
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
