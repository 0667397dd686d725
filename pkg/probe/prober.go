package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Prober sends requests from one client container.
type Prober struct {
	Exec                      Executor
	Namespace, Pod, Container string

	// Retries is how many more times an exec lost to a transport error is tried
	// (0: once in all). A command that ran is never retried, whatever it answered.
	Retries int
	// RetryWait is the pause before each retry.
	RetryWait time.Duration
	// ExecTimeout bounds one exec round trip, curl included; zero: only ctx. Keep
	// it above the request's Timeout, so that curl, not the exec, gives up first.
	ExecTimeout time.Duration

	// Now and Sleep are the clock; nil means the real one. Tests inject theirs.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// ExecError is a probe lost to transport errors on every attempt. Any of the
// attempts may still have reached the proxy, so it names every request id.
type ExecError struct {
	Namespace, Pod, Container string
	URL                       string
	RequestIDs                []string
	Err                       error // the last attempt's error
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("probe %s from pod %s/%s container %s: exec failed %d time(s) (request ids %s): %v",
		e.URL, e.Namespace, e.Pod, e.Container, len(e.RequestIDs), strings.Join(e.RequestIDs, ", "), e.Err)
}

func (e *ExecError) Unwrap() error { return e.Err }

// Describe is the probe as a kubectl command line, for DRY_RUN and reports.
func (p Prober) Describe(r Request) string {
	argv := append([]string{"kubectl", "exec", "--namespace", p.Namespace, p.Pod, "--container", p.Container, "--"}, Command(r)...)
	return ShellQuote(argv)
}

// Probe sends r once. It returns an error when there is no trustworthy result:
// every exec attempt failed in transport (an *ExecError), curl did not run to
// completion (ErrNoWriteOut), or ctx ended. A request that ran (whatever status,
// whatever curl exit) is a Result with a nil error.
//
// Each retry uses a fresh request id: an exec that failed in transport may still
// have sent its request, and its access lines must not be taken for the retry's.
func (p Prober) Probe(ctx context.Context, r Request) (Result, error) {
	if p.Exec == nil {
		return Result{}, errors.New("probe: Prober has no Executor")
	}
	if r.URL == "" {
		return Result{}, fmt.Errorf("probe from pod %s/%s: empty URL", p.Namespace, p.Pod)
	}
	var ids []string
	for attempt := 0; ; attempt++ {
		if attempt > 0 || r.RequestID == "" {
			r.RequestID = NewRequestID()
		}
		ids = append(ids, r.RequestID)
		res, err := p.once(ctx, r)
		if err == nil || !isTransport(err) {
			res.EarlierRequestIDs = ids[:len(ids)-1]
			return res, err
		}
		if ctx.Err() != nil || attempt >= p.Retries {
			return res, &ExecError{Namespace: p.Namespace, Pod: p.Pod, Container: p.Container,
				URL: r.URL, RequestIDs: ids, Err: err}
		}
		if err := p.sleep(ctx, p.RetryWait); err != nil {
			return res, &ExecError{Namespace: p.Namespace, Pod: p.Pod, Container: p.Container,
				URL: r.URL, RequestIDs: ids, Err: err}
		}
	}
}

// transportError marks an error from the Executor itself.
type transportError struct{ err error }

func (e transportError) Error() string { return e.err.Error() }
func (e transportError) Unwrap() error { return e.err }

func isTransport(err error) bool {
	var t transportError
	return errors.As(err, &t)
}

// once runs one exec. Its errors are transportError (retryable) or ErrNoWriteOut.
func (p Prober) once(ctx context.Context, r Request) (Result, error) {
	cmd := Command(r)
	res := Result{RequestID: r.RequestID, Command: cmd, Started: p.now()}
	execCtx := ctx
	if p.ExecTimeout > 0 {
		var cancel context.CancelFunc
		execCtx, cancel = context.WithTimeout(ctx, p.ExecTimeout)
		defer cancel()
	}
	stdout := &headTail{max: maxBody}
	stderr := &headTail{max: maxStderr}
	code, err := p.Exec.Exec(execCtx, p.Namespace, p.Pod, p.Container, cmd, stdout, stderr)
	res.Duration = p.now().Sub(res.Started)
	res.Stderr = stderr.String()
	if err != nil {
		return res, transportError{fmt.Errorf("request id %s: %w", r.RequestID, err)}
	}
	res.CurlExit = code
	out, err := parseOutput(stdout.String())
	res.Body = out.body
	if err != nil {
		return res, fmt.Errorf("probe %s from pod %s/%s container %s, request id %s: curl exit %d, stderr %q: %w",
			r.URL, p.Namespace, p.Pod, p.Container, r.RequestID, code, strings.TrimSpace(res.Stderr), err)
	}
	res.Status, res.LocalAddr = out.status, out.localAddr
	return res, nil
}

func (p Prober) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p Prober) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	return SleepContext(ctx, d)
}

// SleepContext waits d or until ctx ends, whichever comes first.
func SleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Bounds on what one probe keeps in memory. httpbin answers are a few hundred
// bytes; the bounds only protect against a URL that streams megabytes.
const (
	maxBody   = 1 << 20
	maxStderr = 64 << 10
	// tailKeep is always kept from the end of stdout, so curl's --write-out line
	// survives whatever the body's size.
	tailKeep = 4 << 10
)

// headTail keeps the first max bytes written and the last tailKeep, and counts
// what it dropped in between.
type headTail struct {
	max     int
	head    []byte
	tail    []byte
	dropped int64
}

func (h *headTail) Write(p []byte) (int, error) {
	n := len(p)
	if room := h.max - len(h.head); room > 0 {
		k := min(room, len(p))
		h.head = append(h.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	h.tail = append(h.tail, p...)
	if over := len(h.tail) - tailKeep; over > 0 {
		h.dropped += int64(over)
		h.tail = append(h.tail[:0], h.tail[over:]...)
	}
	return n, nil
}

func (h *headTail) String() string {
	if h.dropped == 0 {
		return string(h.head) + string(h.tail)
	}
	var b bytes.Buffer
	b.Write(h.head)
	fmt.Fprintf(&b, "\n…(%d bytes dropped)…\n", h.dropped)
	b.Write(h.tail)
	return b.String()
}

// ShellQuote joins argv into one line a POSIX shell reads back as the same argv.
func ShellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
