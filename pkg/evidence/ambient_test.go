package evidence

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The lines below follow ztunnel's format (istio/ztunnel src/telemetry.rs and
// src/proxy/metrics.rs; see pkg/accesslog's tests for real ones) and Istio's
// default TEXT access-log format for the waypoint. The waypoint line's values are
// a public ambient egress walk-through's (curl through a waypoint to httpbin.org:
// upstream cluster inbound-vip|80|http|httpbin.org, downstream local address the
// ServiceEntry's auto-allocated VIP 240.240.0.4:80), with the probe's request id.
const (
	ambientClientAddr = "10.42.0.13:42172"
	ambientWaypointIP = "10.42.0.16"
	ambientID         = "5257e961-a040-4d33-9ff8-844ea8a08553"

	ztunnelToWaypoint = "2024-10-24T15:36:26.170000Z\tinfo\taccess\tconnection complete\tsrc.addr=10.42.0.13:42172 src.workload=\"curl-5b549b49b8-6xqzb\" src.namespace=\"default\" src.identity=\"spiffe://cluster.local/ns/default/sa/curl\" dst.addr=10.42.0.16:15008 dst.hbone_addr=240.240.0.4:80 dst.service=\"httpbin.org\" dst.workload=\"waypoint-7b9f7f8b9c-2xv8p\" dst.namespace=\"egress\" dst.identity=\"spiffe://cluster.local/ns/egress/sa/waypoint\" direction=\"outbound\" bytes_sent=78 bytes_recv=270 duration=\"162ms\""
	ztunnelDirect     = "2024-10-24T15:36:26.170000Z\tinfo\taccess\tconnection complete\tsrc.addr=10.42.0.13:42172 src.workload=\"curl-5b549b49b8-6xqzb\" src.namespace=\"default\" dst.addr=44.196.139.143:80 direction=\"outbound\" bytes_sent=78 bytes_recv=270 duration=\"162ms\""
	// Same source address, but the destination's ztunnel's view (inbound) and
	// another connection of the pod: neither is the probe's outbound line.
	ztunnelInbound   = "2024-10-24T15:36:26.100000Z\tinfo\taccess\tconnection complete\tsrc.addr=10.42.0.13:42172 dst.addr=10.42.0.20:15008 dst.hbone_addr=10.42.0.20:8080 direction=\"inbound\" bytes_sent=1 bytes_recv=1 duration=\"1ms\""
	ztunnelOtherPort = "2024-10-24T15:36:26.100000Z\tinfo\taccess\tconnection complete\tsrc.addr=10.42.0.13:42999 dst.addr=44.196.139.143:80 direction=\"outbound\" bytes_sent=1 bytes_recv=1 duration=\"1ms\""
	ztunnelOwnLine   = "2024-10-24T15:36:26.000000Z\tinfo\txds\treceived response"
	waypointLine     = `[2024-10-24T15:36:26.008Z] "HEAD /get HTTP/1.1" 200 - via_upstream - "-" 0 0 160 160 "-" "curl/8.10.1" "5257e961-a040-4d33-9ff8-844ea8a08553" "httpbin.org" "44.196.139.143:80" inbound-vip|80|http|httpbin.org 10.42.0.16:40144 240.240.0.4:80 10.42.0.13:42172 - default`
)

var (
	ztunnelProxy  = Proxy{Namespace: "istio-system", Pod: "ztunnel-x7k2p", Container: ProxyContainer}
	waypointProxy = Proxy{Namespace: "egress", Pod: "waypoint-7b9f7f8b9c-2xv8p", Container: ProxyContainer, IP: ambientWaypointIP}
)

func ambientCollector(c *clock, logs *fakeLogs, waypoints ...Proxy) AmbientCollector {
	return AmbientCollector{Source: logs, Ztunnel: ztunnelProxy, Waypoints: waypoints,
		Poll: 250 * time.Millisecond, Flush: 2 * time.Second, Timeout: 15 * time.Second, Now: c.Now, Sleep: c.Sleep}
}

func ambientTarget(c *clock) Target {
	return Target{RequestID: ambientID, LocalAddr: ambientClientAddr, Since: c.now}
}

