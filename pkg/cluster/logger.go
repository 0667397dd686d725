package cluster

import (
	"fmt"
	"io"
	"strings"
	"sync"

	kindlog "sigs.k8s.io/kind/pkg/log"
)

// kindLogger passes kind's user-facing progress (verbosity 0: "Creating cluster",
// " ✓ Starting control-plane", …), warnings and errors to w, and drops its debug
// output (verbosity > 0).
type kindLogger struct {
	mu sync.Mutex
	w  io.Writer
}

var _ kindlog.Logger = (*kindLogger)(nil)

func (l *kindLogger) print(prefix, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Fprint(l.w, prefix+msg)
}

func (l *kindLogger) Warn(message string) { l.print("WARNING: ", message) }
func (l *kindLogger) Warnf(format string, args ...any) {
	l.print("WARNING: ", fmt.Sprintf(format, args...))
}
func (l *kindLogger) Error(message string) { l.print("ERROR: ", message) }
func (l *kindLogger) Errorf(format string, args ...any) {
	l.print("ERROR: ", fmt.Sprintf(format, args...))
}

func (l *kindLogger) V(level kindlog.Level) kindlog.InfoLogger {
	if level > 0 {
		return kindlog.NoopInfoLogger{}
	}
	return kindInfo{l}
}

type kindInfo struct{ l *kindLogger }

func (i kindInfo) Info(message string)              { i.l.print("", message) }
func (i kindInfo) Infof(format string, args ...any) { i.l.print("", fmt.Sprintf(format, args...)) }
func (i kindInfo) Enabled() bool                    { return true }
