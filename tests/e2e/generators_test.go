package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
)

// Issue 5: generators. Kinds of their own, so that nothing else the suite runs
// shows up in these bodies.
var (
	genWidget = cluster.CRDSpec{Group: "gen.example.com", Version: "v1", Kind: "Widget", Namespaced: true}
	genGadget = cluster.CRDSpec{Group: "gen.example.com", Version: "v1", Kind: "Gadget"}
)

// The Custom Resource State config of the test: Widget metrics (Widget is also a
// --resource) and Gadget, which only the config names.
const genConfig = `kind: CustomResourceStateMetrics
spec:
  resources:
    - groupVersionKind: {group: gen.example.com, version: v1, kind: Widget}
      metricNamePrefix: widget
      labelsFromPath:
        name: [metadata, name]
        namespace: [metadata, namespace]
      metrics:
        - name: spec_replicas
          help: Desired replicas.
          each: {type: Gauge, gauge: {path: [spec, replicas]}}
        - name: status_replicas
          help: Ready replicas.
          each: {type: Gauge, gauge: {path: [status, replicas], nilIsZero: true}}
        - name: status_phase
          help: The phase.
          each:
            type: StateSet
            stateSet: {labelName: phase, path: [status, phase], list: [Pending, Running, Failed]}
        - name: ready
          help: The Ready condition.
          each:
            type: Gauge
            gauge: {path: [status, conditions, "[type=Ready]", status], nilIsZero: true}
    - groupVersionKind: {group: gen.example.com, version: v1, kind: Gadget}
      metrics:
        - name: gadget_info
          help: Gadgets.
          each: {type: Info, info: {labelsFromPath: {gadget: [metadata, name], color: [spec, color]}}}
`

// setStatus writes the status subresource of a namespaced object.
func setStatus(t *testing.T, c *cluster.Cluster, s cluster.CRDSpec, obj *unstructured.Unstructured, status map[string]any) *unstructured.Unstructured {
	t.Helper()
	obj = obj.DeepCopy()
	obj.Object["status"] = status
	out, err := c.Dynamic.Resource(s.GVR()).Namespace(obj.GetNamespace()).UpdateStatus(context.Background(), obj, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status of %s/%s: %v", obj.GetNamespace(), obj.GetName(), err)
	}
	return out
}

// configMapDir lays out a directory the way the kubelet mounts a ConfigMap:
// config.yaml -> ..data/config.yaml, ..data -> ..<version>. swap() updates it the
// way the kubelet does, by renaming a new ..data symlink over the old one.
type configMapDir struct {
	t       *testing.T
	dir     string
	version int
}

func newConfigMapDir(t *testing.T, content string) *configMapDir {
	d := &configMapDir{t: t, dir: t.TempDir()}
	d.swap(content)
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), filepath.Join(d.dir, "config.yaml")); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *configMapDir) path() string { return filepath.Join(d.dir, "config.yaml") }

func (d *configMapDir) swap(content string) {
	d.t.Helper()
	d.version++
	ver := fmt.Sprintf("..%d", d.version)
	if err := os.Mkdir(filepath.Join(d.dir, ver), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, ver, "config.yaml"), []byte(content), 0o644); err != nil {
		d.t.Fatal(err)
	}
	tmp := filepath.Join(d.dir, "..data_tmp")
	if err := os.Symlink(ver, tmp); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "..data")); err != nil {
		d.t.Fatal(err)
	}
}

