package engine

import (
	"context"
	"fmt"
	"io"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Env is one cluster a run brings up and everything connected to it: the egress
// suite holds one, the upgrade gate one per strategy. Its stages are the
// bring-up and tear-down handlers both suites run the same way, so a fix to how
// a cluster is created, connected to or deleted is made once. What differs
// (how Istio is installed, the upgrade gate's clients and baseline) stays with
// each suite.
type Env struct {
	Provider *cluster.Provider
	EnvCfg   *envconf.Config
	RestCfg  *rest.Config
	Kube     kubernetes.Interface
	Cluster  *deploy.Cluster
	Exec     probe.Executor
	Logs     evidence.LogSource
	// Standin is the hermetic stand-in (EXTERNAL=cluster), nil otherwise.
	Standin *external.Standin
	// Outcome says whether anything failed, bring-up included: it decides
	// KEEP_CLUSTER_ON_FAILURE.
	Outcome Outcome
	// Out receives progress lines of the stages.
	Out io.Writer

	// standinTried: the stand-in's install was started, so tear-down removes it
	// (a half-done install too), and only then.
	standinTried bool
}

// EnvInputs are what the shared stages need from the run.
type EnvInputs struct {
	// Cluster is how the cluster is created: the provider's options and its plan.
	Cluster cluster.Options
	// Plan is the cluster plan; nil: the provider's own (Provider.Plan), which
	// Require may refuse.
	Plan    *cluster.Plan
	Require func(cluster.Plan) error
	// Timeouts bound the deploy waits of the connected cluster.
	Timeouts Timeouts
	// Preload are the images PRELOAD_IMAGES loads into kind.
	Preload []string
	// Scenarios decide the Gateway API channel whose CRDs are installed.
	Scenarios []*scenario.Scenario
	Modules   deploy.Modules
	RunID     string
	External  external.InstallOptions
	// Failed says, at tear-down, whether the run failed beyond Outcome (the
	// current Ginkgo spec, a blocked upgrade).
	Failed func() bool
}

// BringUpStages are the bring-up stages both suites share: Docker, the kind
// cluster (created and connected), preloaded images, the Gateway API CRDs and
// the hermetic stand-in. A suite adds its own (Istio, clients) with With.
func (e *Env) BringUpStages(in EnvInputs) Stages {
	return Stages{
		plan.StageDocker: cluster.CheckDocker,
		plan.StageCluster: func(ctx context.Context) error {
			return e.createCluster(ctx, in)
		},
		plan.StagePreload: func(ctx context.Context) error {
			return PreloadImages(ctx, e.Provider.LoadImage, in.Preload)
		},
		plan.StageGatewayAPICRDs: func(ctx context.Context) error {
			src, err := in.Modules.GatewayAPICRDs(ctx, deploy.ChannelFor(in.Scenarios))
			if err != nil {
				return err
			}
			_, err = deploy.InstallCRDs(ctx, e.Cluster, src, in.RunID)
			return err
		},
		plan.StageExternal: func(ctx context.Context) error {
			if e.Standin == nil {
				return fmt.Errorf("the plan installs the hermetic stand-in, but the run has none")
			}
			e.standinTried = true
			return e.Standin.Install(ctx, e.Kube, in.External)
		},
	}
}

// createCluster creates the kind cluster the plan names and connects to it.
func (e *Env) createCluster(ctx context.Context, in EnvInputs) error {
	var err error
	if e.Provider, err = cluster.NewProvider(in.Cluster); err != nil {
		return err
	}
	var p cluster.Plan
	if in.Plan != nil {
		p = *in.Plan
	} else if p, err = e.Provider.Plan(); err != nil {
		return err
	}
	if in.Require != nil {
		if err := in.Require(p); err != nil {
			return err
		}
	}
	kindConfig, err := cluster.ResolveKindConfig(p.KindConfig)
	if err != nil {
		return err
	}
	e.EnvCfg = envconf.New()
	if _, err = envfuncs.CreateClusterWithConfig(e.Provider, e.Provider.Name(), kindConfig)(ctx, e.EnvCfg); err != nil {
		return fmt.Errorf("creating the cluster: %w", err)
	}
	return e.Connect(e.EnvCfg.KubeconfigFile(), p, in.Timeouts)
}

// Connect builds the clients every step uses from a kubeconfig.
func (e *Env) Connect(kubeconfig string, p cluster.Plan, t Timeouts) error {
	var err error
	if e.RestCfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
		return err
	}
	if e.Kube, err = kubernetes.NewForConfig(e.RestCfg); err != nil {
		return err
	}
	if e.Cluster, err = NewCluster(e.RestCfg, p, t); err != nil {
		return err
	}
	if e.Exec, err = probe.NewKubeExecutor(e.RestCfg); err != nil {
		return err
	}
	e.Logs = evidence.NewKubeLogSource(e.Kube)
	return nil
}

// TearDownStages are the tear-down stages both suites share: what the run
// created, the stand-in, and the cluster as its plan says (KEEP_CLUSTER,
// KEEP_CLUSTER_ON_FAILURE). Each does nothing when what it removes never came
// up; engine.Stages.TearDown runs every one whatever the others did, so a
// failed clean-up never leaks the cluster.
func (e *Env) TearDownStages(in EnvInputs) Stages {
	return Stages{
		plan.StageCleanup: func(ctx context.Context) error {
			if e.Cluster == nil {
				return nil
			}
			res, err := deploy.Cleanup(ctx, e.Cluster, in.RunID)
			fmt.Fprintf(e.out(), "clean-up: deleted %d objects, left %v\n", len(res.Deleted), res.Left)
			return err
		},
		plan.StageRemoveExternal: func(ctx context.Context) error {
			if !e.standinTried || e.Kube == nil {
				return nil
			}
			return e.Standin.Uninstall(ctx, e.Kube, in.External)
		},
		plan.StageDeleteCluster: func(ctx context.Context) error {
			if e.Provider == nil || e.EnvCfg == nil {
				return nil
			}
			e.Provider.SetFailed(e.Outcome.Failed() || (in.Failed != nil && in.Failed()))
			// DestroyCluster finds the provider under the name CreateClusterWithConfig
			// stored it in the context, and Ginkgo hands every node a context of its own.
			ctx = context.WithValue(ctx, support.ClusterNameContextKey(e.Provider.Name()), support.E2EClusterProvider(e.Provider))
			_, err := envfuncs.DestroyCluster(e.Provider.Name())(ctx, e.EnvCfg)
			return err
		},
	}
}

func (e *Env) out() io.Writer {
	if e.Out == nil {
		return io.Discard
	}
	return e.Out
}

// With is h with the handlers of more added (more's win on the same stage).
func (h Stages) With(more Stages) Stages {
	out := Stages{}
	for k, v := range h {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}
