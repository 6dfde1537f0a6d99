// Package ship renders and applies the kustomize manifests for end-to-end
// tests, installs the Prometheus Operator CRDs from its Go module, runs a real
// Prometheus, and runs the container image with buildah.
package ship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"crd-state-metrics/tests/e2e/cluster"
)

// The Prometheus Operator release whose CRDs (example/prometheus-operator-crd in
// its Go module) the ServiceMonitor and PrometheusRule are checked against.
const (
	PromOperatorModule  = "github.com/prometheus-operator/prometheus-operator"
	PromOperatorVersion = "v0.85.0"
)

// The overlays the README tells users to apply; together they include every
// base, component and file under manifests/ except examples/*.yaml (which the
// demo applies).
var Overlays = []string{"overlays/standalone", "overlays/sidecar"}

func ManifestsDir() string { return filepath.Join(cluster.RepoRoot(), "manifests") }

// MesonVersion is the project version in meson.build (the image tag).
func MesonVersion(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cluster.RepoRoot(), "meson.build"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`version\s*:\s*'([^']+)'`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no version in meson.build")
	}
	return string(m[1])
}

// DecodeYAML splits a multi-document YAML (or JSON) stream into objects
// (numbers as int64 or float64, as the API machinery does).
func DecodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
}

// Render runs `kubectl kustomize dir` and returns the YAML and its objects.
func Render(t testing.TB, c *cluster.Cluster, dir string) (string, []*unstructured.Unstructured) {
	t.Helper()
	out, err := c.KubectlErr("kustomize", dir)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	objs, err := DecodeYAML([]byte(out))
	if err != nil {
		t.Fatalf("decode kustomize output of %s: %v", dir, err)
	}
	if len(objs) == 0 {
		t.Fatalf("kubectl kustomize %s rendered nothing", dir)
	}
	return out, objs
}

// Apply applies manifest (YAML) for real: server-side apply with strict field
// validation, so unknown or misspelled fields are errors, not silently pruned.
func Apply(c *cluster.Cluster, manifest string) (string, error) {
	f, err := os.CreateTemp("", "csm-apply-*.yaml")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(manifest); err != nil {
		return "", err
	}
	f.Close()
	return c.KubectlErr("apply", "--server-side", "--field-manager=csm-e2e", "--force-conflicts",
		"--validate=strict", "-f", f.Name())
}

func MustApply(t testing.TB, c *cluster.Cluster, what, manifest string) {
	t.Helper()
	out, err := Apply(c, manifest)
	if err != nil {
		t.Fatalf("the API server rejected %s: %v\n%s", what, err, out)
	}
}

// PromOperatorCRDDir downloads the Prometheus Operator module through the Go
// module proxy (cached in the module cache) and returns its CRD directory.
func PromOperatorCRDDir(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", PromOperatorModule+"@"+PromOperatorVersion)
	cmd.Dir = os.TempDir() // outside any module: no go.mod is touched
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s@%s: %v\n%s%s", PromOperatorModule, PromOperatorVersion, err, out, stderr.String())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Fatalf("go mod download: no module dir (%v %s)", err, info.Error)
	}
	return filepath.Join(info.Dir, "example", "prometheus-operator-crd")
}

