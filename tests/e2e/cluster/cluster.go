// Package cluster drives the real test control plane (etcd + kube-apiserver built
// from source by scripts/build-control-plane) for end-to-end tests.
//
// scripts/local-cluster is the single source of truth for starting and stopping
// processes; this package calls it and adds Go conveniences: clients, service
// accounts with TokenRequest tokens and kubeconfigs, CRDs, etcd compaction.
//
// Typical use:
//
//	func TestMain(m *testing.M) { cluster.Main(m) }
//
//	func TestX(t *testing.T) {
//		c := cluster.Get(t)
//		...
//	}
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running control plane.
type Cluster struct {
	Dir          string // state dir (CSM_CLUSTER_DIR)
	BinDir       string // dir with etcd, kube-apiserver, kubectl
	Kubeconfig   string // admin kubeconfig (client cert, O=system:masters)
	APIServerURL string // https://127.0.0.1:<port>
	EtcdEndpoint string // http://127.0.0.1:<port>
	CAFile       string // cluster CA (signs the serving cert and client certs)

	Config    *rest.Config // admin
	Client    kubernetes.Interface
	Dynamic   dynamic.Interface
	APIExt    apiextclient.Interface
	Discovery discovery.DiscoveryInterface
}

// Options for Up.
type Options struct {
	// Dir is the state dir. Default: $CSM_E2E_CLUSTER_DIR, else <repo>/.cache/e2e-cluster.
	Dir string
	// APIServerArgs are extra kube-apiserver flags (e.g. "--watch-cache=false").
	APIServerArgs []string
	// Fresh tears down whatever runs in Dir first (default behaviour of Main).
	Fresh bool
}

var shared *Cluster

