package accesslog

import (
	"errors"
	"reflect"
	"testing"
)

// realZtunnelLines are ztunnel access lines copied from public sources, with the
// entry each must produce. The field set and order are those of istio/ztunnel
// src/proxy/metrics.rs (ConnectionResult::record_internal), the layout that of
// src/telemetry.rs (IstioFormat: time, level, target, message, then key=value).
var realZtunnelLines = []struct {
	name string
	line string
	want ZtunnelEntry
}{
	{
		// istio.io content/en/docs/ambient/usage/verify-mtls-enabled/index.md
		// ("Validate mTLS from logs"), the source ztunnel's line of sleep → details.
		// The page wraps the line and renders tabs as spaces; here it is one line
		// with the tabs ztunnel writes.
		name: "outbound HBONE with mutual TLS (istio.io verify-mtls-enabled)",
		line: "2024-08-21T15:32:05.754291Z\tinfo\taccess\tconnection complete\tsrc.addr=10.42.0.9:33772 src.workload=\"sleep-7656cf8794-6lsm4\" src.namespace=\"default\" src.identity=\"spiffe://cluster.local/ns/default/sa/sleep\" dst.addr=10.42.0.5:15008 dst.hbone_addr=10.42.0.5:9080 dst.service=\"details.default.svc.cluster.local\" dst.workload=\"details-v1-857849f66-ft8wx\" dst.namespace=\"default\" dst.identity=\"spiffe://cluster.local/ns/default/sa/bookinfo-details\" direction=\"outbound\" bytes_sent=84 bytes_recv=358 duration=\"15ms\"",
		want: ZtunnelEntry{
			Time: ts("2024-08-21T15:32:05.754291Z"), Level: "info", Message: "connection complete",
			SrcAddr: "10.42.0.9:33772", SrcWorkload: "sleep-7656cf8794-6lsm4", SrcNamespace: "default",
			SrcIdentity: "spiffe://cluster.local/ns/default/sa/sleep",
			DstAddr:     "10.42.0.5:15008", DstHboneAddr: "10.42.0.5:9080", DstService: "details.default.svc.cluster.local",
			DstWorkload: "details-v1-857849f66-ft8wx", DstNamespace: "default",
			DstIdentity: "spiffe://cluster.local/ns/default/sa/bookinfo-details",
			Direction:   "outbound", BytesSent: 84, BytesRecv: 358, Duration: "15ms",
		},
	},
	{
		// A client in an ambient namespace reaching a host outside the mesh with no
		// ServiceEntry: ztunnel passes it through as plain TCP (istio/ztunnel
		// src/proxy/outbound.rs build_request, "built request as passthrough"), so
		// dst.addr is the external address itself and there is neither
		// dst.hbone_addr nor an identity (src.identity is written only with mutual
		// TLS: metrics.rs, `.filter(|_| mtls)`). The values come from a public
		// write-up of ztunnel's flows that rendered tabs as spaces; the shape is
		// the one the code above writes.
		name: "outbound passthrough to an external address",
		line: "2026-08-03T15:47:26.637407Z\tinfo\taccess\tconnection complete\tsrc.addr=10.244.0.5:54646 src.workload=\"http-client-6b4b85489f-t6sl2\" src.namespace=\"default\" dst.addr=142.251.209.46:80 direction=\"outbound\" bytes_sent=74 bytes_recv=773 duration=\"357ms\"",
		want: ZtunnelEntry{
			Time: ts("2026-08-03T15:47:26.637407Z"), Level: "info", Message: "connection complete",
			SrcAddr: "10.244.0.5:54646", SrcWorkload: "http-client-6b4b85489f-t6sl2", SrcNamespace: "default",
			DstAddr: "142.251.209.46:80", Direction: "outbound", BytesSent: 74, BytesRecv: 773, Duration: "357ms",
		},
	},
	{
		// An L4 AuthorizationPolicy rejecting the connection at the destination's
		// ztunnel: level error, error= set (istio/ztunnel src/proxy/metrics.rs,
		// access_log! on Err). Values from a public ambient tutorial, verbatim.
		name: "inbound denied by policy",
		line: "2026-10-09T11:39:41.876395Z\terror\taccess\tconnection complete\tsrc.addr=10.244.0.14:58564 src.workload=\"shuttle-7b5db664c-hmlqb\" src.namespace=\"starfleet\" src.identity=\"spiffe://cluster.local/ns/starfleet/sa/shuttle\" dst.addr=10.244.0.8:15008 dst.hbone_addr=10.244.0.8:9080 dst.service=\"cargo.starfleet.svc.cluster.local\" dst.workload=\"cargo-v1-6f787f8bd5-h2bpn\" dst.namespace=\"starfleet\" dst.identity=\"spiffe://cluster.local/ns/starfleet/sa/starfleet-cargo\" direction=\"inbound\" bytes_sent=0 bytes_recv=0 duration=\"0ms\" error=\"connection closed due to policy rejection: allow policies exist, but none allowed\"",
		want: ZtunnelEntry{
			Time: ts("2026-10-09T11:39:41.876395Z"), Level: "error", Message: "connection complete",
			SrcAddr: "10.244.0.14:58564", SrcWorkload: "shuttle-7b5db664c-hmlqb", SrcNamespace: "starfleet",
			SrcIdentity: "spiffe://cluster.local/ns/starfleet/sa/shuttle",
			DstAddr:     "10.244.0.8:15008", DstHboneAddr: "10.244.0.8:9080", DstService: "cargo.starfleet.svc.cluster.local",
			DstWorkload: "cargo-v1-6f787f8bd5-h2bpn", DstNamespace: "starfleet",
			DstIdentity: "spiffe://cluster.local/ns/starfleet/sa/starfleet-cargo",
			Direction:   "inbound", Duration: "0ms",
			Error: "connection closed due to policy rejection: allow policies exist, but none allowed",
		},
	},
	{
		// Istio 1.22's ztunnel printed namespaces and workloads bare (values from
		// a public ambient walk-through of that release, verbatim): still read.
		name: "1.22: bare strings",
		line: "2024-07-23T14:21:03.450051Z\tinfo\taccess\tconnection complete\tsrc.addr=10.12.0.8:37522 src.workload=sleep-bc9998558-bhv5z src.namespace=my-ambient src.identity=\"spiffe://cluster.local/ns/my-ambient/sa/sleep\" dst.addr=10.12.0.9:15008 dst.hbone_addr=10.12.0.9:5000 dst.service=helloworld.my-ambient.svc.cluster.local dst.workload=helloworld-v1-77489ccb5f-pjbq5 dst.namespace=my-ambient dst.identity=\"spiffe://cluster.local/ns/my-ambient/sa/default\" direction=\"outbound\" bytes_sent=84 bytes_recv=158 duration=\"118ms\"",
		want: ZtunnelEntry{
			Time: ts("2024-07-23T14:21:03.450051Z"), Level: "info", Message: "connection complete",
			SrcAddr: "10.12.0.8:37522", SrcWorkload: "sleep-bc9998558-bhv5z", SrcNamespace: "my-ambient",
			SrcIdentity: "spiffe://cluster.local/ns/my-ambient/sa/sleep",
			DstAddr:     "10.12.0.9:15008", DstHboneAddr: "10.12.0.9:5000", DstService: "helloworld.my-ambient.svc.cluster.local",
			DstWorkload: "helloworld-v1-77489ccb5f-pjbq5", DstNamespace: "my-ambient",
			DstIdentity: "spiffe://cluster.local/ns/my-ambient/sa/default",
			Direction:   "outbound", BytesSent: 84, BytesRecv: 158, Duration: "118ms",
		},
	},
	{
		// LOG_FORMAT=json (istio/ztunnel src/telemetry.rs, IstioJsonFormat: level,
		// time, scope, message, then the event's fields, numbers as numbers).
		// A line recorded from ztunnel and kept, verbatim, in a comment of
		// kubewarden/network-enforcer internal/scraper/ztunnel_lua_test.go
		// ("learn_outbound").
		name: "JSON: outbound HBONE with mutual TLS (kubewarden/network-enforcer)",
		line: `{"level":"info","time":"2026-08-10T08:19:58.950669Z","scope":"access","message":"connection complete","src.addr":"10.244.0.6:57866","src.workload":"http-client-7fc85576c4-h95l5","src.namespace":"default","src.identity":"spiffe://cluster.local/ns/default/sa/http-client-sa","dst.addr":"10.244.0.7:15008","dst.hbone_addr":"10.244.0.7:18080","dst.service":"http-service.default.svc.cluster.local","dst.workload":"http-server-7bbf596dd9-4rgdc","dst.namespace":"default","dst.identity":"spiffe://cluster.local/ns/default/sa/http-server-sa","direction":"outbound","bytes_sent":16,"bytes_recv":16,"duration":"1006ms"}`,
		want: ZtunnelEntry{
			Time: ts("2026-08-10T08:19:58.950669Z"), Level: "info", Message: "connection complete",
			SrcAddr: "10.244.0.6:57866", SrcWorkload: "http-client-7fc85576c4-h95l5", SrcNamespace: "default",
			SrcIdentity: "spiffe://cluster.local/ns/default/sa/http-client-sa",
			DstAddr:     "10.244.0.7:15008", DstHboneAddr: "10.244.0.7:18080", DstService: "http-service.default.svc.cluster.local",
			DstWorkload: "http-server-7bbf596dd9-4rgdc", DstNamespace: "default",
			DstIdentity: "spiffe://cluster.local/ns/default/sa/http-server-sa",
			Direction:   "outbound", BytesSent: 16, BytesRecv: 16, Duration: "1006ms",
		},
	},
	{
		// The same source, the destination's ztunnel for that connection ("learn_inbound").
		name: "JSON: inbound (kubewarden/network-enforcer)",
		line: `{"level":"info","time":"2026-08-10T08:19:58.949999Z","scope":"access","message":"connection complete","src.addr":"10.244.0.6:59470","src.workload":"http-client-7fc85576c4-h95l5","src.namespace":"default","src.identity":"spiffe://cluster.local/ns/default/sa/http-client-sa","dst.addr":"10.244.0.7:15008","dst.hbone_addr":"10.244.0.7:18080","dst.service":"http-service.default.svc.cluster.local","dst.workload":"http-server-7bbf596dd9-4rgdc","dst.namespace":"default","dst.identity":"spiffe://cluster.local/ns/default/sa/http-server-sa","direction":"inbound","bytes_sent":16,"bytes_recv":16,"duration":"1004ms"}`,
		want: ZtunnelEntry{
			Time: ts("2026-08-10T08:19:58.949999Z"), Level: "info", Message: "connection complete",
			SrcAddr: "10.244.0.6:59470", SrcWorkload: "http-client-7fc85576c4-h95l5", SrcNamespace: "default",
			SrcIdentity: "spiffe://cluster.local/ns/default/sa/http-client-sa",
			DstAddr:     "10.244.0.7:15008", DstHboneAddr: "10.244.0.7:18080", DstService: "http-service.default.svc.cluster.local",
			DstWorkload: "http-server-7bbf596dd9-4rgdc", DstNamespace: "default",
			DstIdentity: "spiffe://cluster.local/ns/default/sa/http-server-sa",
			Direction:   "inbound", BytesSent: 16, BytesRecv: 16, Duration: "1004ms",
		},
	},
}