// InstallMonitoringCRDs installs the ServiceMonitor and PrometheusRule CRDs
// exactly as the Prometheus Operator publishes them.
func InstallMonitoringCRDs(t testing.TB, c *cluster.Cluster) {
	t.Helper()
	dir := PromOperatorCRDDir(t)
	var docs []string
	for _, n := range []string{"servicemonitors", "prometheusrules"} {
		b, err := os.ReadFile(filepath.Join(dir, "monitoring.coreos.com_"+n+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	MustApply(t, c, "the Prometheus Operator CRDs", strings.Join(docs, "\n---\n"))
	c.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
	t.Logf("installed ServiceMonitor and PrometheusRule CRDs from %s@%s", PromOperatorModule, PromOperatorVersion)
}

// InstallSampleCRD applies manifests/examples/memcached-crd.yaml.
func InstallSampleCRD(t testing.TB, c *cluster.Cluster) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ManifestsDir(), "examples", "memcached-crd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	MustApply(t, c, "the sample CRD", string(b))
	c.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/memcacheds.cache.example.com")
}

func Find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	return nil
}

func FindAll(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func Str(o map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(o, path...)
	return s
}

func Slice(o map[string]any, path ...string) []any {
	s, _, _ := unstructured.NestedSlice(o, path...)
	return s
}

func StrMap(o map[string]any, path ...string) map[string]string {
	s, _, _ := unstructured.NestedStringMap(o, path...)
	return s
}

// ExporterPod is a rendered Deployment carrying the exporter container.
type ExporterPod struct {
	Deploy    *unstructured.Unstructured
	Container map[string]any
	Labels    map[string]string // pod template labels
	SA        string            // pod template serviceAccountName
}

func ExporterPods(objs []*unstructured.Unstructured) []ExporterPod {
	var out []ExporterPod
	for _, d := range FindAll(objs, "Deployment") {
		for _, c := range Slice(d.Object, "spec", "template", "spec", "containers") {
			cm, _ := c.(map[string]any)
			if Str(cm, "name") == "crd-state-metrics" {
				out = append(out, ExporterPod{Deploy: d, Container: cm,
					Labels: StrMap(d.Object, "spec", "template", "metadata", "labels"),
					SA:     Str(d.Object, "spec", "template", "spec", "serviceAccountName")})
			}
		}
	}
	return out
}

func ContainerPorts(c map[string]any) map[string]int64 {
	out := map[string]int64{}
	for _, p := range Slice(c, "ports") {
		pm, _ := p.(map[string]any)
		n, _, _ := unstructured.NestedInt64(pm, "containerPort")
		out[Str(pm, "name")] = n
	}
	return out
}

func Selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ConfigMapValue returns key of the rendered ConfigMap that a container's env
// var takes its value from (valueFrom.configMapKeyRef).
func ConfigMapValue(t testing.TB, objs []*unstructured.Unstructured, container map[string]any, env string) string {
	t.Helper()
	for _, e := range Slice(container, "env") {
		em, _ := e.(map[string]any)
		if Str(em, "name") != env {
			continue
		}
		name, key := Str(em, "valueFrom", "configMapKeyRef", "name"), Str(em, "valueFrom", "configMapKeyRef", "key")
		cm := Find(objs, "ConfigMap", name)
		if cm == nil {
			t.Fatalf("env %s refers to ConfigMap %q, which the overlay does not render", env, name)
		}
		v, ok := StrMap(cm.Object, "data")[key]
		if !ok || v == "" {
			t.Fatalf("ConfigMap %s has no key %q", name, key)
		}
		return v
	}
	t.Fatalf("container has no env %s", env)
	return ""
}

// ExpandArgs replaces $(VAR) in the container's args like the kubelet does,
// with values from the container's env (ConfigMap references resolved).
func ExpandArgs(t testing.TB, objs []*unstructured.Unstructured, container map[string]any) []string {
	t.Helper()
	var out []string
	re := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, a := range Slice(container, "args") {
		s, _ := a.(string)
		out = append(out, re.ReplaceAllStringFunc(s, func(m string) string {
			return ConfigMapValue(t, objs, container, re.FindStringSubmatch(m)[1])
		}))
	}
	return out
}

// AllowedResource and AllowedPath ask the authorizer about a ServiceAccount.
func AllowedResource(t testing.TB, c *cluster.Cluster, ns, sa, verb, group, resource string) bool {
	t.Helper()
	ok, err := c.Allowed(context.Background(), "system:serviceaccount:"+ns+":"+sa,
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}, verb, group, resource, "")
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func AllowedPath(t testing.TB, c *cluster.Cluster, ns, sa, verb, path string) bool {
	t.Helper()
	r, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authzv1.SubjectAccessReview{
		Spec: authzv1.SubjectAccessReviewSpec{
			User:                  "system:serviceaccount:" + ns + ":" + sa,
			Groups:                []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: verb},
		}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status.Allowed
}

func FirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// RuleFile returns the rendered PrometheusRule's spec as a
// Prometheus rule file (JSON, which is YAML).
func RuleFile(t testing.TB, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	pr := Find(objs, "PrometheusRule", "")
	if pr == nil {
		t.Fatal("no PrometheusRule")
	}
	groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	b, err := json.MarshalIndent(map[string]any{"groups": groups}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DashboardExprs returns the PromQL of every panel target of the Grafana
// dashboard, and checks its shape.
func DashboardExprs(t testing.TB, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var dash map[string]any
	for _, cm := range FindAll(objs, "ConfigMap") {
		for k, v := range StrMap(cm.Object, "data") {
			if strings.HasSuffix(k, ".json") {
				if cm.GetLabels()["grafana_dashboard"] != "1" {
					t.Errorf("ConfigMap %s holds a dashboard but lacks the label grafana_dashboard=1", cm.GetName())
				}
				if err := json.Unmarshal([]byte(v), &dash); err != nil {
					t.Fatalf("dashboard %s: %v", k, err)
				}
			}
		}
	}
	if dash == nil {
		t.Fatal("no Grafana dashboard ConfigMap")
	}
	if Str(dash, "uid") == "" || Str(dash, "title") == "" {
		t.Error("dashboard has no uid or title")
	}
	var exprs []string
	for _, p := range Slice(dash, "panels") {
		pm := p.(map[string]any)
		targets := Slice(pm, "targets")
		if len(targets) == 0 {
			t.Errorf("panel %q has no targets", Str(pm, "title"))
		}
		for _, tg := range targets {
			e := Str(tg.(map[string]any), "expr")
			if e == "" {
				t.Errorf("panel %q has a target without expr", Str(pm, "title"))
			}
			exprs = append(exprs, e)
		}
	}
	return exprs
}

// WaitFor polls cond until it returns "" or timeout passes; it fails the test
// with the last message.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	t0 := time.Now()
	for {
		msg := cond()
		if msg == "" {
			t.Logf("%s after %v", what, time.Since(t0).Round(time.Millisecond))
			return
		}
		if time.Since(t0) > timeout {
			t.Fatalf("%s: not after %v: %s", what, timeout, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
