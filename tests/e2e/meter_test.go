package e2e

// Exact metering end to end: the `lifecycle` counters of a real exporter,
// scraped every second by a real Prometheus, turned into a report by
// `crd-state-metrics report`, compared with the lifetimes the test recorded
// from the API (and, as an honest comparison, with what sampling <kind>_info
// gives).

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
	"crd-state-metrics/tests/e2e/ship"
)

var meterSpec = cluster.CRDSpec{Group: "meter.csm.test", Version: "v1", Kind: "Meterling", Namespaced: true}

const meterGVK = "meter.csm.test/v1/Meterling"

// runReport runs `crd-state-metrics report ARGS...` and returns stdout,
// stderr and the exit code.
func runReport(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exporter.Binary(), append([]string{"report"}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("report: %v", err)
	}
	return out.String(), errb.String(), code
}

// noSanitizerReport fails the test if a stopped exporter's log holds an
// AddressSanitizer, LeakSanitizer or UBSan report.
func noSanitizerReport(t *testing.T, e *exporter.Exporter) {
	t.Helper()
	if logs := e.Logs(); strings.Contains(logs, "Sanitizer") || strings.Contains(logs, "runtime error:") {
		t.Errorf("exporter log has a sanitizer report:\n%s", e.LogTail(80))
	}
}

type reportRow struct {
	Namespace string  `json:"namespace"`
	Seconds   float64 `json:"instance_seconds"`
	Hours     float64 `json:"instance_hours"`
	Peak      float64 `json:"peak_instances"`
	Average   float64 `json:"average_instances"`
	Created   float64 `json:"created"`
	Deleted   float64 `json:"deleted"`
}

type reportJSON struct {
	Coverage float64     `json:"coverage"`
	Rows     []reportRow `json:"rows"`
}

func unixArg(t time.Time) string { return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64) }

