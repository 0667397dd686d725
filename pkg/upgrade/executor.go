package upgrade

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/report"
)

// Istio is the istioctl side of an upgrade. MeshIstio drives the real istioctl
// of each version; tests use a fake.
type Istio interface {
	// Install runs `istioctl install` of version, as revision rev ("" or
	// "default": the default revision).
	Install(ctx context.Context, version, rev string) error
	// Uninstall runs version's `istioctl uninstall --revision rev`.
	Uninstall(ctx context.Context, version, rev string) error
	// WaitReady waits for istiod of rev and the egress gateway.
	WaitReady(ctx context.Context, rev string) error
	// Precheck runs version's `istioctl x precheck --from-version fromMinor` and
	// returns what it printed.
	Precheck(ctx context.Context, version, fromMinor string) (string, error)
}

// Executor runs an upgrade window's actions in order and records each one. It
// stops at the first failed action (later ones are recorded as skipped); an
// advisory action (ActPrecheck) is recorded and never stops it.
type Executor struct {
	Istio Istio
	Kube  Kube
	// Clients are the client Deployments to restart; Namespaces the client
	// namespaces to relabel.
	Clients    []ProxyTarget
	Namespaces []string
	// Commands renders each action's exact commands into the report.
	Commands CommandInputs
	// Logf receives progress; nil: quiet.
	Logf func(format string, args ...any)
}

// WindowResult is what one window did.
type WindowResult struct {
	Actions     []report.UpgradeAction
	ProxyChecks []report.ProxyCheck
	// Err is the first failed action's error.
	Err error
}

// RunWindow runs w's actions. phase names where the proxies are afterwards (the
// phase proven next), for the proxy checks.
func (e Executor) RunWindow(ctx context.Context, w Window, phase string) WindowResult {
	var res WindowResult
	for _, a := range w.Actions {
		rec := report.UpgradeAction{Window: w.Name, Name: a.Title(), Command: strings.Join(a.Commands(e.Commands), "; "),
			Started: e.Kube.now(), Advisory: a.Kind == ActPrecheck}
		if res.Err != nil {
			rec.Result, rec.Error, rec.Finished = report.Skip, "not run: an earlier action failed", rec.Started
			res.Actions = append(res.Actions, rec)
			continue
		}
		e.logf("%s: %s", w.Name, a.Title())
		out, checks, err := e.run(ctx, a, phase)
		rec.Finished = e.Kube.now()
		rec.Output = clipOutput(out)
		res.ProxyChecks = append(res.ProxyChecks, checks...)
		rec.Result = report.Pass
		if err != nil {
			rec.Result, rec.Error = report.Fail, err.Error()
			if !rec.Advisory {
				res.Err = fmt.Errorf("%s: %s: %w", w.Name, a.Title(), err)
			} else {
				e.logf("%s: %s reported issues (advisory, the upgrade goes on): %v", w.Name, a.Title(), err)
			}
		}
		res.Actions = append(res.Actions, rec)
	}
	return res
}

// CheckBaseline checks that the gateway and every client run want, before the
// first phase: it proves the version check itself sees FROM where FROM runs.
func (e Executor) CheckBaseline(ctx context.Context, want ProxyExpectation) ([]report.ProxyCheck, error) {
	_, checks, err := e.run(ctx, Action{Kind: ActCheckProxies, Expect: want}, PhaseFrom)
	return checks, err
}

func (e Executor) run(ctx context.Context, a Action, phase string) (string, []report.ProxyCheck, error) {
	switch a.Kind {
	case ActPrecheck:
		out, err := e.Istio.Precheck(ctx, a.Version, a.FromMinor)
		return out, nil, err
	case ActInstall:
		return "", nil, e.Istio.Install(ctx, a.Version, a.Revision)
	case ActWaitControlPlane:
		return "", nil, e.Istio.WaitReady(ctx, a.Revision)
	case ActGateway:
		return e.gateway(ctx, a.Expect, phase)
	case ActRelabel:
		var errs []error
		for _, ns := range e.Namespaces {
			errs = append(errs, e.Kube.Relabel(ctx, ns, a.Revision))
		}
		return "", nil, errors.Join(errs...)
	case ActRestartClients:
		for _, c := range e.Clients {
			if err := e.Kube.Restart(ctx, c); err != nil {
				return "", nil, err
			}
		}
		return e.wait(ctx, e.Clients, a.Expect, phase)
	case ActUninstall:
		return "", nil, e.Istio.Uninstall(ctx, a.Version, a.Revision)
	case ActWaitGone:
		return "", nil, e.Kube.WaitGone(ctx, mesh.IstioNamespace, "istiod"+suffix(revisionOption(a.Revision)))
	case ActCheckProxies:
		return e.wait(ctx, append([]ProxyTarget{GatewayTarget}, e.Clients...), a.Expect, phase)
	}
	return "", nil, fmt.Errorf("unknown action %q", a.Kind)
}

// gateway makes the egress gateway run want. The install normally re-renders its
// pod template with TO's proxy (and, canary, the new revision), which rolls it:
// a second restart would only add a rollout. Only a template that still names
// another proxy is restarted.
func (e Executor) gateway(ctx context.Context, want ProxyExpectation, phase string) (string, []report.ProxyCheck, error) {
	ok, why, err := e.Kube.TemplateRunsProxy(ctx, GatewayTarget, want)
	if err != nil {
		return "", nil, err
	}
	note := "rolled by the install (" + why + ")"
	if !ok {
		note = "restarted: the install left the " + why
		if err := e.Kube.Restart(ctx, GatewayTarget); err != nil {
			return note, nil, err
		}
	}
	e.logf("  egress gateway %s", note)
	out, checks, err := e.wait(ctx, []ProxyTarget{GatewayTarget}, want, phase)
	return strings.TrimSpace(note + "\n" + out), checks, err
}

// wait waits for every target in turn; all are waited for even when one fails,
// so the report shows every pod.
func (e Executor) wait(ctx context.Context, targets []ProxyTarget, want ProxyExpectation, phase string) (string, []report.ProxyCheck, error) {
	var all []report.ProxyCheck
	var errs []error
	for _, t := range targets {
		checks, err := e.Kube.WaitProxies(ctx, t, phase, want)
		all = append(all, checks...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return "", all, errors.Join(errs...)
}

func (e Executor) logf(format string, args ...any) {
	if e.Logf != nil {
		e.Logf(format, args...)
	}
}

// clipOutput keeps the end of a command's output for the report.
func clipOutput(s string) string {
	s = strings.TrimSpace(s)
	const n = 4096
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