// RepoRoot returns the repository root (the directory holding scripts/local-cluster).
func RepoRoot() string {
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "scripts", "local-cluster")); err == nil {
				return d
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	_, file, _, _ := runtime.Caller(0) // tests/e2e/cluster/cluster.go
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Main is a TestMain: it brings a fresh control plane up once, runs the tests and
// tears it down (unless CSM_E2E_KEEP_CLUSTER=1, which leaves it running for
// debugging and prints how to reach it).
func Main(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	c, err := Up(ctx, Options{Fresh: true})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster: %v\n", err)
		os.Exit(1)
	}
	shared = c
	code := m.Run()
	if os.Getenv("CSM_E2E_KEEP_CLUSTER") == "1" {
		fmt.Fprintf(os.Stderr, "cluster: left running (CSM_E2E_KEEP_CLUSTER=1): CSM_CLUSTER_DIR=%s %s/scripts/local-cluster down\n"+
			"cluster: KUBECONFIG=%s\n", c.Dir, RepoRoot(), c.Kubeconfig)
	} else if err := c.Down(); err != nil {
		fmt.Fprintf(os.Stderr, "cluster: down: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Get returns the cluster started by Main; it fails the test if there is none.
func Get(t testing.TB) *Cluster {
	t.Helper()
	if shared == nil {
		t.Fatal("cluster: no shared cluster; call cluster.Main(m) from TestMain")
	}
	return shared
}

// Up starts (or, without Fresh, reuses a healthy) control plane via
// scripts/local-cluster up and returns clients for it.
func Up(ctx context.Context, o Options) (*Cluster, error) {
	dir := o.Dir
	if dir == "" {
		dir = os.Getenv("CSM_E2E_CLUSTER_DIR")
	}
	if dir == "" {
		dir = filepath.Join(RepoRoot(), ".cache", "e2e-cluster")
	}
	env := []string{"CSM_CLUSTER_DIR=" + dir, "CSM_APISERVER_ARGS=" + strings.Join(o.APIServerArgs, " ")}
	if o.Fresh {
		if _, err := script(ctx, env, "down"); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	if _, err := script(ctx, env, "up"); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "cluster: up in %v (state %s)\n", time.Since(t0).Round(time.Millisecond), dir)
	c, err := Load(dir)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Load attaches to an already running cluster whose state dir is dir.
func Load(dir string) (*Cluster, error) {
	vals, err := readEnvFile(filepath.Join(dir, "cluster.env"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		Dir:          vals["CSM_CLUSTER_DIR"],
		BinDir:       vals["BIN_DIR"],
		Kubeconfig:   vals["KUBECONFIG"],
		APIServerURL: vals["APISERVER_URL"],
		EtcdEndpoint: vals["ETCD_ENDPOINT"],
		CAFile:       vals["CA_FILE"],
	}
	c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig: %w", err)
	}
	c.Config.QPS, c.Config.Burst = 200, 400
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	if c.Dynamic, err = dynamic.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	if c.APIExt, err = apiextclient.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	c.Discovery = c.Client.Discovery()
	return c, nil
}

// Down stops etcd and kube-apiserver and removes the state dir.
func (c *Cluster) Down() error {
	_, err := script(context.Background(), c.env(), "down")
	return err
}

// StopAPIServer stops kube-apiserver; etcd keeps running with its data.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	if _, err := script(context.Background(), c.env(), "stop-apiserver"); err != nil {
		t.Fatal(err)
	}
}

// StartAPIServer starts kube-apiserver again on the same port with the same
// certificates and waits for /readyz. If the start fails, it retries for up to
// 75s: after kube-apiserver was SIGKILLed (scripts/local-cluster does that when
// it ignores SIGTERM for 10s, which it does while watches are open), sockets it
// left in TIME_WAIT keep its port for up to 60s, and local-cluster's port check
// counts them as "in use" (bind with SO_REUSEADDR would succeed).
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	if err := c.startAPIServer(75 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func (c *Cluster) startAPIServer(retryFor time.Duration) error {
	t0 := time.Now()
	for {
		_, err := script(context.Background(), c.env(), "start-apiserver")
		if err == nil || time.Since(t0) > retryFor {
			return err
		}
		fmt.Fprintf(os.Stderr, "cluster: %v; sockets on the apiserver port: %s; retrying in 1s\n", err, c.portSockets())
		time.Sleep(time.Second)
	}
}

// portSockets describes the TCP sockets whose local port is the apiserver's, by
// state (from /proc/net/tcp{,6}), for diagnostics.
func (c *Cluster) portSockets() string {
	u := c.APIServerURL
	port := u[strings.LastIndex(u, ":")+1:]
	p, err := strconv.Atoi(port)
	if err != nil {
		return "?"
	}
	states := map[string]string{"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
		"05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}
	count := map[string]int{}
	want := fmt.Sprintf("%04X", p)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 {
				continue
			}
			if _, lp, ok := strings.Cut(fs[1], ":"); ok && lp == want {
				count[states[fs[3]]+"("+fs[3]+")"]++
			}
		}
	}
	if len(count) == 0 {
		return "none"
	}
	return fmt.Sprint(count)
}

// RestartAPIServer is StopAPIServer followed by StartAPIServer.
func (c *Cluster) RestartAPIServer(t testing.TB) {
	t.Helper()
	t0 := time.Now()
	if _, err := script(context.Background(), c.env(), "stop-apiserver"); err != nil {
		t.Fatal(err)
	}
	if err := c.startAPIServer(75 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver restarted in %v", time.Since(t0).Round(time.Millisecond))
}

// Kubectl runs the built kubectl with the admin kubeconfig and returns stdout;
// it fails the test on a non-zero exit.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.KubectlErr(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// KubectlErr runs kubectl with the admin kubeconfig (unless args contain
// --kubeconfig) and returns stdout; the error includes stderr.
func (c *Cluster) KubectlErr(args ...string) (string, error) {
	full := args
	hasKC := false
	for _, a := range args {
		if a == "--kubeconfig" || strings.HasPrefix(a, "--kubeconfig=") {
			hasKC = true
		}
	}
	if !hasKC {
		full = append([]string{"--kubeconfig", c.Kubeconfig}, args...)
	}
	cmd := exec.Command(filepath.Join(c.BinDir, "kubectl"), full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (c *Cluster) env() []string { return []string{"CSM_CLUSTER_DIR=" + c.Dir} }

// script runs scripts/local-cluster; its progress (stderr) goes to our stderr.
func script(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(), "scripts", "local-cluster"), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("scripts/local-cluster %s: %w", strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cluster state: %w", err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && !strings.HasPrefix(k, "#") {
			vals[k] = v
		}
	}
	return vals, sc.Err()
}

// Eventually polls cond every interval until it returns true or timeout passes;
// it returns the time it took, or fails the test with the last error.
func Eventually(t testing.TB, timeout, interval time.Duration, what string, cond func() (bool, error)) time.Duration {
	t.Helper()
	t0 := time.Now()
	var last error
	for {
		ok, err := cond()
		if ok {
			return time.Since(t0)
		}
		last = err
		if time.Since(t0) > timeout {
			t.Fatalf("%s: not true after %v (last error: %v)", what, timeout, last)
		}
		time.Sleep(interval)
	}
}
