package egress_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/external"
)

func externalOptions() external.InstallOptions {
	o := external.InstallOptions{Out: GinkgoWriter, Timeouts: timeouts().External, AllowExistingCluster: suite.cfg.ExternalAllowExistingCluster}
	if p := suite.prepared.ClusterPlan; p.Mode != cluster.ModeExisting {
		o.KindCluster = p.Name
	}
	return o
}

// contextWithCluster gives DestroyCluster the provider under the name
// CreateClusterWithConfig stored it, since Ginkgo hands every node its own context.
func contextWithCluster(ctx context.Context) context.Context {
	return context.WithValue(ctx, support.ClusterNameContextKey(suite.provider.Name()), support.E2EClusterProvider(suite.provider))
}
