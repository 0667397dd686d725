package scenario

import (
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ZtunnelLogExpect is the expected line of the ztunnel on an ambient client's
// node for the probe's connection (ztunnel's outbound "connection complete" line,
// istio/ztunnel src/proxy/metrics.rs). ztunnel sees connections, not requests, so
// the fields are about where the connection went and under which identities. The
// zero value of each field means "not checked"; Absent means no such line.
type ZtunnelLogExpect struct {
	Absent bool `yaml:"-"`

	// SrcIdentity is src.identity, the client's SPIFFE id. ztunnel writes it only
	// for a connection in mutual TLS (HBONE), e.g. to a waypoint.
	SrcIdentity string `yaml:"srcIdentity,omitempty"`
	// DstService is dst.service, the destination service's host name (the
	// ServiceEntry's host, for an external service Istio knows).
	DstService string `yaml:"dstService,omitempty"`
	// DstIdentity is dst.identity, the SPIFFE id of the peer ztunnel connected to
	// in mutual TLS: a waypoint's is spiffe://<trust domain>/ns/<ns>/sa/<name>.
	DstIdentity string `yaml:"dstIdentity,omitempty"`
	// DstHboneAddr is dst.hbone_addr, the address inside the HBONE tunnel (the one
	// the client dialled).
	DstHboneAddr string `yaml:"dstHboneAddr,omitempty"`
	// HBONE says whether ztunnel tunnelled the connection (HBONE, dst.hbone_addr
	// set: to a waypoint or a meshed pod) or passed it through as plain TCP (a
	// destination outside the mesh reached directly).
	HBONE *bool `yaml:"hbone,omitempty"`
	// Error is a substring the line's error must contain, e.g. "policy
	// rejection" (ztunnel's error texts carry details that vary).
	Error string `yaml:"error,omitempty"`
}

// MarshalYAML writes an absent line back as the bare scalar `absent`.
func (z ZtunnelLogExpect) MarshalYAML() (any, error) {
	if z.Absent {
		return AbsentValue, nil
	}
	type fields ZtunnelLogExpect // without this method
	return fields(z), nil
}

func (z *ZtunnelLogExpect) decodeNode(d *fieldDecoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		if n.Value != AbsentValue || n.ShortTag() != "!!str" {
			_, names := yamlFields(reflect.TypeFor[ZtunnelLogExpect]())
			d.fail(n, path, "%s is neither %q nor a mapping of ztunnel line fields (%s)", describe(n), AbsentValue, strings.Join(names, ", "))
			return
		}
		*z = ZtunnelLogExpect{Absent: true}
		return
	}
	d.mapping(n, reflect.ValueOf(z).Elem(), path)
}

// UnmarshalYAML agrees with the loader for any yaml/v3 decoding of an Expect.
func (z *ZtunnelLogExpect) UnmarshalYAML(n *yaml.Node) error {
	var p problems
	d := newFieldDecoder("", &p)
	var out ZtunnelLogExpect
	d.decode(n, reflect.ValueOf(&out).Elem(), "")
	if !p.empty() {
		return p.err()
	}
	*z = out
	return nil
}

// validateZtunnelLog checks expect.ztunnelLog against the step's client and route.
func validateZtunnelLog(add func(path, format string, args ...any), field func(string) string, c ClientRef, route Route, routeOK bool, z *ZtunnelLogExpect) {
	if z == nil {
		return
	}
	if !c.Ambient() {
		add(field("ztunnelLog"), "client %s runs a sidecar, whose connections do not pass ztunnel; ztunnelLog is for an ambient client", clientName(c))
		return
	}
	if z.Absent || z.HBONE == nil || !routeOK {
		return
	}
	switch {
	case route == RouteWaypoint && !*z.HBONE:
		add(joinPath(field("ztunnelLog"), "hbone"), "false contradicts route waypoint: ztunnel reaches a waypoint only over HBONE")
	case route == RouteDirect && *z.HBONE:
		add(joinPath(field("ztunnelLog"), "hbone"), "true contradicts route direct: a host outside the mesh is reached as plain TCP, never over HBONE")
	}
}
