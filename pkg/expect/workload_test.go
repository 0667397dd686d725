package expect

import (
	"errors"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// squidLine is squid's access.log line as istio.io's http-proxy page shows it
// (content/en/docs/tasks/traffic-management/egress/http-proxy/index.md,
// snip_deploy_an_https_proxy_9): the client's address is the third field.
const squidLine = "1544160065.248    228 172.30.109.89 TCP_TUNNEL/200 87633 CONNECT en.wikipedia.org:443 - HIER_DIRECT/91.198.174.192 -"

func TestWorkloadLogCheck(t *testing.T) {
	w := &scenario.WorkloadLogExpect{Workload: "squid", File: "/var/log/squid/access.log", Contains: "CONNECT en.wikipedia.org:443"}
	other := "1544160066.001    120 172.30.109.90 TCP_TUNNEL/200 1200 CONNECT en.wikipedia.org:443 - HIER_DIRECT/91.198.174.192 -"
	for _, tc := range []struct {
		name, ip, lines string
		err             error
		want            Outcome
	}{
		{"the client's line", "172.30.109.89", other + "\n" + squidLine + "\n", nil, Pass},
		{"another client's line only", "172.30.109.89", other, nil, Fail},
		{"an IP that is a prefix of the field", "172.30.109.8", squidLine, nil, Fail},
		{"another destination", "172.30.109.89", "1544160065.248 228 172.30.109.89 TCP_TUNNEL/200 1 CONNECT httpbin.org:443 - HIER_DIRECT/1.2.3.4 -", nil, Fail},
		{"empty log", "172.30.109.89", "", nil, Fail},
		{"not read", "172.30.109.89", "", errors.New("tail: no such file"), Fail},
		{"no client IP", "", squidLine, nil, Fail},
	} {
		c := WorkloadLogCheck(w, tc.ip, tc.lines, tc.err)
		if c.Outcome != tc.want || c.Field != WorkloadLogField {
			t.Errorf("%s: %+v", tc.name, c)
		}
	}
	for _, tier := range []Tier{Offline, Cluster} {
		v := Evaluate(scenario.Expect{Route: scenario.RouteDirect, WorkloadLog: w}, Evidence{Tier: tier, Route: scenario.RouteDirect})
		c, ok := v.Check(WorkloadLogField)
		if !ok || c.Outcome != NotObservable {
			t.Errorf("%s: the probe's own verdict must leave the workload's log to the run: %+v", tier, c)
		}
	}
}
