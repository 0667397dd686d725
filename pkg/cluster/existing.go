package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ErrContextNotFound is returned when KUBE_CONTEXT names no context of the kubeconfig.
var ErrContextNotFound = errors.New("the kubeconfig context does not exist")

// ExistingConfig is the guard of ModeExisting. It loads kubeconfig (a KUBECONFIG
// style path list; "" means ~/.kube/config), requires context to be named and to
// exist there, and returns a kubeconfig holding only that context, with
// current-context set to it. Whatever current-context the user's files name is
// ignored: a client built from the returned config can reach no other cluster.
//
// Relative paths in the files (certificate files, etc.) come back absolute, so the
// returned config can be written anywhere.
func ExistingConfig(kubeconfig, context string) (*clientcmdapi.Config, error) {
	paths, shown := kubeconfigPaths(kubeconfig)
	var found []string
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		}
	}

	var cfg *clientcmdapi.Config
	if len(found) > 0 {
		var err error
		cfg, err = (&clientcmd.ClientConfigLoadingRules{Precedence: found}).Load()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", shown, err)
		}
	}

	if context == "" {
		var detail string
		if cfg != nil && len(cfg.Contexts) > 0 {
			detail += fmt.Sprintf(" (contexts in %s: %s)", shown, contextNames(cfg))
		}
		if cfg != nil && cfg.CurrentContext != "" {
			detail += fmt.Sprintf("; its current-context %q is never used implicitly", cfg.CurrentContext)
		}
		return nil, fmt.Errorf("%w: set KUBE_CONTEXT to the context of the existing cluster to test%s",
			ErrContextNotNamed, detail)
	}
	if cfg == nil {
		return nil, fmt.Errorf("KUBE_CONTEXT=%s: kubeconfig %s does not exist: set KUBECONFIG to the file that "+
			"holds that context", context, shown)
	}
	kctx, ok := cfg.Contexts[context]
	if !ok {
		avail := "none"
		if len(cfg.Contexts) > 0 {
			avail = contextNames(cfg)
		}
		return nil, fmt.Errorf("%w: KUBE_CONTEXT=%s is not a context of %s (contexts: %s): set KUBE_CONTEXT to one "+
			"of them, or KUBECONFIG to the file that holds %q", ErrContextNotFound, context, shown, avail, context)
	}
	if kctx.Cluster == "" || cfg.Clusters[kctx.Cluster] == nil {
		return nil, fmt.Errorf("KUBE_CONTEXT=%s in %s: its cluster %q is not defined in the kubeconfig", context, shown, kctx.Cluster)
	}
	if kctx.AuthInfo != "" && cfg.AuthInfos[kctx.AuthInfo] == nil {
		return nil, fmt.Errorf("KUBE_CONTEXT=%s in %s: its user %q is not defined in the kubeconfig", context, shown, kctx.AuthInfo)
	}

	cfg.CurrentContext = context
	if err := clientcmdapi.MinifyConfig(cfg); err != nil {
		return nil, fmt.Errorf("KUBE_CONTEXT=%s in %s: %w", context, shown, err)
	}
	return cfg, nil
}

// kubeconfigPaths splits a KUBECONFIG value; "" means ~/.kube/config.
// shown is how the files are named in messages.
func kubeconfigPaths(kubeconfig string) (paths []string, shown string) {
	if kubeconfig == "" {
		return []string{clientcmd.RecommendedHomeFile}, clientcmd.RecommendedHomeFile
	}
	for _, p := range filepath.SplitList(kubeconfig) {
		if p != "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 1 {
		return paths, paths[0]
	}
	return paths, "KUBECONFIG=" + kubeconfig
}

func contextNames(cfg *clientcmdapi.Config) string {
	names := make([]string, 0, len(cfg.Contexts))
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