// TestGenerators runs the exporter with every built-in generator, a Custom
// Resource State config and the example plugin against Widgets that have
// conditions, a phase, replicas, labels and annotations, and checks the body
// series by series (and with promtool); then it reloads the config through a
// ConfigMap-style symlink swap and SIGHUP, including a broken one.
func TestGenerators(t *testing.T) {
	c := cluster.Get(t)

	c.EnsureNamespace(t, "team-b")
	for _, s := range []cluster.CRDSpec{genWidget, genGadget} {
		c.EnsureCRD(t, s)
		c.DeleteAllObjects(t, s)
	}
	// alpha: labels, annotations, a status with conditions, phase and replicas.
	alpha := genWidget.Object("default", "alpha", map[string]string{
		"app": "shop", "tier": "web", "app.kubernetes.io/name": "alpha-shop",
	}, map[string]any{"replicas": 3})
	alpha.SetAnnotations(map[string]string{"owner": "team-a", "note": "not exported"})
	alpha = c.CreateObject(t, genWidget, alpha)
	alpha = setStatus(t, c, genWidget, alpha, map[string]any{
		"phase": "Running", "replicas": 2, "observedGeneration": 1,
		"conditions": []any{
			map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-02T03:04:05Z"},
			map[string]any{"type": "Degraded", "status": "False", "lastTransitionTime": "2024-01-02T03:04:05Z"},
		},
	})
	// beta: new, no status yet (what an operator shows before its first reconcile).
	beta := c.CreateObject(t, genWidget, genWidget.Object("team-b", "beta", map[string]string{"app": "api"}, map[string]any{"replicas": 1}))
	c.CreateObject(t, genGadget, genGadget.Object("", "g1", nil, map[string]any{"color": "blue"}))

	created := func(u *unstructured.Unstructured) int64 { return u.GetCreationTimestamp().Unix() }
	cm := newConfigMapDir(t, genConfig)
	args := []string{
		"--generators", "info,labels,annotations,created,status",
		"--metric-labels-allowlist", "widgets=[app,app.kubernetes.io/name]",
		"--metric-annotations-allowlist", "*=[owner]",
		"--config", cm.path(),
	}
	plugin := filepath.Join(filepath.Dir(exporter.Binary()), "..", "generators", "examples", "example.so")
	havePlugin := false
	if _, err := os.Stat(plugin); err == nil {
		havePlugin = true
		args = append(args, "--generator-plugin", plugin,
			"--generators", "widgets=[info,labels,annotations,created,status,example],*=[info]")
	} else {
		t.Logf("no example plugin at %s: the plugin part is skipped", plugin)
	}
	e := exporter.Start(t, exporter.Options{
		Kubeconfig: c.Kubeconfig,
		Resources:  []string{"gen.example.com/v1/Widget"},
		Args:       args,
	})
	t.Logf("exporter ready %v after start", e.WaitReady(t, 30*time.Second).Round(time.Millisecond))

	bc := &bodyChecker{t: t, linted: map[[32]byte]bool{}}
	scrape := func() string {
		t.Helper()
		body := exporter.MustGet(t, e.URL+"/metrics")
		norm, err := bc.check(body)
		if err != nil {
			t.Fatal(err)
		}
		return norm
	}
	norm := func(s string) string {
		t.Helper()
		n, err := exporter.Normalize(s)
		if err != nil {
			t.Fatalf("expected body: %v\n%s", err, s)
		}
		return n
	}

	const A = `namespace="default",widget="alpha"`
	const B = `namespace="team-b",widget="beta"`
	var w strings.Builder
	fam := func(name, typ, help string, samples ...string) {
		fmt.Fprintf(&w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, s := range samples {
			w.WriteString(s + "\n")
		}
	}
	fam("widget_info", "gauge", "Information about a Widget object.",
		"widget_info{"+A+"} 1", "widget_info{"+B+"} 1")
	fam("widget_labels", "gauge", "Kubernetes labels converted to Prometheus labels.",
		`widget_labels{`+A+`,label_app="shop",label_app_kubernetes_io_name="alpha-shop"} 1`,
		`widget_labels{`+B+`,label_app="api"} 1`)
	fam("widget_annotations", "gauge", "Kubernetes annotations converted to Prometheus labels.",
		`widget_annotations{`+A+`,annotation_owner="team-a"} 1`,
		`widget_annotations{`+B+`} 1`)
	fam("widget_created", "gauge", "Unix creation timestamp.",
		fmt.Sprintf("widget_created{%s} %d", A, created(alpha)), fmt.Sprintf("widget_created{%s} %d", B, created(beta)))
	fam("widget_status_condition", "gauge", "The condition of a Widget: 1 for the status a condition type has, 0 for the others.",
		`widget_status_condition{`+A+`,type="Ready",status="true"} 1`,
		`widget_status_condition{`+A+`,type="Ready",status="false"} 0`,
		`widget_status_condition{`+A+`,type="Ready",status="unknown"} 0`,
		`widget_status_condition{`+A+`,type="Degraded",status="true"} 0`,
		`widget_status_condition{`+A+`,type="Degraded",status="false"} 1`,
		`widget_status_condition{`+A+`,type="Degraded",status="unknown"} 0`)
	fam("widget_metadata_generation", "gauge", "Sequence number of the desired state of a Widget (metadata.generation).",
		"widget_metadata_generation{"+A+"} 1", "widget_metadata_generation{"+B+"} 1")
	fam("widget_status_observed_generation", "gauge", "The generation a Widget's controller last acted on (status.observedGeneration).",
		"widget_status_observed_generation{"+A+"} 1")
	if havePlugin {
		fam("widget_example_info", "gauge", "Identity, phase and app label of the object.",
			fmt.Sprintf(`widget_example_info{%s,uid="%s",phase="Running",app="alpha-shop"} 1`, A, alpha.GetUID()),
			fmt.Sprintf(`widget_example_info{%s,uid="%s",phase="",app=""} 1`, B, beta.GetUID()))
		fam("widget_example_replicas", "gauge", "spec.replicas.",
			"widget_example_replicas{"+A+"} 3", "widget_example_replicas{"+B+"} 1")
		fam("widget_example_paused", "gauge", "spec.paused as 0 or 1.")
		fam("widget_example_restarts_total", "counter", "status.restarts.")
		fam("widget_example_phase", "gauge", "status.phase: 1 for the current phase.",
			`widget_example_phase{`+A+`,widget_example_phase="Pending"} 0`,
			`widget_example_phase{`+A+`,widget_example_phase="Running"} 1`,
			`widget_example_phase{`+A+`,widget_example_phase="Failed"} 0`)
		fam("widget_example_condition_transition_timestamp_seconds", "gauge", "lastTransitionTime per condition type.",
			`widget_example_condition_transition_timestamp_seconds{`+A+`,type="Ready"} 1704164645`,
			`widget_example_condition_transition_timestamp_seconds{`+A+`,type="Degraded"} 1704164645`)
		fam("widget_example_label_keys", "gauge", "Number of labels on the object.",
			"widget_example_label_keys{"+A+"} 3", "widget_example_label_keys{"+B+"} 1")
		fam("widget_example_annotation_bytes", "gauge", "Length of each annotation's value.",
			`widget_example_annotation_bytes{`+A+`,annotation="note"} 12`,
			`widget_example_annotation_bytes{`+A+`,annotation="owner"} 6`)
	}
	const GA = `customresource_group="gen.example.com",customresource_kind="Widget",customresource_version="v1"`
	fam("widget_spec_replicas", "gauge", "Desired replicas.",
		`widget_spec_replicas{`+GA+`,name="alpha",namespace="default"} 3`,
		`widget_spec_replicas{`+GA+`,name="beta",namespace="team-b"} 1`)
	fam("widget_status_replicas", "gauge", "Ready replicas.",
		`widget_status_replicas{`+GA+`,name="alpha",namespace="default"} 2`,
		`widget_status_replicas{`+GA+`,name="beta",namespace="team-b"} 0`)
	fam("widget_status_phase", "gauge", "The phase.",
		`widget_status_phase{`+GA+`,name="alpha",namespace="default",phase="Failed"} 0`,
		`widget_status_phase{`+GA+`,name="alpha",namespace="default",phase="Pending"} 0`,
		`widget_status_phase{`+GA+`,name="alpha",namespace="default",phase="Running"} 1`)
	fam("widget_ready", "gauge", "The Ready condition.",
		`widget_ready{`+GA+`,name="alpha",namespace="default"} 1`,
		`widget_ready{`+GA+`,name="beta",namespace="team-b"} 0`)
	widgets := w.String()
	gadgets := "# HELP kube_customresource_gadget_info Gadgets.\n# TYPE kube_customresource_gadget_info info\n" +
		`kube_customresource_gadget_info{color="blue",customresource_group="gen.example.com",customresource_kind="Gadget",customresource_version="v1",gadget="g1"} 1` + "\n"
	// Text format announces info families as gauges.
	gadgets = strings.Replace(gadgets, "TYPE kube_customresource_gadget_info info", "TYPE kube_customresource_gadget_info gauge", 1)

	want := norm(widgets + gadgets)
	if got := scrape(); got != want {
		t.Fatalf("/metrics (samples sorted per family):\n%s\nwant:\n%s", got, want)
	}
	tel := e.Telemetry(t)
	if v := tel.Sum("crd_state_metrics_config_reloads_total", "result", "success"); v != 0 {
		t.Errorf("config reloads before any reload: %v, want 0", v)
	}
	if v := tel.Sum("crd_state_metrics_config_last_reload_successful"); v != 1 {
		t.Errorf("crd_state_metrics_config_last_reload_successful = %v, want 1", v)
	}

	// waitBody polls /metrics until it equals want.
	waitBody := func(what string, want string) {
		t.Helper()
		var got string
		d := cluster.Eventually(t, 15*time.Second, 50*time.Millisecond, what, func() (bool, error) {
			got = scrape()
			return got == want, nil
		})
		t.Logf("%s: body as expected after %v", what, d.Round(time.Millisecond))
	}
	waitReloads := func(what, result string, n float64) {
		t.Helper()
		cluster.Eventually(t, 15*time.Second, 50*time.Millisecond, what, func() (bool, error) {
			s, err := e.TelemetryErr()
			return err == nil && s.Sum("crd_state_metrics_config_reloads_total", "result", result) == n, err
		})
	}

	// 1. A ConfigMap-style update: Gadget goes, Widget gains a metric. Only the
	// file changed; the exporter notices within one poll.
	cfg2 := strings.Replace(genConfig, `        - name: ready
`, `        - name: spec_replicas_quantity
          help: Desired replicas as a quantity.
          each: {type: Gauge, gauge: {path: [metadata, annotations, note], nilIsZero: true}}
        - name: ready
`, 1)
	cfg2 = cfg2[:strings.Index(cfg2, "    - groupVersionKind: {group: gen.example.com, version: v1, kind: Gadget}")]
	cm.swap(cfg2)
	// "not exported" is no number: alpha's sample is left out (and counted as
	// a generator failure); beta has no annotation, so nilIsZero gives 0.
	extra := "# HELP widget_spec_replicas_quantity Desired replicas as a quantity.\n# TYPE widget_spec_replicas_quantity gauge\n" +
		`widget_spec_replicas_quantity{` + GA + `,name="beta",namespace="team-b"} 0` + "\n"
	widgets2 := strings.Replace(widgets, "# HELP widget_ready ", extra+"# HELP widget_ready ", 1)
	waitBody("config swapped: Gadget dropped, a Widget metric added", norm(widgets2))
	waitReloads("reload counted", "success", 1)
	tel = e.Telemetry(t)
	if v := tel.Sum("crd_state_metrics_generator_failures_total", "resource", "gen.example.com/v1/Widget", "generator", "config"); v < 1 {
		t.Errorf("generator failures for alpha's unreadable annotation: %v, want >= 1\n%s", v, tel.Grep("crd_state_metrics_generator_failures_total"))
	}

	// 2. A broken config: rejected with file, line and field; the old one stays.
	cm.swap(strings.Replace(cfg2, "name: status_phase", "name: status-phase", 1))
	waitReloads("failed reload counted", "failure", 1)
	if got := scrape(); got != norm(widgets2) {
		t.Fatalf("after a bad config /metrics changed:\n%s\nwant the previous state:\n%s", got, norm(widgets2))
	}
	if v := e.Telemetry(t).Sum("crd_state_metrics_config_last_reload_successful"); v != 0 {
		t.Errorf("crd_state_metrics_config_last_reload_successful after a bad config = %v, want 0", v)
	}
	logs := e.Logs()
	wantErr := cm.path() + `:16:17: spec.resources[0].metrics[2].name: "widget_status-phase" is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`
	if !strings.Contains(logs, wantErr) {
		t.Errorf("log lacks the precise error %q; log tail:\n%s", wantErr, e.LogTail(20))
	}

	// 3. SIGHUP reloads although the file did not change (the poll would not):
	// the broken file is tried again and fails again.
	if err := e.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitReloads("SIGHUP reload counted", "failure", 2)
	if n := strings.Count(e.Logs(), "config reload (SIGHUP) failed; the previous config stays: "+wantErr); n != 1 {
		t.Errorf("log has %d SIGHUP reload failures with the precise error, want 1", n)
	}

	// 4. The original config back: Gadget is exported again, after Widget.
	cm.swap(genConfig)
	waitReloads("reload of the original config counted", "success", 2)
	waitBody("original config back: Gadget exported again", want)
	if v := e.Telemetry(t).Sum("crd_state_metrics_config_last_reload_successful"); v != 1 {
		t.Errorf("crd_state_metrics_config_last_reload_successful = %v, want 1", v)
	}
}

// TestGeneratorsWildcards runs the documentation's wildcard example: a config
// whose only resource is {group, version: "*", kind: "*"} and no --resource.
// Discovery resolves it to every kind of the group; a CRD installed later is
// found by the next round (SIGHUP starts one at once).
func TestGeneratorsWildcards(t *testing.T) {
	c := cluster.Get(t)
	foo := cluster.CRDSpec{Group: "wild.example.com", Version: "v1", Kind: "Foo", Namespaced: true}
	bar := cluster.CRDSpec{Group: "wild.example.com", Version: "v1", Kind: "Bar", Namespaced: true}
	baz := cluster.CRDSpec{Group: "wild.example.com", Version: "v1", Kind: "Baz", Namespaced: true}
	c.EnsureNamespace(t, "ns")
	c.DeleteCRD(t, baz)
	for _, s := range []cluster.CRDSpec{foo, bar} {
		c.EnsureCRD(t, s)
		c.DeleteAllObjects(t, s)
	}
	c.CreateObject(t, foo, foo.Object("ns", "foo", nil, nil))
	c.CreateObject(t, bar, bar.Object("ns", "bar", nil, nil))

	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(`kind: CustomResourceStateMetrics
spec:
  resources:
    - groupVersionKind:
        group: "wild.example.com"
        version: "*"
        kind: "*"
      metrics:
        - name: "myobject_info"
          help: "Foo Bar Baz"
          each:
            type: Info
            info:
              path: [metadata]
              labelsFromPath:
                object: [name]
                namespace: [namespace]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	e := exporter.Start(t, exporter.Options{Kubeconfig: c.Kubeconfig, Args: []string{"--config", cfg}})
	bc := &bodyChecker{t: t, linted: map[[32]byte]bool{}}
	series := func(kinds ...string) string {
		var b strings.Builder
		b.WriteString("# HELP kube_customresource_myobject_info Foo Bar Baz\n# TYPE kube_customresource_myobject_info gauge\n")
		for _, k := range kinds {
			fmt.Fprintf(&b, `kube_customresource_myobject_info{customresource_group="wild.example.com",customresource_kind="%s",customresource_version="v1",namespace="ns",object="%s"} 1`+"\n",
				k, strings.ToLower(k))
		}
		return b.String()
	}
	// One family for all kinds: each resource has it, the body has it once.
	check := func(what string, kinds ...string) {
		t.Helper()
		waitForBody(t, e, bc, what, series(kinds...))
	}
	check("Foo and Bar found by discovery", "Foo", "Bar")

	c.EnsureCRD(t, baz)
	c.CreateObject(t, baz, baz.Object("ns", "baz", nil, nil))
	if err := e.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	check("Baz, installed later, found after SIGHUP", "Foo", "Bar", "Baz")
	c.DeleteCRD(t, baz)
}
