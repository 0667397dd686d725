package scenario

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestLoadZtunnelLog(t *testing.T) {
	s, err := LoadWith("testdata/ambient-ztunnel", withWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	if z := s.Steps[0].Expect.ZtunnelLog; z == nil || z.HBONE == nil || *z.HBONE || z.Absent {
		t.Errorf("direct: %+v", z)
	}
	z := s.Steps[1].Expect.ZtunnelLog
	if z == nil || !*z.HBONE || z.DstService != "httpbin.org" ||
		z.DstIdentity != "spiffe://cluster.local/ns/egress-ambient-ztunnel/sa/waypoint" ||
		z.SrcIdentity != "spiffe://cluster.local/ns/egress-ambient-ztunnel/sa/sleep" {
		t.Errorf("waypoint: %+v", z)
	}
	if z := s.Steps[2].Expect.ZtunnelLog; z == nil || !z.Absent {
		t.Errorf("absent: %+v", z)
	}
	if got := s.Steps[1].LineOf("expect.ztunnelLog.dstService"); got != 18 {
		t.Errorf("LineOf(expect.ztunnelLog.dstService) = %d, want 18", got)
	}
	// DRY_RUN prints expectations with yaml/v3: absent comes back as written,
	// and a mapping reads back the same.
	out, err := yaml.Marshal(s.Steps[2].Expect)
	if err != nil {
		t.Fatal(err)
	}
	var back Expect
	if err := yaml.Unmarshal(out, &back); err != nil || back.ZtunnelLog == nil || !back.ZtunnelLog.Absent {
		t.Errorf("round trip of %s: %+v, %v", out, back.ZtunnelLog, err)
	}
	out, _ = yaml.Marshal(s.Steps[1].Expect)
	if err := yaml.Unmarshal(out, &back); err != nil || back.ZtunnelLog.DstService != "httpbin.org" {
		t.Errorf("round trip of %s: %+v, %v", out, back.ZtunnelLog, err)
	}
}
