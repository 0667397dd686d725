package diag

import (
	"context"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// Executor runs cmd in a container and returns its exit code. err is for failures to
// run it at all (no such pod, the stream broke); a command that ran and failed is
// (its code, nil).
type Executor interface {
	Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdout, stderr io.Writer) (exitCode int, err error)
}

// RESTExecutor runs commands through the API server's pods/exec, as kubectl exec
// does: WebSocket first, SPDY when the server or a proxy refuses the upgrade.
type RESTExecutor struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// Exec implements Executor.
func (e RESTExecutor) Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdout, stderr io.Writer) (int, error) {
	if e.Config == nil || e.Client == nil {
		return -1, errors.New("diag: RESTExecutor needs a rest.Config and a client")
	}
	req := e.Client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: cmd, Stdout: stdout != nil, Stderr: stderr != nil,
		}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(e.Config, "POST", req.URL())
	if err != nil {
		return -1, fmt.Errorf("diag: exec in %s/%s: %w", namespace, pod, err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(e.Config, "GET", req.URL().String())
	if err != nil {
		return -1, fmt.Errorf("diag: exec in %s/%s: %w", namespace, pod, err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return -1, fmt.Errorf("diag: exec in %s/%s: %w", namespace, pod, err)
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	var exit utilexec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitStatus(), nil
	}
	if err != nil {
		return -1, fmt.Errorf("diag: exec in %s/%s container %s: %w", namespace, pod, container, err)
	}
	return 0, nil
}
