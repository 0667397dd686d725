package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Runner runs a host command to completion and returns what it printed. It must
// stop the command when ctx ends. ExecRunner is the real one; tests inject fakes.
type Runner func(ctx context.Context, name string, args ...string) (stdout, stderr []byte, err error)

// ExecRunner runs the command with os/exec. A command not found in PATH yields an
// error matching exec.ErrNotFound.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, []byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// If ctx ends, CommandContext kills the process; WaitDelay then stops Wait
	// from hanging on pipes a grandchild still holds open.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	return stdout.Bytes(), stderr.Bytes(), err
}

// ErrDockerUnavailable is wrapped by every CheckDocker error.
var ErrDockerUnavailable = errors.New("Docker is not usable")

// dockerFix is appended to every preflight error: how to fix it, or how to avoid
// needing Docker at all.
const dockerFix = " Or test an existing cluster instead, without Docker: set KUBECONFIG=<kubeconfig file> " +
	"and KUBE_CONTEXT=<context name>."

// daemonDown are what the docker CLI prints when no daemon answers: on a Unix socket,
// and on Windows' named pipe.
var daemonDown = []string{
	"Cannot connect to the Docker daemon",
	"Is the docker daemon running",
	"docker_engine: The system cannot find the file specified",
}

// CheckDocker fails within DefaultTimeouts().Docker if Docker cannot run the kind
// cluster, with a message that says how to fix it.
func CheckDocker(ctx context.Context) error {
	return CheckDockerWith(ctx, ExecRunner, DefaultTimeouts().Docker)
}

// CheckDockerWith is CheckDocker with an injected runner and timeout.
func CheckDockerWith(ctx context.Context, run Runner, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stdout, stderr, err := run(ctx, "docker", "info", "--format", "{{.ServerVersion}}")
	out := strings.TrimSpace(string(stderr) + "\n" + string(stdout))
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("%w: the docker command is not in PATH, and the kind cluster runs in Docker. "+
			"Install Docker (Docker Desktop on macOS and Windows; Docker Engine, e.g. the docker-ce or docker.io "+
			"package, on Linux), start it, and check that `docker info` works.%s", ErrDockerUnavailable, dockerFix)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: `docker info` did not answer within %s: the Docker daemon is hung or still "+
			"starting. Restart Docker Desktop, or on Linux `sudo systemctl restart docker`, and check that "+
			"`docker info` answers.%s", ErrDockerUnavailable, timeout, dockerFix)
	case err == nil && strings.TrimSpace(string(stdout)) != "":
		return nil
	case lineWith(out, daemonDown...) != "":
		return fmt.Errorf("%w: the Docker daemon is not running (docker info: %s). Start Docker Desktop, or on "+
			"Linux `sudo systemctl start docker`, and check that `docker info` works.%s",
			ErrDockerUnavailable, lineWith(out, daemonDown...), dockerFix)
	case lineWith(out, "permission denied") != "":
		return fmt.Errorf("%w: this user may not use the Docker daemon (docker info: %s). On Linux add the user "+
			"to the docker group (`sudo usermod -aG docker $USER`, then log in again), or use rootless Docker.%s",
			ErrDockerUnavailable, lineWith(out, "permission denied"), dockerFix)
	case err == nil:
		return fmt.Errorf("%w: `docker info` reported no server version: is DOCKER_HOST or the docker context "+
			"pointing at a running daemon? Check that `docker info` works.%s", ErrDockerUnavailable, dockerFix)
	}
	detail := firstLine(out)
	if detail == "" {
		detail = err.Error()
	}
	return fmt.Errorf("%w: `docker info` failed: %s. Check that Docker is installed and running and that "+
		"`docker info` works.%s", ErrDockerUnavailable, detail, dockerFix)
}

// lineWith returns the first line of s containing any of subs, trimmed, or "".
func lineWith(s string, subs ...string) string {
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				return strings.TrimSpace(l)
			}
		}
	}
	return ""
}

// firstLine returns the first non-empty line of s, trimmed.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}
