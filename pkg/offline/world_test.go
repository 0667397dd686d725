package offline

import (
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/world"
)

// TestClusterTierNamesTheWorld: until the cluster tier renders its install from
// pkg/world, the names it uses must be the world's, or the tiers test different
// meshes.
func TestClusterTierNamesTheWorld(t *testing.T) {
	if mesh.IstioNamespace != world.IstioNamespace || mesh.EgressGatewayName != world.EgressGatewayName {
		t.Errorf("pkg/mesh installs %s/%s, the world holds %s/%s", mesh.IstioNamespace, mesh.EgressGatewayName, world.IstioNamespace, world.EgressGatewayName)
	}
	if mesh.SidecarName != world.OutboundPolicySidecarName {
		t.Errorf("pkg/mesh names the outbound-policy Sidecar %q, the world %q", mesh.SidecarName, world.OutboundPolicySidecarName)
	}
	if mesh.AllowAny != world.AllowAny || mesh.RegistryOnly != world.RegistryOnly {
		t.Error("outbound traffic policy modes differ between pkg/mesh and pkg/world")
	}
}
