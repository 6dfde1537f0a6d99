package e2e

// The metering path end to end: the exporter (run with the standalone
// Deployment's args and its ServiceAccount's RBAC from the manifests), a real
// Prometheus scraping it the way the ServiceMonitor says and loading the
// PrometheusRule's recording rules, and the README's metering queries, checked
// against exact expected values after objects are created and deleted.

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
	"crd-state-metrics/tests/e2e/ship"
)

// TestMeteringRulesUnit runs `promtool test rules` with
// tests/metering/metering-rules.test.yaml against the rules of the rendered
// PrometheusRule.
func TestMeteringRulesUnit(t *testing.T) {
	c := cluster.Get(t)
	_, objs := ship.Render(t, c, filepath.Join(ship.ManifestsDir(), "overlays", "standalone"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "metering-rules.yaml"), ship.RuleFile(t, objs), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(cluster.RepoRoot(), "tests", "metering", "metering-rules.test.yaml")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "metering-rules.test.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("promtool", "test", "rules", "metering-rules.test.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", src, err, out)
	}
	t.Logf("promtool test rules: %s", strings.TrimSpace(string(out)))
}

// meterCustomization is the standalone overlay customized the way the
// README says: a second kind in the ConfigMap and in the ClusterRole.
const meterCustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
configMapGenerator:
  - name: crd-state-metrics-config
    behavior: replace
    literals:
      - resources=cache.example.com/v1/Memcached,ship.example.com/v1/Backup
patches:
  - target:
      kind: ClusterRole
      name: crd-state-metrics
    patch: |-
      - op: replace
        path: /rules
        value:
          - apiGroups: ["cache.example.com"]
            resources: ["memcacheds"]
            verbs: ["list", "watch"]
          - apiGroups: ["ship.example.com"]
            resources: ["backups"]
            verbs: ["list", "watch"]
