package runner

import (
	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
)

// NewProber returns a Prober for the client container with its exec bounds and
// retries taken from t (zero fields: defaults).
func NewProber(exec probe.Executor, namespace, pod, container string, t Timeouts) probe.Prober {
	t = t.WithDefaults()
	return probe.Prober{
		Exec: exec, Namespace: namespace, Pod: pod, Container: container,
		Retries: t.ExecRetries, RetryWait: t.ExecRetryWait, ExecTimeout: t.Exec,
	}
}

// NewCollector returns a Collector of the client sidecar's and the gateways'
// lines with its poll, flush and timeout taken from t (zero fields: defaults).
func NewCollector(src evidence.LogSource, sidecar evidence.Proxy, gateways []evidence.Proxy, t Timeouts) evidence.Collector {
	t = t.WithDefaults()
	return evidence.Collector{
		Source: src, Sidecar: sidecar, Gateways: gateways,
		Poll: t.LogPoll, Flush: t.LogFlush, Timeout: t.LogTimeout, SinceSlack: t.LogSinceSlack,
	}
}

// NewAmbientCollector returns the Collector of an ambient client's lines (the
// ztunnel on its node, the waypoints, the gateways) with its poll, flush and
// timeout taken from t.
func NewAmbientCollector(src evidence.LogSource, ztunnel evidence.Proxy, waypoints, gateways []evidence.Proxy, t Timeouts) evidence.AmbientCollector {
	t = t.WithDefaults()
	return evidence.AmbientCollector{
		Source: src, Ztunnel: ztunnel, Waypoints: waypoints, Gateways: gateways,
		Poll: t.LogPoll, Flush: t.LogFlush, Timeout: t.LogTimeout,
	}
}
