package offline

import (
	"runtime"
	"testing"
	"time"
)

// TestStepsReleaseIstio pins that a step leaves nothing of Istio's machinery
// behind: the analyzer's stores and krt collections stop with the step (their
// goroutines end), and nothing global keeps the step's fake discovery server
// reachable, so the live heap after many steps is what it was after the first.
// A command checking hundreds of steps in one process depends on it: before, each
// step left 13 goroutines and ~2.6 MB of live heap behind.
func TestStepsReleaseIstio(t *testing.T) {
	s := loadSeed(t)
	step := func() {
		t.Helper()
		if j := Judge(s, 1, Options{}); !j.Passed() {
			t.Fatal(j.Message())
		}
	}
	// The first step pays one-time costs (lazily built schemas, protobuf type
	// information): measure from after it.
	step()
	goroutines, heap := settled(), liveHeap()
	const n = 8
	for range n {
		step()
	}
	if g := settled(); g > goroutines {
		t.Errorf("%d goroutines after %d more steps, %d before: a step leaves goroutines running", g, n, goroutines)
	}
	// The heap after a full GC moves by well under 1 MB between identical steps;
	// a leaked fake discovery server is ~2.6 MB.
	const slack = 4 << 20
	if h := liveHeap(); h > heap+slack {
		t.Errorf("live heap %.1f MB after %d more steps, %.1f MB before: a step's objects stay reachable", mb(h), n, mb(heap))
	}
}

// settled is the number of goroutines once those winding down have ended: a
// closed stop channel ends Istio's informers and stores asynchronously. It waits
// until the count stops falling (at most ~5 s), never asserts on time.
func settled() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return m
		}
		n = m
	}
	return n
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
