package runner

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
)

func TestDefaultTimeouts(t *testing.T) {
	d := DefaultTimeouts()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Converge != 60*time.Second || d.ProbeInterval != time.Second || d.Consecutive != 3 || d.Curl != 10*time.Second ||
		d.LogPoll != 250*time.Millisecond || d.LogFlush != 2*time.Second || d.LogTimeout != 15*time.Second {
		t.Errorf("defaults = %+v", d)
	}
	if (Timeouts{}).WithDefaults() != d {
		t.Errorf("zero WithDefaults = %+v, want the defaults", (Timeouts{}).WithDefaults())
	}
	got := Timeouts{Converge: 90 * time.Second, Consecutive: 5}.WithDefaults()
	if got.Converge != 90*time.Second || got.Consecutive != 5 || got.Curl != d.Curl {
		t.Errorf("partial WithDefaults = %+v", got)
	}
}

func TestTimeoutsValidate(t *testing.T) {
	bad := DefaultTimeouts()
	bad.LogPoll = -time.Second
	bad.Consecutive = 0
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "LogPoll=-1s") || !strings.Contains(err.Error(), "Consecutive=0") {
		t.Errorf("err = %v", err)
	}
}

func TestParseOverrides(t *testing.T) {
	tm := DefaultTimeouts()
	if err := tm.ParseOverrides("Converge=90s, Consecutive=5; LogFlush=1500ms"); err != nil {
		t.Fatal(err)
	}
	if tm.Converge != 90*time.Second || tm.Consecutive != 5 || tm.LogFlush != 1500*time.Millisecond {
		t.Errorf("got %+v", tm)
	}
	for _, bad := range []string{"Converge", "Nope=1s", "Converge=ninety", "Consecutive=3.5"} {
		if err := tm.ParseOverrides(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if err := tm.ParseOverrides(""); err != nil {
		t.Errorf("empty: %v", err)
	}
}

func TestWiringTakesTimeouts(t *testing.T) {
	tm := Timeouts{Exec: 45 * time.Second, LogTimeout: 20 * time.Second}
	p := NewProber(nil, "ns", "pod", "sleep", tm)
	if p.ExecTimeout != 45*time.Second || p.Retries != 2 || p.RetryWait != time.Second {
		t.Errorf("prober %+v", p)
	}
	c := NewCollector(nil, sidecar, nil, tm)
	if c.Timeout != 20*time.Second || c.Poll != 250*time.Millisecond || c.Flush != 2*time.Second || c.SinceSlack != 2*time.Second {
		t.Errorf("collector %+v", c)
	}
}

func TestHaveConverged(t *testing.T) {
	g := gomega.NewWithT(t)
	w := newWorld(t, viaGateway)
	o := newRunner(w, nil).Converge(context.Background(), stepAfterRouting)
	g.Expect(o).To(HaveConverged())
	w = newWorld(t, direct)
	o = newRunner(w, nil).Converge(context.Background(), stepAfterRouting)
	g.Expect(o).NotTo(HaveConverged())
	msg := HaveConverged().FailureMessage(&o)
	g.Expect(msg).To(gomega.ContainSubstring("step after-routing FAILED"))
	g.Expect(msg).To(gomega.ContainSubstring(lineSidecarDirect))
}
