package scenario

import (
	"reflect"
	"testing"
)

func TestClientRefs(t *testing.T) {
	s := &Scenario{Name: "gateway-authz", Client: "sleep", Clients: []ExtraClient{{Name: "denied"}, {Name: "curl", Workload: "curl"}}}
	want := []ClientRef{
		{Workload: "sleep", Namespace: "egress-gateway-authz"},
		{Name: "denied", Workload: "sleep", Namespace: "egress-gateway-authz-denied"},
		{Name: "curl", Workload: "curl", Namespace: "egress-gateway-authz-curl"},
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
}
