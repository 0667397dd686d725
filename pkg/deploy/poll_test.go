package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// poll (klient/wait.For underneath) still says what it waited for when it gives
// up, ends at once on an interrupt, and returns a check's own error.
func TestPoll(t *testing.T) {
	n := 0
	err := poll(context.Background(), time.Millisecond, 20*time.Millisecond, func(context.Context) (bool, string, error) {
		n++
		return false, "1 of 2 pods Ready", nil
	})
	if err == nil || !strings.Contains(err.Error(), "not done after 20ms: 1 of 2 pods Ready") || n < 2 {
		t.Errorf("timeout: %v after %d checks", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := poll(ctx, time.Millisecond, time.Minute, func(context.Context) (bool, string, error) { return false, "", nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted: %v", err)
	}
	boom := errors.New("forbidden")
	if err := poll(context.Background(), time.Millisecond, time.Minute, func(context.Context) (bool, string, error) { return false, "", boom }); !errors.Is(err, boom) {
		t.Errorf("check error: %v", err)
	}
	n = 0
	if err := poll(context.Background(), time.Millisecond, time.Minute, func(context.Context) (bool, string, error) { n++; return n == 3, "", nil }); err != nil || n != 3 {
		t.Errorf("done on the third check: %v, %d checks", err, n)
	}
}