func TestParseZtunnelRealLines(t *testing.T) {
	for _, tc := range realZtunnelLines {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseZtunnel(tc.line)
			if err != nil {
				t.Fatalf("ParseZtunnel: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseZtunnel:\n got %+v\nwant %+v", got, tc.want)
			}
			// kubectl logs --timestamps puts its own time first.
			got, err = ParseZtunnel("2026-12-02T10:00:00.123456789Z " + tc.line + "\r\n")
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("with kubectl's timestamp: %+v, %v", got, err)
			}
		})
	}
}

func TestParseZtunnelNotAccess(t *testing.T) {
	for _, line := range []string{
		"",
		// ztunnel's own messages (other targets), from its log at start-up and
		// a DNS line of the same public source as the passthrough line.
		"2026-08-19T22:32:58.367675Z\tdebug\tdns\tsrc.workload=\"ztunnel-diag-1787178776283731000-0\" src.namespace=\"ztunnel-diag\" query=\"A\" domain=\"kubernetes.default.svc.cluster.local.\" result=\"success\" endpoints=1",
		"2026-08-19T21:13:40.121023Z\twarn\tstate\ttimed out waiting for workload",
		// A JSON line of another scope, recorded from ztunnel (kubewarden/
		// network-enforcer internal/scraper/ztunnel_lua_test.go), and JSON
		// that is not ztunnel's.
		`{"level":"info","time":"2026-08-11T10:45:04.121633Z","scope":"ztunnel::state","message":"dry-run: deny policy match","policy":"default/deny-http-server-monitor","proxy":{"wl":"default/http-server-7bbf596dd9-8gs65"},"inbound":{"id":"4703222e84d01205aa1511f86681682f","peer":"10.244.0.9:46266"}}`,
		`{"start_time":"2024-01-01T00:00:00.000Z","method":"GET"}`,
		`{not json`,
		// An Envoy access line is not a ztunnel line.
		`[2024-01-01T00:00:00.000Z] "GET /ip HTTP/1.1" 200 - via_upstream - "-" 0 33 5 4 "-" "curl/8.16.0" "id" "httpbin.org" "1.2.3.4:80" outbound|80||httpbin.org 10.0.0.1:4 1.2.3.4:80 10.0.0.1:3 - default`,
	} {
		if _, err := ParseZtunnel(line); !errors.Is(err, ErrNotAccessLog) {
			t.Errorf("ParseZtunnel(%q) = %v, want ErrNotAccessLog", line, err)
		}
	}
}