// TestMeterLifecycleReport: objects with known lifetimes in two namespaces,
// one living 0.3 s (between two scrapes), one spanning an exporter restart.
func TestMeterLifecycleReport(t *testing.T) {
	c := cluster.Get(t)
	for _, ns := range []string{"meter-a", "meter-b"} {
		c.EnsureNamespace(t, ns)
	}
	c.EnsureCRD(t, meterSpec)
	c.DeleteAllObjects(t, meterSpec)

	port, tport := exporter.FreePort(t), exporter.FreePort(t)
	start := func() *exporter.Exporter {
		e := exporter.Start(t, exporter.Options{
			Kubeconfig: c.Kubeconfig, Resources: []string{meterGVK},
			Port: port, TelemetryPort: tport,
			Args: []string{"--generators", "info,lifecycle"},
		})
		e.WaitReady(t, 30*time.Second)
		return e
	}
	e := start()
	prom := ship.StartPrometheus(t, map[string]any{
		"global": map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"},
		"scrape_configs": []any{map[string]any{
			"job_name": "crd-state-metrics", "scrape_interval": "1s", "scrape_timeout": "1s",
			"static_configs": []any{map[string]any{"targets": []string{fmt.Sprintf("127.0.0.1:%d", port)}}},
		}},
	}, nil)
	ship.WaitFor(t, 30*time.Second, "Prometheus scrapes the exporter", func() string {
		ss, err := prom.Query(`up{job="crd-state-metrics"} == 1`, time.Time{})
		if err != nil || len(ss) != 1 {
			return fmt.Sprintf("up: %v %v", ss, err)
		}
		return ""
	})

	ri := c.Dynamic.Resource(meterSpec.GVR())
	ctx := context.Background()
	type life struct {
		ns, name string
		from, to time.Time
	}
	var lives []*life
	create := func(ns, name string) *life {
		c.CreateObject(t, meterSpec, meterSpec.Object(ns, name, nil, map[string]any{"size": 1}))
		l := &life{ns: ns, name: name, from: time.Now()}
		lives = append(lives, l)
		return l
	}
	del := func(l *life) {
		if err := ri.Namespace(l.ns).Delete(ctx, l.name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete %s/%s: %v", l.ns, l.name, err)
		}
		l.to = time.Now()
	}

	windowFrom := time.Now().Add(-2 * time.Second)
	a1 := create("meter-a", "a1")
	// The counters as served: valid text exposition, counters in both
	// formats (OpenMetrics announces the family without _total).
	ship.WaitFor(t, 5*time.Second, "lifecycle counters served", func() string {
		body := exporter.MustGet(t, e.URL+"/metrics")
		if !strings.Contains(body, "# TYPE meterling_object_seconds_total counter\n") ||
			!strings.Contains(body, `meterling_created_total{namespace="meter-a"} 1`) {
			return body
		}
		if msg := exporter.Promtool(t, body); msg != "" {
			return "promtool: " + msg
		}
		return ""
	})
	om := exporter.MustGet(t, e.URL+"/metrics", "Accept: application/openmetrics-text; version=1.0.0")
	for _, want := range []string{"# TYPE meterling_object_seconds counter\n", "# TYPE meterling_deleted counter\n",
		`meterling_object_seconds_total{namespace="meter-a"} `} {
		if !strings.Contains(om, want) {
			t.Errorf("OpenMetrics body lacks %q:\n%s", want, om)
		}
	}
	time.Sleep(1000 * time.Millisecond)
	a2 := create("meter-a", "a2") // 0.3 s: between two scrapes
	time.Sleep(300 * time.Millisecond)
	del(a2)
	b1 := create("meter-b", "b1")
	time.Sleep(2500 * time.Millisecond)
	// Same name, new UID: a new object.
	del(a1)
	a1b := create("meter-a", "a1")
	time.Sleep(2 * time.Second)
	del(b1)
	b2 := create("meter-b", "b2") // lives through the restart
	time.Sleep(2500 * time.Millisecond)

	// The restart: b2 and a1b live through it.
	stopAt := time.Now()
	if err := e.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The old process is gone: no scrape of it after this, and the failed
	// scrapes that mark its series stale come later.
	exitedAt := time.Now()
	noSanitizerReport(t, e)
	time.Sleep(1500 * time.Millisecond)
	e = start()
	readyAt := time.Now()
	time.Sleep(3 * time.Second)
	del(a1b)
	time.Sleep(1 * time.Second)
	del(b2)
	time.Sleep(3 * time.Second) // the last values are scraped
	windowTo := time.Now()
	defer func() {
		if err := e.Stop(10 * time.Second); err != nil {
			t.Error(err)
		}
		noSanitizerReport(t, e)
	}()

	// The documented restart gap: from the old process' last scrape to the
	// new process' watch start (bounded by its readiness), per live object.
	lastOld := map[string]float64{}
	for _, ns := range []string{"meter-a", "meter-b"} {
		ss, err := prom.Query(fmt.Sprintf(`timestamp(meterling_object_seconds_total{namespace=%q})`, ns), exitedAt)
		if err != nil || len(ss) != 1 {
			t.Fatalf("last scrape before the restart in %s: %v %v", ns, ss, err)
		}
		lastOld[ns] = ss[0].Value
	}
	truth := map[string]float64{}
	expect := map[string]float64{}
	for _, l := range lives {
		d := l.to.Sub(l.from).Seconds()
		truth[l.ns] += d
		expect[l.ns] += d
		if !l.to.Before(stopAt) {
			gap := float64(readyAt.UnixNano())/1e9 - lastOld[l.ns]
			expect[l.ns] -= gap
			t.Logf("%s/%s spans the restart: gap %.3fs (last scrape %.3f, ready %.3f)", l.ns, l.name, gap, lastOld[l.ns], float64(readyAt.UnixNano())/1e9)
		}
	}

	out, stderr, code := runReport(t, "--prometheus", prom.URL, "--resource", meterGVK,
		"--from", unixArg(windowFrom), "--to", unixArg(windowTo), "--format", "json")
	if code != 0 {
		t.Fatalf("report exit %d\nstdout: %s\nstderr: %s", code, out, stderr)
	}
	t.Logf("report stderr: %s", strings.TrimSpace(stderr))
	var rep reportJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out)
	}
	got := map[string]reportRow{}
	for _, r := range rep.Rows {
		got[r.Namespace] = r
	}

	// The sampled method: count the _info series once per second.
	window := int(math.Ceil(windowTo.Sub(windowFrom).Seconds()))
	sampled := map[string]float64{}
	ss, err := prom.Query(fmt.Sprintf(`sum_over_time((count by (namespace) (meterling_info))[%ds:1s])`, window), windowTo)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		sampled[s.Labels["namespace"]] = s.Value
	}

	wantCreated := map[string]float64{"meter-a": 3, "meter-b": 2}
	wantDeleted := map[string]float64{"meter-a": 3, "meter-b": 2}
	names := []string{"meter-a", "meter-b"}
	sort.Strings(names)
	t.Logf("%-8s %12s %14s %12s %12s %12s", "ns", "truth s", "truth-gap s", "report s", "report err", "sampled err")
	for _, ns := range names {
		r, ok := got[ns]
		if !ok {
			t.Errorf("report has no row for %s:\n%s", ns, out)
			continue
		}
		t.Logf("%-8s %12.3f %14.3f %12.3f %12.3f %12.3f (sampled %.0f s)", ns, truth[ns], expect[ns], r.Seconds,
			r.Seconds-expect[ns], sampled[ns]-truth[ns], sampled[ns])
		if math.Abs(r.Seconds-expect[ns]) > 1 {
			t.Errorf("%s: report says %.3f instance-seconds, ground truth %.3f (%.3f after the restart gap): off by more than 1 s",
				ns, r.Seconds, truth[ns], expect[ns])
		}
		if r.Created != wantCreated[ns] || r.Deleted != wantDeleted[ns] {
			t.Errorf("%s: created %.0f deleted %.0f, want %.0f and %.0f", ns, r.Created, r.Deleted, wantCreated[ns], wantDeleted[ns])
		}
		if r.Peak < 1 || r.Average <= 0 {
			t.Errorf("%s: peak %.0f average %.3f", ns, r.Peak, r.Average)
		}
	}
	if rep.Coverage <= 0.5 || rep.Coverage >= 1 {
		t.Errorf("coverage %.3f: the exporter was down ~1.5 s of a %d s window", rep.Coverage, window)
	}
	table, _, code := runReport(t, "--prometheus", prom.URL, "--resource", meterGVK,
		"--from", unixArg(windowFrom), "--to", unixArg(windowTo))
	if code != 0 || !strings.Contains(table, "meter-a") {
		t.Errorf("table report: exit %d\n%s", code, table)
	}
	t.Logf("report (table):\n%s", table)

	// An unknown resource and a window without data: clear, exit 1.
	_, stderr, code = runReport(t, "--prometheus", prom.URL, "--resource", "meter.csm.test/v1/Nothing")
	if code != 1 || !strings.Contains(stderr, "no series of meter.csm.test/v1/Nothing") {
		t.Errorf("unknown resource: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runReport(t, "--prometheus", prom.URL, "--resource", meterGVK,
		"--from", "2020-01-01T00:00:00Z", "--to", "2020-01-02T00:00:00Z")
	if code != 1 || !strings.Contains(stderr, "no data for "+meterGVK+" in the window") {
		t.Errorf("empty window: exit %d, stderr %q", code, stderr)
	}
}