func TestAmbientThroughWaypoint(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(ztunnelProxy.Pod, 0, ztunnelOwnLine)
	logs.write(ztunnelProxy.Pod, 1500*time.Millisecond, ztunnelInbound, ztunnelOtherPort, ztunnelToWaypoint)
	logs.write(waypointProxy.Pod, 3*time.Second, waypointLine)
	f, err := ambientCollector(c, logs, waypointProxy).Collect(context.Background(), ambientTarget(c), false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Ztunnel == nil || f.Ztunnel.DstAddr != "10.42.0.16:15008" || f.ZtunnelProxy != ztunnelProxy {
		t.Fatalf("ztunnel line: %+v", f.Ztunnel)
	}
	// ztunnel connected to the waypoint's pod: its line is waited for beyond the
	// flush window (3 s after the start, 1.5 s after ztunnel's line).
	if f.Waypoint == nil || f.Waypoint.UpstreamCluster != "inbound-vip|80|http|httpbin.org" || f.WaypointProxy != waypointProxy {
		t.Fatalf("waypoint line: %+v (notes %v)", f.Waypoint, f.Notes)
	}
	if !f.LogsObserved || len(f.Notes) != 0 {
		t.Errorf("LogsObserved %v, notes %v", f.LogsObserved, f.Notes)
	}
}

func TestAmbientDirectProvesNoWaypointAfterFlush(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(ztunnelProxy.Pod, time.Second, ztunnelDirect)
	start := c.now
	f, err := ambientCollector(c, logs, waypointProxy).Collect(context.Background(), ambientTarget(c), true)
	if err != nil {
		t.Fatal(err)
	}
	if f.Ztunnel == nil || f.Ztunnel.DstAddr != "44.196.139.143:80" || f.Waypoint != nil || !f.LogsObserved {
		t.Fatalf("found %+v", f)
	}
	// The waypoint's IP is known and is not where ztunnel connected: the line is
	// proven absent after the flush window, even though the step expected one.
	if got := c.now.Sub(start); got < 3*time.Second || got > 4*time.Second {
		t.Errorf("waited %s, want the 1 s until ztunnel's line plus the 2 s flush window", got)
	}
}

func TestAmbientWaypointLineNeverComes(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(ztunnelProxy.Pod, time.Second, ztunnelToWaypoint)
	f, err := ambientCollector(c, logs, waypointProxy).Collect(context.Background(), ambientTarget(c), false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Waypoint != nil || len(f.Notes) != 1 || !strings.Contains(f.Notes[0], "gave up after 15s waiting for the waypoint's line (ztunnel connected to 10.42.0.16:15008)") {
		t.Errorf("notes %v", f.Notes)
	}
}

func TestAmbientUnknownWaypointIP(t *testing.T) {
	for _, want := range []bool{false, true} {
		c := newClock()
		logs := newFakeLogs(c)
		logs.write(ztunnelProxy.Pod, time.Second, ztunnelToWaypoint)
		noIP := waypointProxy
		noIP.IP = ""
		f, _ := ambientCollector(c, logs, noIP).Collect(context.Background(), ambientTarget(c), want)
		gaveUp := len(f.Notes) > 0 && strings.Contains(f.Notes[len(f.Notes)-1], "gave up")
		if gaveUp != want {
			t.Errorf("wantWaypoint %v: gave up %v (notes %v)", want, gaveUp, f.Notes)
		}
	}
}

func TestAmbientCurlNeverConnected(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(ztunnelProxy.Pod, 0, ztunnelDirect)
	start := c.now
	f, err := ambientCollector(c, logs, waypointProxy).Collect(context.Background(), Target{RequestID: ambientID, Since: c.now}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Ztunnel != nil || c.now.Sub(start) != 2*time.Second {
		t.Errorf("found %+v after %s; want nothing after the flush window", f.Ztunnel, c.now.Sub(start))
	}
}

func TestAmbientReadErrors(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(ztunnelProxy.Pod, 0, ztunnelDirect)
	boom := errors.New("kubelet unreachable")
	for range 100 { // every read of the whole Collect fails
		logs.fail[waypointProxy.Pod] = append(logs.fail[waypointProxy.Pod], boom)
	}
	f, err := ambientCollector(c, logs, waypointProxy).Collect(context.Background(), ambientTarget(c), false)
	if err != nil {
		t.Fatal(err)
	}
	// A log that cannot be read proves nothing: the result says so.
	if f.LogsObserved || !strings.Contains(strings.Join(f.Notes, "\n"), "kubelet unreachable") {
		t.Errorf("LogsObserved %v, notes %v", f.LogsObserved, f.Notes)
	}
}

func TestAmbientCollectorChecks(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	for name, col := range map[string]AmbientCollector{
		"no source":  {Ztunnel: ztunnelProxy, Poll: time.Second, Timeout: time.Second},
		"no ztunnel": {Source: logs, Poll: time.Second, Timeout: time.Second},
		"no poll":    {Source: logs, Ztunnel: ztunnelProxy, Timeout: time.Second},
	} {
		if _, err := col.Collect(context.Background(), ambientTarget(c), false); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	col := ambientCollector(c, logs)
	if _, err := col.Collect(context.Background(), Target{}, false); err == nil {
		t.Error("empty target: no error")
	}
}
