package engine

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/egress-conformance/egress-conformance/pkg/ambient"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// stepEnv is what proving a step needs of the cluster: both cluster suites prove
// their steps through it, so a step means the same in `make e2e` and in every
// phase of the upgrade gate.
type stepEnv struct {
	Kube     kubernetes.Interface
	Exec     probe.Executor
	Logs     evidence.LogSource
	Timeouts runner.Timeouts
	// CurlTrustArgs let curl verify the hermetic stand-in's certificate.
	CurlTrustArgs []string
	// OnAttempt sees every attempt (progress lines).
	OnAttempt func(runner.Attempt)
	// GatewayPoll is the interval of the wait for gateway pods; zero: 2 s.
	GatewayPoll time.Duration
}

// stepRunner is the runner of step i of s from client, with the gateways the plan
// names for that step (istioctl's egress gateway, and every Gateway API gateway of
// the step's bundle, whose pods istiod creates after the Gateway is applied and
// which are therefore waited for, bounded by Converge).
func (e stepEnv) stepRunner(ctx context.Context, s *scenario.Scenario, i int, client deploy.ClientPod) (runner.Runner, []plan.Gateway, error) {
	step := s.Steps[i]
	gateways := plan.Gateways(s, step)
	poll := e.GatewayPoll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	var proxies []evidence.Proxy
	for _, g := range gateways {
		got, err := evidence.WaitGatewayProxies(ctx, e.Kube, g.Namespace, g.Selector, e.Timeouts.WithDefaults().Converge, poll)
		if err != nil {
			return runner.Runner{}, gateways, fmt.Errorf("no running pod with container %s matches %s in %s: %w",
				evidence.ProxyContainer, g.Selector, g.Namespace, err)
		}
		proxies = append(proxies, got...)
	}
	t := e.Timeouts
	var collector runner.Collector
	ambientClient := s.ClientFor(step.Request).Ambient()
	if ambientClient {
		c, err := e.ambientCollector(ctx, s, step, client, proxies)
		if err != nil {
			return runner.Runner{}, gateways, err
		}
		collector = c
	} else {
		sidecar := evidence.Proxy{Namespace: client.Namespace, Pod: client.Name, Container: evidence.ProxyContainer, IP: client.IP}
		c := runner.NewCollector(e.Logs, sidecar, proxies, t)
		c.NoSidecar = client.NoSidecar // an uninjected client: only the gateways' logs exist
		collector = c
	}
	return runner.Runner{
		Prober:        runner.NewProber(e.Exec, client.Namespace, client.Name, client.Container, t),
		Collector:     collector,
		Ambient:       ambientClient,
		ClientIP:      client.IP,
		CurlTrustArgs: e.CurlTrustArgs,
		GatewayHosts:  plan.Hosts(gateways),
		Timeouts:      t,
		OnAttempt:     e.OnAttempt,
	}, gateways, nil
}

// ambientCollector reads an ambient client's evidence: the ztunnel on its node,
// the waypoints of the step's bundle (whose pods istiod creates after the Gateway
// is applied, so they are waited for like Gateway API gateways), and the gateways.
func (e stepEnv) ambientCollector(ctx context.Context, s *scenario.Scenario, step scenario.Step, client deploy.ClientPod, gateways []evidence.Proxy) (runner.Collector, error) {
	z, err := ambient.ZtunnelFor(ctx, e.Kube, client.Namespace, client.Name)
	if err != nil {
		return nil, err
	}
	poll := e.GatewayPoll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	var waypoints []evidence.Proxy
	for _, w := range ambient.Waypoints(step.Bundle, s.Namespace()) {
		got, err := evidence.WaitGatewayProxies(ctx, e.Kube, w.Namespace, w.Selector(), e.Timeouts.WithDefaults().Converge, poll)
		if err != nil {
			return nil, fmt.Errorf("waypoint %s/%s: %w", w.Namespace, w.Name, err)
		}
		waypoints = append(waypoints, got...)
	}
	return runner.NewAmbientCollector(e.Logs, z, waypoints, gateways, e.Timeouts), nil
}
