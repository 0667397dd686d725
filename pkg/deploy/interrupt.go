package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// ErrInterrupted is the cause of a context WithCleanup cancelled on SIGINT or SIGTERM.
var ErrInterrupted = errors.New("interrupted")

// WithCleanup runs body with a context that SIGINT or SIGTERM cancels (its cause
// wraps ErrInterrupted), and afterwards, whether body succeeded, failed or was
// interrupted, runs Cleanup for runID with a context the signal did not cancel
// (CleanupContext), bounded by Timeouts.Cleanup. While clean-up runs, signals are
// no longer caught: a second interrupt ends the process at once, leaving the rest
// to the next run's Cleanup of the same run id, or to a user.
//
// The error joins body's error (context.Cause when interrupted) and clean-up's.
// Ginkgo suites get the same effect from a DeferCleanup that calls Cleanup with
// CleanupContext(ctx): Ginkgo interrupts the running spec and runs clean-up nodes.
func WithCleanup(ctx context.Context, c *Cluster, runID string, body func(ctx context.Context) error) (CleanupResult, error) {
	bctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			c.logf("got %s: stopping, then cleaning up run %s (interrupt again to abandon clean-up)", s, runID)
			cancel(fmt.Errorf("%w (signal %s)", ErrInterrupted, s))
		case <-done:
		}
	}()

	err := body(bctx)
	if cause := context.Cause(bctx); errors.Is(cause, ErrInterrupted) {
		err = errors.Join(cause, err)
	}
	close(done)
	signal.Stop(sigs) // a second signal now takes its default action

	cctx, ccancel := context.WithTimeout(CleanupContext(ctx), c.timeouts().Cleanup)
	defer ccancel()
	res, cerr := Cleanup(cctx, c, runID)
	return res, errors.Join(err, cerr)
}

// CleanupContext is parent without its cancellation (its values kept), for clean-up
// after parent was cancelled by an interrupt or a spec's timeout. Cleanup bounds itself.
func CleanupContext(parent context.Context) context.Context {
	return context.WithoutCancel(parent)
}