func TestParseZtunnelMalformed(t *testing.T) {
	for name, line := range map[string]string{
		"unterminated quote":  "2024-08-21T15:32:05.754291Z\tinfo\taccess\tconnection complete\tsrc.addr=1.2.3.4:5 dst.addr=1.2.3.4:6 src.workload=\"abc",
		"bytes not a number":  "2024-08-21T15:32:05.754291Z\tinfo\taccess\tconnection complete\tsrc.addr=1.2.3.4:5 dst.addr=1.2.3.4:6 bytes_sent=x",
		"no dst.addr":         "2024-08-21T15:32:05.754291Z\tinfo\taccess\tconnection complete\tsrc.addr=1.2.3.4:5",
		"no fields":           "2024-08-21T15:32:05.754291Z\tinfo\taccess\tconnection complete",
		"other message":       "2024-08-21T15:32:05.754291Z\tinfo\taccess\tsomething else\tsrc.addr=1.2.3.4:5 dst.addr=1.2.3.4:6",
		"key without value":   "2024-08-21T15:32:05.754291Z\tinfo\taccess\tconnection complete\tsrc.addr=1.2.3.4:5 dst.addr",
		"JSON bytes a string": `{"level":"info","time":"2024-08-21T15:32:05.754291Z","scope":"access","message":"connection complete","src.addr":"1.2.3.4:5","dst.addr":"1.2.3.4:6","bytes_sent":"x"}`,
		"JSON no dst.addr":    `{"level":"info","time":"2024-08-21T15:32:05.754291Z","scope":"access","message":"connection complete","src.addr":"1.2.3.4:5"}`,
	} {
		if _, err := ParseZtunnel(line); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseZtunnel = %v, want ErrMalformed", name, err)
		}
	}
}

