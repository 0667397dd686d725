package runner

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Timeouts holds every duration of the cluster tier's step runner, and the
// consecutive-success count that goes with them. Nothing else in the probe,
// evidence or runner packages hard-codes a duration: they take theirs from here.
// (The model is Gateway API conformance's TimeoutConfig.)
type Timeouts struct {
	// Converge bounds one step: the expectation must hold for Consecutive probes
	// in a row before it runs out. Istio pushes config within 100 ms–10 s
	// (debounced), and a new gateway pod may need more.
	Converge time.Duration
	// ProbeInterval is the time from the start of one probe to the start of the
	// next: the only deliberate pause of the loop.
	ProbeInterval time.Duration
	// Consecutive is how many probes in a row must meet the expectation.
	Consecutive int

	// Curl is curl's --max-time for one request.
	Curl time.Duration
	// Exec bounds one exec round trip, curl included; above Curl so that curl
	// gives up first and reports why.
	Exec time.Duration
	// ExecRetries is how many more times an exec lost to a transport error is
	// tried (with a fresh request id); ExecRetryWait is the pause before each.
	ExecRetries   int
	ExecRetryWait time.Duration

	// LogPoll is the pause between two reads of the proxies' logs.
	LogPoll time.Duration
	// LogFlush is how long an access line may take to appear: Envoy flushes
	// about once a second. A gateway line is declared absent only after the
	// sidecar's line has been visible this long.
	LogFlush time.Duration
	// LogTimeout bounds the search for one probe's lines.
	LogTimeout time.Duration
	// LogSinceSlack reads logs from this long before the probe started: a margin
	// only, since logs are asked for by duration (evidence.SinceSeconds), which no
	// disagreement between this host's and the node's clocks can shift.
	LogSinceSlack time.Duration
}

// DefaultTimeouts returns the defaults: 3 consecutive probes, one per second,
// within 60 s.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Converge:      60 * time.Second,
		ProbeInterval: time.Second,
		Consecutive:   3,
		Curl:          10 * time.Second,
		Exec:          30 * time.Second,
		ExecRetries:   2,
		ExecRetryWait: time.Second,
		LogPoll:       250 * time.Millisecond,
		LogFlush:      2 * time.Second,
		LogTimeout:    15 * time.Second,
		LogSinceSlack: 2 * time.Second,
	}
}

// WithDefaults returns t with every zero field set to its default, so that a
// caller states only what it changes. (A field cannot be set to zero this way;
// ExecRetries 0 means "the default"; use a negative count for "no retry".)
func (t Timeouts) WithDefaults() Timeouts {
	d := DefaultTimeouts()
	tv, dv := reflect.ValueOf(&t).Elem(), reflect.ValueOf(d)
	for i := range tv.NumField() {
		if tv.Field(i).IsZero() {
			tv.Field(i).Set(dv.Field(i))
		}
	}
	return t
}

// Validate reports settings the runner cannot work with.
func (t Timeouts) Validate() error {
	var bad []string
	v := reflect.ValueOf(t)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		switch f := v.Field(i).Interface().(type) {
		case time.Duration:
			if f <= 0 {
				bad = append(bad, fmt.Sprintf("%s=%s must be above zero", name, f))
			}
		case int:
			if name == "Consecutive" && f < 1 {
				bad = append(bad, fmt.Sprintf("Consecutive=%d must be at least 1", f))
			}
		}
	}
	if t.Exec > 0 && t.Curl >= t.Exec {
		bad = append(bad, fmt.Sprintf("Curl=%s must be below Exec=%s, so that curl gives up first", t.Curl, t.Exec))
	}
	if len(bad) > 0 {
		return fmt.Errorf("timeouts: %s", strings.Join(bad, "; "))
	}
	return nil
}

// ParseOverrides sets fields from "Name=value" pairs separated by commas or
// semicolons, e.g. "Converge=90s,Consecutive=5" (a --timeouts flag, an env var).
// Names are the field names; durations use Go's syntax. Unknown names and bad
// values are errors: a silently ignored override is a test that waits wrong.
func (t *Timeouts) ParseOverrides(s string) error {
	v := reflect.ValueOf(t).Elem()
	for pair := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ';' }) {
		name, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return fmt.Errorf("timeouts: %q is not Name=value", pair)
		}
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		f := v.FieldByName(name)
		if !f.IsValid() || !f.CanSet() {
			return fmt.Errorf("timeouts: no setting %q", name)
		}
		switch f.Interface().(type) {
		case time.Duration:
			d, err := time.ParseDuration(val)
			if err != nil {
				return fmt.Errorf("timeouts: %s: %w", name, err)
			}
			f.SetInt(int64(d))
		case int:
			n, err := strconv.Atoi(val)
			if err != nil {
				return fmt.Errorf("timeouts: %s: %w", name, err)
			}
			f.SetInt(int64(n))
		}
	}
	return nil
}