// TestMeterReportErrors: a Prometheus that answers 503, one that rejects the
// query, one that is not there, and malformed flags.
func TestMeterReportErrors(t *testing.T) {
	srv503 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Service Unavailable: TSDB not ready", http.StatusServiceUnavailable)
	}))
	defer srv503.Close()
	srv400 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error"}`)
	}))
	defer srv400.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()

	for _, tc := range []struct {
		what string
		args []string
		code int
		msg  string
	}{
		{"503", []string{"--prometheus", srv503.URL, "--resource", meterGVK}, 1, "HTTP 503: Service Unavailable: TSDB not ready"},
		{"bad query", []string{"--prometheus", srv400.URL, "--resource", meterGVK}, 1, "HTTP 400: bad_data: invalid parameter"},
		{"unreachable", []string{"--prometheus", goneURL, "--resource", meterGVK}, 1, "cannot query Prometheus at " + goneURL},
		{"no URL", []string{"--resource", meterGVK}, 2, "--prometheus URL is required"},
		{"bad time", []string{"--prometheus", srv503.URL, "--resource", meterGVK, "--from", "last week"}, 2, `invalid value "last week" for --from`},
		{"bad format", []string{"--prometheus", srv503.URL, "--resource", meterGVK, "--format", "xml"}, 2, `invalid value "xml" for --format`},
	} {
		_, stderr, code := runReport(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q)", tc.what, code, tc.code, stderr, tc.msg)
		} else {
			t.Logf("%s: exit %d: %s", tc.what, code, strings.SplitN(stderr, "\n", 2)[0])
		}
	}
}

