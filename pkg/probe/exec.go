package probe

import (
	"context"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// Executor runs a command in a container and returns its exit code.
//
// err is reserved for transport failures: the kubelet or the container could not
// be reached, the stream broke, the context ended. A command that ran and exited
// non-zero is exitCode with err nil. The distinction is what makes retries safe:
// only an err may be retried.
type Executor interface {
	Exec(ctx context.Context, namespace, pod, container string, command []string, stdout, stderr io.Writer) (exitCode int, err error)
}

// KubeExecutor execs through the API server, as `kubectl exec` does: WebSocket
// (the only streaming protocol the API server will keep) first, SPDY when the
// WebSocket upgrade is refused (older API servers, some proxies).
type KubeExecutor struct {
	config *rest.Config
	client rest.Interface
}

// NewKubeExecutor returns an Executor for the cluster restConfig points at.
func NewKubeExecutor(restConfig *rest.Config) (*KubeExecutor, error) {
	if restConfig == nil {
		return nil, errors.New("probe: no REST config for exec")
	}
	// A REST client for the core group, built the way client-go's typed clients
	// build theirs, without depending on a whole clientset.
	cfg := rest.CopyConfig(restConfig)
	cfg.APIPath = "/api"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("probe: REST client for exec: %w", err)
	}
	return &KubeExecutor{config: restConfig, client: client}, nil
}

// Exec implements Executor.
func (k *KubeExecutor) Exec(ctx context.Context, namespace, pod, container string, command []string, stdout, stderr io.Writer) (int, error) {
	where := fmt.Sprintf("exec in pod %s/%s container %s", namespace, pod, container)
	req := k.client.Post().
		Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   command,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	exec, err := newStreamExecutor(k.config, req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
	}
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	code, err := exitCode(err)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
	}
	return code, nil
}

// newStreamExecutor is kubectl exec's choice of protocol: WebSocket, falling back
// to SPDY when the upgrade itself fails (never after the command started, so the
// command never runs twice).
func newStreamExecutor(config *rest.Config, req *rest.Request) (remotecommand.Executor, error) {
	spdy, err := remotecommand.NewSPDYExecutor(config, "POST", req.URL())
	if err != nil {
		return nil, fmt.Errorf("SPDY executor: %w", err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(config, "GET", req.URL().String())
	if err != nil {
		return nil, fmt.Errorf("WebSocket executor: %w", err)
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// exitCode separates a command's non-zero exit (client-go reports it as an
// exec.ExitError decoded from the API server's status) from a transport error.
func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee utilexec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitStatus(), nil
	}
	return 0, err
}