`

// meterCounts maps {kind,namespace} sample keys to values.
type meterCounts map[string]float64

func (m meterCounts) String() string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("%s %g", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func meterKey(labels ...string) string {
	s := ship.Sample{Labels: map[string]string{}}
	for i := 0; i+1 < len(labels); i += 2 {
		s.Labels[labels[i]] = labels[i+1]
	}
	return s.Key()
}

func meterToCounts(ss []ship.Sample) meterCounts {
	m := meterCounts{}
	for _, s := range ss {
		m[s.Key()] = s.Value
	}
	return m
}

func meterSame(got, want meterCounts) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok || math.Abs(g-v) > 1e-9 {
			return false
		}
	}
	return true
}

func TestMeteringPrometheus(t *testing.T) {
	c := cluster.Get(t)
	ship.InstallMonitoringCRDs(t, c)
	ship.InstallSampleCRD(t, c)
	memcached := cluster.CRDSpec{Group: "cache.example.com", Version: "v1", Kind: "Memcached", Namespaced: true}
	backup := cluster.CRDSpec{Group: "ship.example.com", Version: "v1", Kind: "Backup", Namespaced: true}
	c.EnsureCRD(t, backup)
	c.DeleteAllObjects(t, memcached)
	c.DeleteAllObjects(t, backup)
	nss := []string{"team-a", "team-b", "team-c"}
	for _, ns := range nss {
		c.EnsureNamespace(t, ns)
	}

	// Render and apply the customized standalone overlay; the exporter runs
	// with its Deployment's args and as its ServiceAccount.
	kdir := t.TempDir()
	overlay, err := filepath.Rel(kdir, filepath.Join(ship.ManifestsDir(), "overlays", "standalone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kdir, "kustomization.yaml"), []byte(fmt.Sprintf(meterCustomization, overlay)), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest, objs := ship.Render(t, c, kdir)
	ship.MustApply(t, c, "the customized standalone overlay", manifest)
	pods := ship.ExporterPods(objs)
	if len(pods) != 1 {
		t.Fatalf("want one exporter Deployment, got %d", len(pods))
	}
	pod := pods[0]
	ns := pod.Deploy.GetNamespace()
	svc := ship.Find(objs, "Service", "crd-state-metrics")
	sm := ship.Find(objs, "ServiceMonitor", "")
	if svc == nil || sm == nil {
		t.Fatal("the overlay renders no Service or ServiceMonitor")
	}

	dir := t.TempDir()
	tok, _, err := c.RequestToken(t.Context(), ns, pod.SA, cluster.TokenOptions{Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := c.WriteKubeconfig(kubeconfig, cluster.KubeconfigAuth{TokenFile: tokenFile}); err != nil {
		t.Fatal(err)
	}

	deployArgs := ship.ExpandArgs(t, objs, pod.Container)
	secure := ship.SecureServingSupported(t, ship.Help(t, exporter.Binary()), deployArgs)
	var scrapeTLS *ship.ScrapeTLS
	remap := map[string]string{}
	if secure {
		// The Secret crd-state-metrics-tls as cert-manager would write it: a
		// serving certificate for the Service's DNS name, and the CA.
		tlsDir := filepath.Join(dir, "tls")
		if err := os.Mkdir(tlsDir, 0o700); err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := c.IssueServingCert(t, "crd-state-metrics", svc.GetName()+"."+ns+".svc")
		for from, to := range map[string]string{certFile: "tls.crt", keyFile: "tls.key", c.CAFile: "ca.crt"} {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tlsDir, to), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		remap["/etc/crd-state-metrics/tls"] = tlsDir
		// Prometheus' identity: the subject of the metrics-reader binding.
		var promNS, promSA string
		for _, b := range ship.FindAll(objs, "ClusterRoleBinding") {
			if strings.HasSuffix(ship.Str(b.Object, "roleRef", "name"), "metrics-reader") {
				s := ship.Slice(b.Object, "subjects")[0].(map[string]any)
				promNS, promSA = ship.Str(s, "namespace"), ship.Str(s, "name")
			}
		}
		if promSA == "" {
			t.Fatal("no metrics-reader ClusterRoleBinding")
		}
		promID := c.NewServiceAccount(t, promNS, promSA, cluster.TokenOptions{Lifetime: time.Hour})
		scrapeTLS = &ship.ScrapeTLS{CAFile: c.CAFile, TokenFile: promID.TokenFile}
		t.Logf("secure serving: exporter on TLS with --auth; Prometheus verifies %s and sends %s/%s's token",
			ship.Str(ship.Slice(sm.Object, "spec", "endpoints")[0].(map[string]any), "tlsConfig", "serverName"), promNS, promSA)
	}
	port, tport := exporter.FreePort(t), exporter.FreePort(t)
	args := ship.LocalArgs(deployArgs, port, tport, remap, secure)
	args = append(args, "--kubeconfig="+kubeconfig, "--namespaces="+strings.Join(nss, ","))
	e := exporter.Start(t, exporter.Options{NoListenFlags: true, Port: port, TelemetryPort: tport, Args: args})
	if !secure {
		e.WaitReady(t, 30*time.Second)
	} else {
		// What the ServiceMonitor relies on: the serving certificate verifies
		// for the Service's name, the probes need no token, /metrics needs the
		// metrics-reader role.
		serverName := ship.Str(ship.Slice(sm.Object, "spec", "endpoints")[0].(map[string]any), "tlsConfig", "serverName")
		base := fmt.Sprintf("https://127.0.0.1:%d", port)
		ship.WaitFor(t, 30*time.Second, "exporter /readyz over TLS without a token", func() string {
			st, body, err := ship.TLSGet(c.CAFile, serverName, base+"/readyz", "")
			if err != nil || st != 200 {
				return fmt.Sprintf("HTTP %d %v %.200s", st, err, body)
			}
			return ""
		})
		promTok, err := os.ReadFile(scrapeTLS.TokenFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			who, token string
			want       int
		}{{"no token", "", 401}, {"the exporter's own token (no metrics-reader role)", tok, 403}, {"Prometheus' token", string(promTok), 200}} {
			ship.WaitFor(t, 10*time.Second, "GET /metrics with "+tc.who, func() string {
				st, body, err := ship.TLSGet(c.CAFile, serverName, base+"/metrics", tc.token)
				if err != nil || st != tc.want {
					return fmt.Sprintf("HTTP %d (want %d) %v %.200s", st, tc.want, err, body)
				}
				return ""
			})
		}
	}

	// Prometheus: the ServiceMonitor's endpoint as a scrape config (with the
	// discovery labels the operator would attach), the PrometheusRule's rules.
	target, telemetryTarget := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", tport)
	podName := pod.Deploy.GetName() + "-0"
	labels := func(endpoint string) map[string]string {
		return map[string]string{"namespace": ns, "service": svc.GetName(), "pod": podName,
			"container": "crd-state-metrics", "endpoint": endpoint}
	}
	if n := len(ship.Slice(sm.Object, "spec", "endpoints")); n != 2 {
		t.Fatalf("ServiceMonitor has %d endpoints, want metrics and telemetry", n)
	}
	prom := ship.StartPrometheus(t, map[string]any{
		"global": map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"},
		"scrape_configs": []any{
			ship.ScrapeConfig(t, sm, 0, target, labels("metrics"), scrapeTLS, "1s"),
			ship.ScrapeConfig(t, sm, 1, telemetryTarget, labels("telemetry"), scrapeTLS, "1s"),
		},
	}, map[string][]byte{"metering-rules.yaml": ship.RuleFile(t, objs)})

	query := func(expr string) meterCounts {
		ss, err := prom.Query(expr, time.Time{})
		if err != nil {
			t.Fatalf("query %s: %v", expr, err)
		}
		return meterToCounts(ss)
	}
	ship.WaitFor(t, 30*time.Second, "Prometheus scrapes the exporter", func() string {
		// The relabelings: the target's namespace label dropped on the
		// metrics endpoint, job fixed on both.
		up := query(`up`)
		want := meterCounts{
			meterKey("endpoint", "metrics", "instance", target, "job", "crd-state-metrics",
				"pod", podName, "service", svc.GetName(), "container", "crd-state-metrics"): 1,
			meterKey("endpoint", "telemetry", "instance", telemetryTarget, "job", "crd-state-metrics-telemetry",
				"namespace", ns, "pod", podName, "service", svc.GetName(), "container", "crd-state-metrics"): 1,
		}
		if !meterSame(up, want) {
			return fmt.Sprintf("up: %v, want %v", up, want)
		}
		return ""
	})

	// The README's queries, each checked by what it computes.
	readme := ship.ReadmeQueries(t)
	var qCount, qKind, qHours, qHourly []string
	for _, q := range readme {
		switch {
		case q.Expr == "namespace_kind:crd_objects:count":
			qCount = append(qCount, q.Expr)
		case q.Expr == "kind:crd_objects:count":
			qKind = append(qKind, q.Expr)
		case strings.Contains(q.Expr, "namespace_kind:crd_objects:count[") && strings.Contains(q.Expr, ":1m]) / 60"):
			qHours = append(qHours, q.Expr)
		case strings.Contains(q.Expr, "namespace_kind:crd_object_hours:1h["):
			qHourly = append(qHourly, q.Expr)
		default:
			t.Errorf("README query %q (%s) is not checked by this test; teach it", q.Expr, q.Comment)
		}
	}
	if len(qCount) == 0 || len(qKind) == 0 || len(qHours) == 0 {
		t.Fatalf("README lacks the count, per-kind or object-hours query: %v", readme)
	}
	waitCounts := func(what string, exprs []string, want meterCounts, within time.Duration) time.Time {
		t.Helper()
		ship.WaitFor(t, within, what, func() string {
			for _, q := range exprs {
				if got := query(q); !meterSame(got, want) {
					return fmt.Sprintf("%s = %v, want %v", q, got, want)
				}
			}
			return ""
		})
		return time.Now()
	}
	mk := func(s cluster.CRDSpec, ns, name string) {
		c.CreateObject(t, s, s.Object(ns, name, nil, map[string]any{"size": 1}))
	}
	del := func(s cluster.CRDSpec, ns, name string) {
		if err := c.Dynamic.Resource(s.GVR()).Namespace(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete %s %s/%s: %v", s.Kind, ns, name, err)
		}
	}

	// Phase 1 starts early in a minute, so that the first one-minute step of
	// the object-hours subquery (the next whole minute, b1) sees all of it.
	if s := time.Now().Second(); s > 30 {
		d := time.Duration(61-s) * time.Second
		t.Logf("waiting %v for the start of a minute", d)
		time.Sleep(d)
	}
	b1 := time.Now().Truncate(time.Minute).Add(time.Minute)
	for _, n := range []string{"m1", "m2", "m3"} {
		mk(memcached, "team-a", n)
	}
	mk(backup, "team-a", "b1")
	mk(memcached, "team-b", "m1")
	mk(memcached, "team-b", "m2")
	mk(memcached, "team-c", "m1")
	phase1 := meterCounts{
		meterKey("kind", "memcached", "namespace", "team-a"): 3, meterKey("kind", "backup", "namespace", "team-a"): 1,
		meterKey("kind", "memcached", "namespace", "team-b"): 2, meterKey("kind", "memcached", "namespace", "team-c"): 1,
	}
	done1 := waitCounts("phase 1: created objects counted", qCount, phase1, 30*time.Second)
	waitCounts("phase 1: per-kind totals", qKind, meterCounts{meterKey("kind", "memcached"): 6, meterKey("kind", "backup"): 1}, 10*time.Second)
	if !done1.Before(b1.Add(-2 * time.Second)) {
		t.Fatalf("phase 1 was counted only at %s, too close to the minute step %s for an exact object-hours check",
			done1.Format(time.TimeOnly), b1.Format(time.TimeOnly))
	}
	time.Sleep(time.Until(b1.Add(3 * time.Second)))

	// Phase 2: delete two of team-a's Memcacheds and team-c's only one.
	del(memcached, "team-a", "m2")
	del(memcached, "team-a", "m3")
	del(memcached, "team-c", "m1")
	b2 := b1.Add(time.Minute)
	phase2 := meterCounts{
		meterKey("kind", "memcached", "namespace", "team-a"): 1, meterKey("kind", "backup", "namespace", "team-a"): 1,
		meterKey("kind", "memcached", "namespace", "team-b"): 2,
	}
	done2 := waitCounts("phase 2: deleted objects no longer counted", qCount, phase2, 30*time.Second)
	waitCounts("phase 2: per-kind totals", qKind, meterCounts{meterKey("kind", "memcached"): 3, meterKey("kind", "backup"): 1}, 10*time.Second)
	if !done2.Before(b2.Add(-2 * time.Second)) {
		t.Fatalf("phase 2 was counted only at %s, too close to the minute step %s", done2.Format(time.TimeOnly), b2.Format(time.TimeOnly))
	}
	time.Sleep(time.Until(b2.Add(3 * time.Second)))

	// Object-hours: the one-minute steps b1 (phase 1) and b2 (phase 2), and
	// none before the objects existed.
	wantHours := meterCounts{
		meterKey("kind", "memcached", "namespace", "team-a"): (3 + 1) / 60.0,
		meterKey("kind", "backup", "namespace", "team-a"):    (1 + 1) / 60.0,
		meterKey("kind", "memcached", "namespace", "team-b"): (2 + 2) / 60.0,
		meterKey("kind", "memcached", "namespace", "team-c"): (1 + 0) / 60.0,
	}
	for _, q := range append(qHours, "namespace_kind:crd_object_hours:1h") {
		if got := query(q); !meterSame(got, wantHours) {
			t.Errorf("object-hours: %s = %v, want %v", q, got, wantHours)
		} else {
			t.Logf("object-hours: %s = %v", q, got)
		}
	}
	// The hourly recording summed at one-hour steps needs an hour boundary
	// inside the test to hold data; here it must at least evaluate.
	for _, q := range qHourly {
		if _, err := prom.Query(q, time.Time{}); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}

	// Every recording rule evaluates without error.
	rules, err := prom.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 3 {
		t.Errorf("Prometheus loaded %d rules: %v", len(rules), rules)
	}
	for _, r := range rules {
		if r.Health != "ok" || r.LastError != "" {
			t.Errorf("rule %s/%s: health %s, error %q", r.Group, r.Name, r.Health, r.LastError)
		}
	}

	// The Grafana dashboard's queries (variables at "All", range 1h) run and
	// return data.
	for _, expr := range ship.DashboardExprs(t, objs) {
		q := strings.NewReplacer(`$kind`, `.*`, `$namespace`, `.*`, `$__range`, `1h`).Replace(expr)
		ss, err := prom.Query(q, time.Time{})
		if err != nil {
			t.Errorf("dashboard query %s: %v", q, err)
		} else if len(ss) == 0 {
			t.Errorf("dashboard query %s returns nothing", q)
		}
	}
	if t.Failed() {
		t.Logf("exporter log tail:\n%s", e.LogTail(20))
	}
}