// TestMeterCRDDeleted: deleting the CRD ends its objects once (deleted_total
// counts them, object-seconds stop growing), the counters stay served while
// the Kind is gone, and a re-created CRD's objects continue the same
// counters (no reset).
func TestMeterCRDDeleted(t *testing.T) {
	c := cluster.Get(t)
	spec := cluster.CRDSpec{Group: "meter2.csm.test", Version: "v1", Kind: "Tick", Namespaced: true}
	c.EnsureNamespace(t, "meter-c")
	c.EnsureCRD(t, spec)
	c.DeleteAllObjects(t, spec)
	e := exporter.Start(t, exporter.Options{
		Kubeconfig: c.Kubeconfig, Resources: []string{"meter2.csm.test/v1/Tick"},
		Args: []string{"--generators", "info,lifecycle"},
	})
	e.WaitReady(t, 30*time.Second)
	c.CreateObject(t, spec, spec.Object("meter-c", "t1", nil, nil))
	c.CreateObject(t, spec, spec.Object("meter-c", "t2", nil, nil))
	scrape := func() exporter.Samples {
		ss, err := exporter.ParseSamples(exporter.MustGet(t, e.URL+"/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	ns := []string{"namespace", "meter-c"}
	ship.WaitFor(t, 10*time.Second, "two objects counted", func() string {
		if ss := scrape(); ss.Sum("tick_created_total", ns...) != 2 || ss.Sum("tick_object_seconds_total", ns...) <= 0 {
			return ss.Grep("tick_")
		}
		return ""
	})
	time.Sleep(time.Second)
	c.DeleteCRD(t, spec)
	var atDelete float64
	ship.WaitFor(t, 20*time.Second, "the CRD's objects counted as deleted", func() string {
		ss := scrape()
		if ss.Sum("tick_deleted_total", ns...) != 2 || ss.Has("tick_info") {
			return ss.Grep("tick_")
		}
		atDelete = ss.Sum("tick_object_seconds_total", ns...)
		return ""
	})
	time.Sleep(1500 * time.Millisecond)
	ss := scrape()
	if got := ss.Sum("tick_object_seconds_total", ns...); got != atDelete || ss.Sum("tick_deleted_total", ns...) != 2 {
		t.Errorf("after the CRD's deletion: object-seconds %v (was %v), deleted %v; want them unchanged", got, atDelete, ss.Sum("tick_deleted_total", ns...))
	}
	c.EnsureCRD(t, spec)
	c.CreateObject(t, spec, spec.Object("meter-c", "t1", nil, nil))
	ship.WaitFor(t, 30*time.Second, "the re-created CRD's object counted on the same counters", func() string {
		ss := scrape()
		if ss.Sum("tick_created_total", ns...) != 3 || ss.Sum("tick_object_seconds_total", ns...) <= atDelete {
			return ss.Grep("tick_")
		}
		return ""
	})
	t.Logf("object-seconds when the CRD was deleted: %.3f (two objects, about 1 s each)", atDelete)
	if atDelete < 1.5 || atDelete > 6 {
		t.Errorf("object-seconds at the CRD's deletion %.3f, want about 2 (two objects of about 1 s)", atDelete)
	}
	if err := e.Stop(10 * time.Second); err != nil {
		t.Error(err)
	}
	noSanitizerReport(t, e)
	c.DeleteCRD(t, spec)
}

// TestMeterRelist410: the exporter is cut off from the API server while
// objects are deleted and created, etcd is compacted (the watch resumes into
// a 410 and a relist): the relist ends the deleted objects and starts the new
// ones once, and a second 410 without changes counts nothing again. Per
// namespace, the object-seconds counter then grows at exactly the number of
// live objects per second (an object counted twice, or one never ended,
// would show).
func TestMeterRelist410(t *testing.T) {
	r := newRig(t, "meter410", rigOpts{})
	r.populate(9)
	r.start("--generators", "info,lifecycle", "--watch-list", "off")
	r.e.WaitReady(t, 30*time.Second)

	scrape := func() (exporter.Samples, time.Time) {
		body := exporter.MustGet(t, r.e.URL+"/metrics")
		at := time.Now()
		ss, err := exporter.ParseSamples(body)
		if err != nil {
			t.Fatal(err)
		}
		return ss, at
	}
	live := func() map[string]float64 {
		m := map[string]float64{}
		for _, o := range r.list() {
			m[o.GetNamespace()]++
		}
		return m
	}
	check := func(phase string, created, deleted map[string]float64) {
		t.Helper()
		want := live()
		ss1, t1 := scrape()
		time.Sleep(2 * time.Second)
		ss2, t2 := scrape()
		dt := t2.Sub(t1).Seconds()
		for _, ns := range resNamespaces {
			l := []string{"namespace", ns}
			rate := (ss2.Sum("memcached_object_seconds_total", l...) - ss1.Sum("memcached_object_seconds_total", l...)) / dt
			c, d := ss2.Sum("memcached_created_total", l...), ss2.Sum("memcached_deleted_total", l...)
			t.Logf("%s: %s: %.0f live, object-seconds grow at %.3f/s, created %.0f, deleted %.0f", phase, ns, want[ns], rate, c, d)
			if math.Abs(rate-want[ns]) > 0.15 {
				t.Errorf("%s: %s: object-seconds grow at %.3f/s with %.0f live objects", phase, ns, rate, want[ns])
			}
			if c != created[ns] || d != deleted[ns] {
				t.Errorf("%s: %s: created %.0f deleted %.0f, want %.0f and %.0f", phase, ns, c, d, created[ns], deleted[ns])
			}
		}
	}
	// The rig's waitConverged compares every series with the objects; the
	// counters are not objects, so convergence is judged by the _info series.
	converged := func(what string) {
		t.Helper()
		ship.WaitFor(t, 45*time.Second, what, func() string {
			want := map[string]bool{}
			for _, o := range r.list() {
				want[o.GetNamespace()+"/"+o.GetName()] = true
			}
			ss, _ := scrape()
			got := map[string]bool{}
			for _, s := range ss.Match("memcached_info") {
				got[s.Labels["namespace"]+"/"+s.Labels["memcached"]] = true
			}
			if missing, extra := seriesDiff(got, want); len(missing)+len(extra) > 0 {
				return fmt.Sprintf("memcached_info lacks %v, has extra %v", missing, extra)
			}
			return ""
		})
	}
	converged("initial sync")
	created, deleted := map[string]float64{}, map[string]float64{}
	check("initial", created, deleted)

	relists := func() float64 { return r.counter(r.tel(), "crd_state_metrics_relists_total") }
	before := relists()
	r.px.Cut()
	for _, o := range r.deleteSome(3) {
		deleted[strings.SplitN(o, "/", 2)[0]]++
	}
	for i := 0; i < 3; i++ {
		created[strings.SplitN(r.create(), "/", 2)[0]]++
	}
	r.c.CompactAndRestart(t)
	r.px.Restore()
	relisted := func(what string, before float64) {
		t.Helper()
		ship.WaitFor(t, 45*time.Second, what, func() string {
			if after := relists(); after <= before {
				return fmt.Sprintf("crd_state_metrics_relists_total %v -> %v", before, after)
			}
			return ""
		})
	}
	relisted("a relist after the 410", before)
	converged("after the 410")
	check("after a 410 with 3 deleted and 3 created while cut off", created, deleted)
	before = relists()

	r.px.Cut()
	r.c.CompactAndRestart(t)
	r.px.Restore()
	relisted("a relist after the second 410", before)
	converged("after a second 410")
	check("after a 410 without changes", created, deleted)
	if err := r.e.Stop(10 * time.Second); err != nil {
		t.Error(err)
	}
	noSanitizerReport(t, r.e)
}
