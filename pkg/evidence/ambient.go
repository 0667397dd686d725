package evidence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/probe/token"
)

// AmbientCollector finds a probe's lines when the client is in ambient mode: it
// has no sidecar, so the client-side witness is the outbound line of the ztunnel
// on the client's node, and the request's L7 witness is the line of the waypoint
// it passed, if any (and of an egress gateway, if the scenario routes there).
//
// What ties each line to the probe:
//
//   - ztunnel logs connections, not requests, and never sees HTTP headers, so the
//     probe's token cannot find its line. Its outbound line is the one whose
//     src.addr is curl's local ip:port: ztunnel accepts the application's
//     connection inside the pod's network namespace and logs the accepted
//     socket's peer address as src.addr (istio/ztunnel src/proxy/outbound.rs,
//     OutboundConnection::proxy: source_addr = peer_addr), which is curl's end of
//     its connection (curl's %{local_ip}:%{local_port}). Only lines written since
//     the probe started are read, so a port reused by an earlier connection of the
//     same pod is not mistaken for it; more than one match is noted.
//   - a waypoint is Envoy with Istio's access-log format, so its line is found as
//     a gateway's is: by x-request-id or by the token in the path. The waypoint
//     keeps the client's x-request-id: its connection managers run with
//     use_remote_address false (istio/istio pilot/pkg/networking/core/
//     listener_waypoint.go), so Envoy does not treat the request as an external
//     one whose id it would replace.
//
// ztunnel writes its line when the connection completes, after curl has its
// answer; the Collector polls until Timeout for it.
type AmbientCollector struct {
	Source LogSource
	// Ztunnel is the ztunnel pod on the client's node.
	Ztunnel Proxy
	// Waypoints are the waypoint pods the step may use (their IPs known when
	// possible: a ztunnel line whose dst.addr is one of them proves the
	// connection went to that waypoint, so its line is awaited).
	Waypoints []Proxy
	// Gateways are egress gateway pods, read like a sidecar client's.
	Gateways []Proxy

	Poll, Flush, Timeout time.Duration
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Collect polls the logs until ztunnel's outbound line for t is there and either
// a waypoint's line is there too, or none is coming: ztunnel connected to none of
// the watched waypoint pods (their IPs known) and the line has been visible for
// Flush, or their IPs are unknown and wantWaypoint is false. A target without
// LocalAddr (curl never connected) is looked up for Flush only. Running out of
// time is not an error: Collect returns what it found with a note on what it
// still awaited.
func (c AmbientCollector) Collect(ctx context.Context, t Target, wantWaypoint bool) (Found, error) {
	if err := c.check(t); err != nil {
		return Found{}, err
	}
	col := Collector{Now: c.Now, Sleep: c.Sleep} // its clock helpers
	start := col.now()
	deadline := start.Add(c.Timeout)
	var seen time.Time
	for polls := 1; ; polls++ {
		f := c.poll(ctx, t)
		f.Polls = polls
		now := col.now()
		if f.Ztunnel != nil && seen.IsZero() {
			seen = now
		}
		waiting := c.waitingFor(f, t, wantWaypoint, now, start, seen)
		if waiting == "" {
			f.Waited = now.Sub(start)
			return f, nil
		}
		if !now.Before(deadline) {
			f.Waited = now.Sub(start)
			f.Notes = append(f.Notes, fmt.Sprintf("gave up after %s waiting for %s", c.Timeout, waiting))
			return f, nil
		}
		if err := col.sleep(ctx, min(c.Poll, deadline.Sub(now))); err != nil {
			f.Waited = col.now().Sub(start)
			f.Notes = append(f.Notes, "stopped waiting for "+waiting)
			return f, fmt.Errorf("collect ambient lines for request id %s: %w", t.RequestID, err)
		}
	}
}

func (c AmbientCollector) check(t Target) error {
	switch {
	case c.Source == nil:
		return errors.New("evidence: AmbientCollector has no LogSource")
	case c.Ztunnel.Pod == "" || c.Ztunnel.Container == "":
		return errors.New("evidence: AmbientCollector has no ztunnel pod (pod and container)")
	case c.Poll <= 0 || c.Timeout <= 0:
		return fmt.Errorf("evidence: AmbientCollector needs Poll and Timeout above zero (got %s, %s)", c.Poll, c.Timeout)
	case t.RequestID == "" && t.LocalAddr == "":
		return errors.New("evidence: target has neither a request id nor a local address")
	}
	return nil
}

// poll reads every log once and matches the target. Each read covers the whole
// window since the probe started, so a poll's result supersedes the previous one.
func (c AmbientCollector) poll(ctx context.Context, t Target) Found {
	f := Found{LogsObserved: true}
	read := func(p Proxy) (string, bool) {
		text, err := c.Source.Logs(ctx, p, t.Since)
		if err != nil {
			f.LogsObserved = false
			f.Notes = append(f.Notes, fmt.Sprintf("could not read the log of %s: %v", p, err))
			return "", false
		}
		return text, true
	}
	if text, ok := read(c.Ztunnel); ok && t.LocalAddr != "" {
		n := 0
		for raw := range strings.SplitSeq(text, "\n") {
			e, err := accesslog.ParseZtunnel(raw)
			if errors.Is(err, accesslog.ErrMalformed) {
				f.Notes = append(f.Notes, fmt.Sprintf("%s: %v; the whole line: %s", c.Ztunnel, err, strings.TrimSpace(raw)))
				continue
			}
			// "connection opened" is a debug-level line without the outcome; the
			// harness installs ztunnel at info, but a cluster at debug must not
			// have its opening line taken for the result.
			if err != nil || e.Direction != "outbound" || e.Message == "connection opened" || !sameAddr(e.SrcAddr, t.LocalAddr) {
				continue
			}
			n++
			if n == 1 {
				f.Ztunnel, f.ZtunnelRaw, f.ZtunnelProxy = &e, strings.TrimSpace(raw), c.Ztunnel
			}
		}
		if n > 1 {
			f.Notes = append(f.Notes, fmt.Sprintf("%s has %d outbound lines from %s; used the first: %s", c.Ztunnel, n, t.LocalAddr, f.ZtunnelRaw))
		}
	}
	envoy := func(proxies []Proxy, set func(e *accesslog.Entry, raw string, p Proxy)) {
		var got *Proxy
		for _, p := range proxies {
			text, ok := read(p)
			if !ok {
				continue
			}
			for raw := range strings.SplitSeq(text, "\n") {
				e, err := accesslog.Parse(raw)
				if err != nil || !requestMatch(e, t.RequestID) {
					continue
				}
				if got != nil {
					f.Notes = append(f.Notes, fmt.Sprintf("%s also has a line for request id %s; used the one of %s: %s", p, t.RequestID, *got, strings.TrimSpace(raw)))
					continue
				}
				p := p
				got = &p
				set(&e, strings.TrimSpace(raw), p)
			}
		}
	}
	envoy(c.Waypoints, func(e *accesslog.Entry, raw string, p Proxy) {
		f.Waypoint, f.WaypointRaw, f.WaypointProxy = e, raw, p
	})
	envoy(c.Gateways, func(e *accesslog.Entry, raw string, p Proxy) {
		f.Gateway, f.GatewayRaw, f.GatewayProxy = e, raw, p
	})
	return f
}

// requestMatch finds an Envoy line by the probe's x-request-id or its token.
func requestMatch(e accesslog.Entry, id string) bool {
	return id != "" && (e.RequestID == id || token.In(e.Path, id))
}

// waitingFor says what is still awaited, or "" when Collect may return.
func (c AmbientCollector) waitingFor(f Found, t Target, wantWaypoint bool, now, start, seen time.Time) string {
	if !f.LogsObserved {
		return "a successful read of every log"
	}
	if f.Ztunnel == nil {
		if t.LocalAddr == "" && now.Sub(start) >= c.Flush {
			return "" // curl never connected: nothing could log it
		}
		if t.LocalAddr == "" {
			return fmt.Sprintf("the flush window (%s): curl never connected", c.Flush)
		}
		return "ztunnel's outbound line from " + t.LocalAddr
	}
	if f.Waypoint != nil || len(c.Waypoints) == 0 {
		return ""
	}
	if c.toWaypoint(f.Ztunnel, wantWaypoint) {
		return "the waypoint's line (ztunnel connected to " + f.Ztunnel.DstAddr + ")"
	}
	if now.Sub(seen) < c.Flush {
		return fmt.Sprintf("the flush window (%s) to prove no waypoint line", c.Flush)
	}
	return ""
}

// toWaypoint reports whether ztunnel's line shows the connection went to a
// watched waypoint, so that the waypoint's line must come.
func (c AmbientCollector) toWaypoint(z *accesslog.ZtunnelEntry, wantWaypoint bool) bool {
	host := hostOf(z.DstAddr)
	allKnown := true
	for _, w := range c.Waypoints {
		if w.IP == "" {
			allKnown = false
			continue
		}
		if sameIP(host, w.IP) {
			return true
		}
	}
	return !allKnown && wantWaypoint
}
