package cluster

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeRunner answers `docker info` with canned output and records the calls.
type fakeRunner struct {
	stdout, stderr string
	err            error
	block          bool // wait for ctx to end, as a hung daemon would
	calls          [][]string
}

func (f *fakeRunner) run(ctx context.Context, name string, args ...string) ([]byte, []byte, error) {
	f.calls = append(f.calls, append([]string{name}, args...))
	if f.block {
		<-ctx.Done()
		return nil, nil, errors.New("signal: killed")
	}
	return []byte(f.stdout), []byte(f.stderr), f.err
}

// The real stderr of `docker info` when the daemon is down (Linux).
const daemonDownStderr = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"

func TestCheckDocker(t *testing.T) {
	tests := []struct {
		name    string
		runner  fakeRunner
		timeout time.Duration
		want    []string // substrings of the error; nil means success
	}{
		{
			name:   "running",
			runner: fakeRunner{stdout: "28.3.3\n"},
		},
		{
			name:   "docker missing from PATH",
			runner: fakeRunner{err: &exec.Error{Name: "docker", Err: exec.ErrNotFound}},
			want:   []string{"Docker is not usable", "not in PATH", "Install Docker", "KUBECONFIG=", "KUBE_CONTEXT="},
		},
		{
			name:   "daemon not running",
			runner: fakeRunner{stderr: daemonDownStderr, err: errors.New("exit status 1")},
			want: []string{"daemon is not running",
				"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
				"Start Docker Desktop", "systemctl start docker", "KUBE_CONTEXT="},
		},
		{
			name: "daemon not running, after client information on stdout",
			runner: fakeRunner{
				stdout: "Client:\n Version:    28.3.3\n Context:    default\n",
				stderr: "Server:\n" + daemonDownStderr,
				err:    errors.New("exit status 1"),
			},
			want: []string{"daemon is not running (docker info: Cannot connect to the Docker daemon"},
		},
		{
			name: "socket permission denied",
			runner: fakeRunner{
				stderr: "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: " +
					"Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.51/info\": dial unix /var/run/docker.sock: connect: permission denied\n",
				err: errors.New("exit status 1"),
			},
			want: []string{"may not use the Docker daemon", "usermod -aG docker"},
		},
		{
			name:    "daemon hangs: bounded by the timeout",
			runner:  fakeRunner{block: true},
			timeout: 50 * time.Millisecond,
			want:    []string{"did not answer within 50ms"},
		},
		{
			name:   "no server version",
			runner: fakeRunner{stdout: "\n"},
			want:   []string{"no server version", "DOCKER_HOST"},
		},
		{
			name:   "other failure",
			runner: fakeRunner{stderr: "error during connect: something odd\n", err: errors.New("exit status 1")},
			want:   []string{"`docker info` failed: error during connect: something odd"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = DefaultTimeouts().Docker
			}
			start := time.Now()
			err := CheckDockerWith(context.Background(), tt.runner.run, timeout)
			if elapsed := time.Since(start); elapsed > timeout+5*time.Second {
				t.Errorf("CheckDocker took %s, timeout %s", elapsed, timeout)
			}
			if want := []string{"docker", "info", "--format", "{{.ServerVersion}}"}; len(tt.runner.calls) != 1 ||
				!slices.Equal(tt.runner.calls[0], want) {
				t.Errorf("runner calls = %q, want one %q", tt.runner.calls, want)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckDocker() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrDockerUnavailable) {
				t.Fatalf("CheckDocker() = %v, want ErrDockerUnavailable", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckDocker() = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// The real runner, with docker missing from PATH: fails at once, naming Docker.
func TestCheckDockerNotInPath(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	start := time.Now()
	err := CheckDocker(context.Background())
	if !errors.Is(err, ErrDockerUnavailable) || !strings.Contains(err.Error(), "not in PATH") {
		t.Fatalf("CheckDocker() = %v, want the not-in-PATH error", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("CheckDocker took %s", elapsed)
	}
}

func TestExecRunner(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	stdout, stderr, err := ExecRunner(context.Background(), "sh", "-c", "echo out; echo err >&2; exit 3")
	if string(stdout) != "out\n" || string(stderr) != "err\n" {
		t.Errorf("ExecRunner() stdout %q stderr %q", stdout, stderr)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Errorf("ExecRunner() error = %v, want exit status 3", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := ExecRunner(ctx, "sh", "-c", "sleep 30"); err == nil {
		t.Error("ExecRunner(sleep 30) with a 100ms context: want an error")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("ExecRunner ignored its context: took %s", elapsed)
	}
}
