package integration_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// The interrupted-run helper is this test binary re-executed with helperEnv set: a
// separate process that runs a scenario the way a suite does, inside
// deploy.WithCleanup, prints a line once a step is applied, and then waits for
// the signal mid-scenario.
const (
	helperEnv         = "EGRESS_IT_HELPER"          // "run": the helper
	helperRunIDEnv    = "EGRESS_IT_HELPER_RUN_ID"   // its run id
	helperScenarioEnv = "EGRESS_IT_HELPER_SCENARIO" // the scenario directory
	helperWorkloadEnv = "EGRESS_IT_HELPER_WORKLOAD" // the client workload file
	appliedLine       = "APPLIED"
	cleanedLine       = "CLEANED"
)

// runHelper is the helper's main: exit 130 after an interrupt and a complete
// clean-up, 1 on any other outcome.
func runHelper(mode string) int {
	if mode != "run" {
		fmt.Fprintf(os.Stderr, "helper: unknown mode %q\n", mode)
		return 2
	}
	runID := os.Getenv(helperRunIDEnv)
	// The guard, as every suite uses it: KUBECONFIG + KUBE_CONTEXT.
	cfg, err := cluster.ExistingConfig(os.Getenv(cluster.EnvKubeconfig), os.Getenv(cluster.EnvKubeContext))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	c, err := deploy.NewCluster(rc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	c.Timeouts = timeouts
	c.Logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, "helper: "+f+"\n", a...) }
	s, err := scenario.Load(os.Getenv(helperScenarioEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	res, err := deploy.WithCleanup(context.Background(), c, runID, func(ctx context.Context) error {
		if err := deploy.EnsureNamespace(ctx, c, s.Namespace(), runID, true); err != nil {
			return err
		}
		if _, err := deploy.DeployClient(ctx, c, os.Getenv(helperWorkloadEnv), s.Namespace(), runID,
			deploy.WithoutSidecar(noInjection)); err != nil {
			return err
		}
		if err := deploy.ApplyBundle(ctx, c, s, 0, runID); err != nil {
			return err
		}
		fmt.Printf("%s step 1 of %d\n", appliedLine, len(s.Steps))
		<-ctx.Done() // mid-scenario: the next step never comes
		return ctx.Err()
	})
	fmt.Printf("%s deleted=%d left=%d\n", cleanedLine, len(res.Deleted), len(res.Left))
	fmt.Fprintf(os.Stderr, "helper: %v\n", err)
	if errors.Is(err, deploy.ErrInterrupted) && len(res.Left) == 0 && len(res.Deleted) > 0 {
		return 130
	}
	return 1
}

// startHelper starts the helper for runID on testdata/interrupted (two steps) and
// waits until it has applied step 1.
func startHelper(ctx SpecContext, runID string) (*exec.Cmd, *bufio.Scanner, string) {
	s, err := scenario.Load(filepath.Join("testdata", "interrupted"))
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(os.Args[0], "-test.run=^TestIntegration$")
	cmd.Env = append(os.Environ(),
		helperEnv+"=run", helperRunIDEnv+"="+runID,
		helperScenarioEnv+"="+s.Dir, helperWorkloadEnv+"="+workloadFile(s.Client))
	cmd.Stderr = GinkgoWriter
	out, err := cmd.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() { _ = cmd.Process.Kill() }) // no-op once it has exited
	lines := bufio.NewScanner(out)
	got := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), appliedLine) {
				got <- lines.Text()
				return
			}
		}
		close(got)
	}()
	select {
	case l, ok := <-got:
		Expect(ok).To(BeTrue(), "the helper ended before applying step 1")
		By("the helper says: " + l)
	case <-time.After(90 * time.Second):
		Fail("the helper did not apply step 1 within 90s")
	case <-ctx.Done():
		Fail("interrupted")
	}
	var ns corev1.Namespace
	Expect(it.c.Client.Get(ctx, client.ObjectKey{Name: s.Namespace()}, &ns)).To(Succeed())
	Expect(ns.Labels).To(HaveKeyWithValue(deploy.RunLabel, runID))
	return cmd, lines, s.Namespace()
}

func runLabelled(ctx SpecContext, runID string) []string {
	var nss corev1.NamespaceList
	Expect(it.c.Client.List(ctx, &nss, client.MatchingLabels{deploy.RunLabel: runID})).To(Succeed())
	var names []string
	for _, ns := range nss.Items {
		names = append(names, ns.Name)
	}
	return names
}

// interruptSpecs: SIGINT mid-scenario still cleans up; SIGKILL leaves the run to the
// next Cleanup of the same run id.
func interruptSpecs() {
	Describe("interrupted run", func() {
		It("cleans up after SIGINT mid-scenario", func(ctx SpecContext) {
			runID := it.runID + "-sigint"
			cmd, lines, ns := startHelper(ctx, runID)
			By("sending SIGINT to the helper (pid " + fmt.Sprint(cmd.Process.Pid) + ") with namespace " + ns + " in place")
			Expect(cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
			type result struct {
				out string
				err error
			}
			done := make(chan result, 1)
			go func() {
				var b strings.Builder
				for lines.Scan() {
					b.WriteString(lines.Text() + "\n")
				}
				done <- result{b.String(), cmd.Wait()}
			}()
			var r result
			Eventually(done, 2*time.Minute).Should(Receive(&r))
			out, werr := r.out, r.err
			By("the helper says: " + strings.TrimSpace(out))
			var ee *exec.ExitError
			Expect(errors.As(werr, &ee)).To(BeTrue(), "exit status, got %v", werr)
			Expect(ee.ExitCode()).To(Equal(130), "130: interrupted, and clean-up removed everything")
			Expect(out).To(ContainSubstring(cleanedLine))
			Expect(runLabelled(ctx, runID)).To(BeEmpty())
		})

		It("leaves a SIGKILLed run to the next Cleanup of its run id", func(ctx SpecContext) {
			runID := it.runID + "-sigkill"
			cmd, _, ns := startHelper(ctx, runID)
			Expect(cmd.Process.Kill()).To(Succeed())
			_ = cmd.Wait()
			Expect(runLabelled(ctx, runID)).To(ConsistOf(ns), "nothing cleaned up a killed process")
			res, err := deploy.Cleanup(ctx, it.c, runID)
			Expect(err).NotTo(HaveOccurred(), "left: %v", res.Left)
			Expect(res.Deleted).To(ContainElement("Namespace " + ns))
			Expect(runLabelled(ctx, runID)).To(BeEmpty())
		})
	})
}
