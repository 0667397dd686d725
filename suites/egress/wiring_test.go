package egress_test

import (
	. "github.com/onsi/ginkgo/v2"

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
