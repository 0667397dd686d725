package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a kubeconfig with one cluster/user/context per name, the
// current-context being the first name, and returns its path.
func writeKubeconfig(t *testing.T, dir, file string, names ...string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for _, n := range names {
		// A certificate path relative to the kubeconfig, as kubectl allows.
		if err := os.WriteFile(filepath.Join(dir, "ca-"+n+".crt"), []byte("not a real certificate"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Clusters[n] = &clientcmdapi.Cluster{Server: "https://" + n + ".example:6443", CertificateAuthority: "ca-" + n + ".crt"}
		cfg.AuthInfos[n] = &clientcmdapi.AuthInfo{Token: "token-" + n}
		cfg.Contexts[n] = &clientcmdapi.Context{Cluster: n, AuthInfo: n, Namespace: "default"}
	}
	if len(names) > 0 {
		cfg.CurrentContext = names[0]
	}
	path := filepath.Join(dir, file)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExistingConfig(t *testing.T) {
	dir := t.TempDir()
	// "prod" is the current-context: the trap the guard exists for.
	kubeconfig := writeKubeconfig(t, dir, "config", "prod", "ci")
	second := writeKubeconfig(t, dir, "second", "staging")
	empty := writeKubeconfig(t, dir, "empty")
	list := kubeconfig + string(os.PathListSeparator) + second
	missing := filepath.Join(dir, "nope")

	tests := []struct {
		name       string
		kubeconfig string
		context    string
		wantErr    []string // substrings
		is         error
		wantServer string
	}{
		{
			name:       "context not named: refused although the file has a current-context",
			kubeconfig: kubeconfig,
			wantErr:    []string{"set KUBE_CONTEXT", "ci, prod", `current-context "prod" is never used implicitly`},
			is:         ErrContextNotNamed,
		},
		{
			name:       "context not named, kubeconfig without contexts",
			kubeconfig: empty,
			wantErr:    []string{"set KUBE_CONTEXT"},
			is:         ErrContextNotNamed,
		},
		{
			name:       "context missing from the kubeconfig",
			kubeconfig: kubeconfig,
			context:    "dev",
			wantErr:    []string{"KUBE_CONTEXT=dev is not a context of " + kubeconfig, "contexts: ci, prod"},
			is:         ErrContextNotFound,
		},
		{
			name:       "context named, kubeconfig has no contexts",
			kubeconfig: empty,
			context:    "ci",
			wantErr:    []string{"contexts: none"},
			is:         ErrContextNotFound,
		},
		{
			name:       "kubeconfig file absent",
			kubeconfig: missing,
			context:    "ci",
			wantErr:    []string{missing + " does not exist", "set KUBECONFIG"},
		},
		{
			name:       "ok: named context, never the current one",
			kubeconfig: kubeconfig,
			context:    "ci",
			wantServer: "https://ci.example:6443",
		},
		{
			name:       "ok: context from the second file of a KUBECONFIG list",
			kubeconfig: list,
			context:    "staging",
			wantServer: "https://staging.example:6443",
		},
		{
			name:       "ok: missing files in a KUBECONFIG list are skipped, as kubectl does",
			kubeconfig: missing + string(os.PathListSeparator) + kubeconfig,
			context:    "ci",
			wantServer: "https://ci.example:6443",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ExistingConfig(tt.kubeconfig, tt.context)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("ExistingConfig() = %+v, want an error", cfg)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("ExistingConfig() error = %q, want it to contain %q", err, w)
					}
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("ExistingConfig() error = %v, want errors.Is %v", err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("ExistingConfig() error = %v", err)
			}
			if cfg.CurrentContext != tt.context {
				t.Errorf("current-context = %q, want %q", cfg.CurrentContext, tt.context)
			}
			if len(cfg.Contexts) != 1 || len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 {
				t.Errorf("config holds %d contexts, %d clusters, %d users; want only the named one",
					len(cfg.Contexts), len(cfg.Clusters), len(cfg.AuthInfos))
			}
			if got := cfg.Clusters[tt.context].Server; got != tt.wantServer {
				t.Errorf("server = %q, want %q", got, tt.wantServer)
			}
			// Relative certificate paths come back absolute, so the config can be
			// written anywhere.
			if ca := cfg.Clusters[tt.context].CertificateAuthority; !filepath.IsAbs(ca) {
				t.Errorf("certificate-authority = %q, want an absolute path", ca)
			}

			// A client built from the written file reaches the named cluster only.
			out := filepath.Join(t.TempDir(), "kubeconfig")
			if err := clientcmd.WriteToFile(*cfg, out); err != nil {
				t.Fatal(err)
			}
			rc, err := clientcmd.BuildConfigFromFlags("", out)
			if err != nil {
				t.Fatal(err)
			}
			if rc.Host != tt.wantServer {
				t.Errorf("rest config host = %q, want %q", rc.Host, tt.wantServer)
			}
		})
	}
}

func TestExistingConfigDanglingContext(t *testing.T) {
	cfg := clientcmdapi.NewConfig()
	cfg.Contexts["ci"] = &clientcmdapi.Context{Cluster: "gone", AuthInfo: "u"}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	path := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	_, err := ExistingConfig(path, "ci")
	if err == nil || !strings.Contains(err.Error(), `its cluster "gone" is not defined`) {
		t.Fatalf("ExistingConfig() error = %v, want the missing cluster named", err)
	}
}

// NewProvider applies the guard: it refuses before anything else happens.
func TestNewProviderExistingGuard(t *testing.T) {
	kubeconfig := writeKubeconfig(t, t.TempDir(), "config", "prod", "ci")

	if _, err := NewProvider(Options{Kubeconfig: kubeconfig}); !errors.Is(err, ErrContextNotNamed) {
		t.Fatalf("NewProvider(KUBECONFIG only) error = %v, want ErrContextNotNamed", err)
	}
	if _, err := NewProvider(Options{Kubeconfig: kubeconfig, KubeContext: "dev"}); !errors.Is(err, ErrContextNotFound) {
		t.Fatalf("NewProvider(KUBE_CONTEXT=dev) error = %v, want ErrContextNotFound", err)
	}
	p, err := NewProvider(Options{Kubeconfig: kubeconfig, KubeContext: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.GetKubectlContext(); got != "ci" {
		t.Fatalf("GetKubectlContext() = %q, want ci", got)
	}
}