// The two formats of one connection read the same. The JSON line is the
// plain "inbound denied by policy" line above written as IstioJsonFormat
// would write the same event (src/telemetry.rs: level, time, scope, message,
// then the fields in order; strings as JSON strings, the byte counts as
// numbers): constructed from ztunnel's code, not recorded.
func TestParseZtunnelFormatsAgree(t *testing.T) {
	var plain struct {
		name string
		line string
		want ZtunnelEntry
	}
	for _, l := range realZtunnelLines {
		if l.name == "inbound denied by policy" {
			plain = l
		}
	}
	jsonLine := `{"level":"error","time":"2026-10-09T11:39:41.876395Z","scope":"access","message":"connection complete","src.addr":"10.244.0.14:58564","src.workload":"shuttle-7b5db664c-hmlqb","src.namespace":"starfleet","src.identity":"spiffe://cluster.local/ns/starfleet/sa/shuttle","dst.addr":"10.244.0.8:15008","dst.hbone_addr":"10.244.0.8:9080","dst.service":"cargo.starfleet.svc.cluster.local","dst.workload":"cargo-v1-6f787f8bd5-h2bpn","dst.namespace":"starfleet","dst.identity":"spiffe://cluster.local/ns/starfleet/sa/starfleet-cargo","direction":"inbound","bytes_sent":0,"bytes_recv":0,"duration":"0ms","error":"connection closed due to policy rejection: allow policies exist, but none allowed"}`
	got, err := ParseZtunnel(jsonLine)
	if err != nil || !reflect.DeepEqual(got, plain.want) {
		t.Errorf("JSON form of %q:\n got %+v, %v\nwant %+v", plain.name, got, err, plain.want)
	}
}

// Rust's Debug escapes (core::char::escape_debug) come back unescaped.
func TestParseZtunnelEscapes(t *testing.T) {
	line := "2024-08-21T15:32:05.754291Z\terror\taccess\tconnection complete\tsrc.addr=1.2.3.4:5 dst.addr=1.2.3.4:6 error=\"a \\\"quoted\\\" \\\\ word\\n\\u{1b}\""
	got, err := ParseZtunnel(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a \"quoted\" \\ word\n\x1b"; got.Error != want {
		t.Errorf("Error = %q, want %q", got.Error, want)
	}
}

func FuzzParseZtunnel(f *testing.F) {
	for _, tc := range realZtunnelLines {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseZtunnel(line)
		if err != nil {
			if !errors.Is(err, ErrNotAccessLog) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is neither ErrNotAccessLog nor ErrMalformed", err)
			}
			if !reflect.DeepEqual(e, ZtunnelEntry{}) {
				t.Fatalf("non-zero entry with error")
			}
		}
	})
}
