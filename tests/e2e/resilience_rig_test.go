package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
	"crd-state-metrics/tests/e2e/faultproxy"
)

// Resilience tests (issue 4) each use their own CRD (group
// <name>.resilience.example.com, kind Memcached), their own ServiceAccount and
// their own fault proxy between the exporter and the real kube-apiserver, so that
// the ones that do not touch the control plane itself can run in parallel.

var resNamespaces = []string{"res-a", "res-b", "res-c"}

// rig is one resilience scenario: a CRD, an identity, a proxy and an exporter.
type rig struct {
	t        *testing.T
	c        *cluster.Cluster
	s        cluster.CRDSpec
	id       *cluster.Identity
	px       *faultproxy.Proxy
	e        *exporter.Exporter
	resource string // GROUP/VERSION/KIND as passed to --resource and in telemetry labels
	path     string // cluster-wide collection path, /apis/<group>/<version>/<plural>
	kc       string // kubeconfig for the exporter (tokenFile, server = proxy)
	ri       dynamic.NamespaceableResourceInterface
	role     string
	rng      *rand.Rand
	secret   string // with rigOpts.boundToken: the Secret the current token is bound to
	scrapes  *scrapeLedger
}

// rigScrapeFailBudget is how many of a rig's /metrics scrapes may fail
// (transport error, non-200, malformed body) before its test fails: none.
// /metrics is served from the exporter's own store, so faults between the
// exporter and the API server never excuse a failed scrape; a retry that
// hid one would hide exactly the bugs these tests are for.
const rigScrapeFailBudget = 0

// scrapeLedger counts the /metrics scrapes of a test and keeps every failed
// one, so that loops that retry until convergence still report (and fail on)
// each scrape that did not succeed. Safe for concurrent use.
type scrapeLedger struct {
	mu     sync.Mutex
	budget int
	n      int
	fails  []string
}

func newScrapeLedger(t testing.TB, budget int) *scrapeLedger {
	l := &scrapeLedger{budget: budget}
	t.Cleanup(func() { l.report(t) })
	return l
}

// record notes one scrape; err nil is a success.
func (l *scrapeLedger) record(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if err != nil {
		l.fails = append(l.fails, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
	}
}

// counts returns scrapes and failed scrapes so far.
func (l *scrapeLedger) counts() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, len(l.fails)
}

// report logs the totals and fails t if more scrapes failed than the budget.
func (l *scrapeLedger) report(t testing.TB) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("/metrics scrapes: %d, failed %d (budget %d)", l.n, len(l.fails), l.budget)
	if len(l.fails) > l.budget {
		const max = 20
		shown := l.fails
		if len(shown) > max {
			shown = shown[:max]
		}
		t.Errorf("%d of %d /metrics scrapes failed, budget %d:\n  %s", len(l.fails), l.n, l.budget, strings.Join(shown, "\n  "))
	}
}

// objSeq numbers object names across all rigs (names stay unique per CRD even
// when subtests copy a rig).
var objSeq atomic.Int64

type rigOpts struct {
	absentCRD  bool // delete the CRD instead of ensuring it
	noRBAC     bool // do not grant the exporter's identity access yet
	boundToken bool // the token file holds a token bound to a Secret (rotation tests)
}

func newRig(t *testing.T, name string, o rigOpts) *rig {
	t.Helper()
	c := cluster.Get(t)
	r := &rig{
		t: t, c: c,
		s:    cluster.CRDSpec{Group: name + ".resilience.example.com", Version: "v1", Kind: "Memcached", Namespaced: true},
		role: "csm-res-" + name,
		rng:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4)),
	}
	r.scrapes = newScrapeLedger(t, rigScrapeFailBudget)
	r.resource = r.s.Group + "/" + r.s.Version + "/" + r.s.Kind
	r.path = "/apis/" + r.s.Group + "/" + r.s.Version + "/" + r.s.GVR().Resource
	r.ri = c.Dynamic.Resource(r.s.GVR())
	for _, ns := range resNamespaces {
		c.EnsureNamespace(t, ns)
	}
	if o.absentCRD {
		c.DeleteCRD(t, r.s)
	} else {
		c.EnsureCRD(t, r.s)
		c.DeleteAllObjects(t, r.s)
	}
	r.id = c.NewServiceAccount(t, "csm-res", "exporter-"+name, cluster.TokenOptions{Lifetime: time.Hour})
	if o.boundToken {
		r.secret = r.id.RotateBoundToken(t)
	}
	if !o.noRBAC {
		r.grant()
	}
	r.px = faultproxy.Start(t, c)
	r.kc = filepath.Join(t.TempDir(), "kubeconfig")
	if err := r.px.WriteKubeconfig(c, r.kc, cluster.KubeconfigAuth{TokenFile: r.id.TokenFile}); err != nil {
		t.Fatal(err)
	}
	return r
}

// grant gives the exporter's identity get/list/watch on the rig's resource.
func (r *rig) grant() {
	r.t.Helper()
	r.c.GrantClusterRole(r.t, r.id, r.role, rbacv1.PolicyRule{
		APIGroups: []string{r.s.Group}, Resources: []string{r.s.GVR().Resource}, Verbs: []string{"get", "list", "watch"}})
}

// start runs the exporter against the proxy with extra flags.
func (r *rig) start(args ...string) *exporter.Exporter {
	r.t.Helper()
	r.e = exporter.Start(r.t, exporter.Options{
		Kubeconfig: r.kc,
		Resources:  []string{r.resource},
		Args:       args,
	})
	return r.e
}

// --- objects --------------------------------------------------------------------

func (r *rig) obj(ns, name string, labels map[string]string, spec map[string]any) *unstructured.Unstructured {
	return r.s.Object(ns, name, labels, spec)
}

// populate creates n objects spread over resNamespaces, in parallel.
func (r *rig) populate(n int) {
	r.t.Helper()
	objs := make([]*unstructured.Unstructured, 0, n)
	for i := 0; i < n; i++ {
		objs = append(objs, r.obj(resNamespaces[i%len(resNamespaces)], r.nextName(), map[string]string{"app": "memcached"},
			map[string]any{"size": i % 7}))
	}
	r.c.CreateObjects(r.t, r.s, objs, 16)
}

func (r *rig) nextName() string {
	return fmt.Sprintf("m-%04d", objSeq.Add(1))
}

// create creates one object in a random namespace and returns "ns/name".
func (r *rig) create() string {
	r.t.Helper()
	ns := resNamespaces[r.rng.IntN(len(resNamespaces))]
	name := r.nextName()
	r.c.CreateObject(r.t, r.s, r.obj(ns, name, map[string]string{"app": "memcached"}, map[string]any{"size": 1}))
	return ns + "/" + name
}

// list returns the current objects (a fresh, consistent LIST as the admin).
func (r *rig) list() []unstructured.Unstructured {
	r.t.Helper()
	l, err := r.ri.List(context.Background(), metav1.ListOptions{})
	if err != nil {
		r.t.Fatalf("list %s: %v", r.resource, err)
	}
	return l.Items
}

// deleteSome deletes n random existing objects and returns them as "ns/name".
func (r *rig) deleteSome(n int) []string {
	r.t.Helper()
	keys := r.pickExisting(n)
	for _, k := range keys {
		r.deleteKey(k)
	}
	return keys
}

// pickExisting returns up to n random existing objects as "ns/name".
func (r *rig) pickExisting(n int) []string {
	r.t.Helper()
	items := r.list()
	r.rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	var out []string
	for _, o := range items[:min(n, len(items))] {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

// deleteKey deletes the object "ns/name" (gone already is fine).
func (r *rig) deleteKey(key string) {
	r.t.Helper()
	ns, name, _ := strings.Cut(key, "/")
	err := r.ri.Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		r.t.Fatalf("delete %s: %v", key, err)
	}
}

// updateSome patches labels and spec of n random existing objects.
func (r *rig) updateSome(n int) {
	r.t.Helper()
	items := r.list()
	r.rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	for _, o := range items[:min(n, len(items))] {
		patch := fmt.Sprintf(`{"metadata":{"labels":{"rev":"r%d"}},"spec":{"size":%d}}`, r.rng.IntN(1000), r.rng.IntN(100))
		_, err := r.ri.Namespace(o.GetNamespace()).Patch(context.Background(), o.GetName(), types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			r.t.Fatalf("patch %s/%s: %v", o.GetNamespace(), o.GetName(), err)
		}
	}
}

// --- expected and actual series ----------------------------------------------

// expectedSeries is the set of /metrics sample lines a LIST of objs implies
// (the same rendering as the core test's family()).
func expectedSeries(kind string, objs []unstructured.Unstructured, namespaced bool) map[string]bool {
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		if namespaced {
			keys = append(keys, o.GetNamespace()+"/"+o.GetName())
		} else {
			keys = append(keys, o.GetName())
		}
	}
	return sampleLines(family(kind, keys...))
}

func sampleLines(body string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out[l] = true
		}
	}
	return out
}

// truth is the expected series set from a fresh consistent LIST.
func (r *rig) truth() (map[string]bool, error) {
	l, err := r.ri.List(context.Background(), metav1.ListOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) { // CRD absent: no objects
			return map[string]bool{}, nil
		}
		return nil, err
	}
	return expectedSeries(r.s.Kind, l.Items, r.s.Namespaced), nil
}

// scrape returns the sample lines of /metrics; it fails on duplicates or a
// malformed body (exporter.Normalize).
func scrapeSeries(e *exporter.Exporter) (map[string]bool, error) {
	st, body, _, err := exporter.Get(e.URL + "/metrics")
	if err != nil {
		return nil, err
	}
	if st != 200 {
		return nil, fmt.Errorf("GET /metrics: HTTP %d: %.300s", st, body)
	}
	if _, err := exporter.Normalize(string(body)); err != nil {
		return nil, fmt.Errorf("/metrics body: %v", err)
	}
	return sampleLines(string(body)), nil
}

// scrape is scrapeSeries with the result recorded in the rig's ledger.
func (r *rig) scrape() (map[string]bool, error) {
	got, err := scrapeSeries(r.e)
	r.scrapes.record(err)
	return got, err
}

// seriesDiff describes what got lacks (missing) and has too much (extra).
func seriesDiff(got, want map[string]bool) (missing, extra []string) {
	for l := range want {
		if !got[l] {
			missing = append(missing, l)
		}
	}
	for l := range got {
		if !want[l] {
			extra = append(extra, l)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return missing, extra
}

func fmtDiff(missing, extra []string) string {
	const max = 15
	var b strings.Builder
	fmt.Fprintf(&b, "%d missing, %d extra", len(missing), len(extra))
	for i, l := range missing {
		if i == max {
			fmt.Fprintf(&b, "\n  - ... (%d more)", len(missing)-max)
			break
		}
		b.WriteString("\n  - " + l)
	}
	for i, l := range extra {
		if i == max {
			fmt.Fprintf(&b, "\n  + ... (%d more)", len(extra)-max)
			break
		}
		b.WriteString("\n  + " + l)
	}
	return b.String()
}

// waitConverged polls until /metrics holds exactly the series a fresh LIST
// implies and returns how long it took; it fails the test after timeout with the
// difference. Any duplicate sample fails at once; any other failed scrape is
// recorded in the rig's ledger (and fails the test beyond its budget).
func (r *rig) waitConverged(what string, timeout time.Duration) time.Duration {
	r.t.Helper()
	t0 := time.Now()
	var lastDiff string
	for {
		want, err := r.truth()
		if err == nil {
			got, serr := r.scrape()
			if serr != nil && strings.Contains(serr.Error(), "duplicate") {
				r.t.Fatalf("%s: %v", what, serr)
			}
			if serr == nil {
				m, x := seriesDiff(got, want)
				if len(m) == 0 && len(x) == 0 {
					d := time.Since(t0)
					r.t.Logf("%s: /metrics equals a fresh LIST (%d series) after %v", what, len(want), d.Round(time.Millisecond))
					return d
				}
				lastDiff = fmtDiff(m, x)
			} else {
				lastDiff = serr.Error()
			}
		} else {
			lastDiff = "LIST: " + err.Error()
		}
		if r.e.Exited() {
			r.t.Fatalf("%s: exporter exited: %v\nlog tail:\n%s", what, r.e.ExitErr(), r.e.LogTail(40))
		}
		if time.Since(t0) > timeout {
			r.t.Fatalf("%s: /metrics did not converge to a fresh LIST within %v: %s", what, timeout, lastDiff)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// --- telemetry ------------------------------------------------------------------

func (r *rig) tel() exporter.Samples { r.t.Helper(); return r.e.Telemetry(r.t) }

// counter is the value of a telemetry series for this rig's resource (extra
// labels as "k", "v" pairs).
func (r *rig) counter(ss exporter.Samples, name string, labels ...string) float64 {
	return ss.Sum(name, append([]string{"resource", r.resource}, labels...)...)
}

// exported is counter for a series that must exist: it fails the test (Errorf)
// when no series matches, because Sum is 0 then too and "== 0" would prove
// nothing.
func (r *rig) exported(ss exporter.Samples, name string, labels ...string) float64 {
	r.t.Helper()
	l := append([]string{"resource", r.resource}, labels...)
	if !ss.Has(name, l...) {
		r.t.Errorf("telemetry has no series %s%v", name, l)
	}
	return ss.Sum(name, l...)
}

// logTel logs the rig's telemetry series (informer counters).
func (r *rig) logTel(ss exporter.Samples) {
	var lines []string
	for _, s := range ss {
		if strings.HasPrefix(s.Name, "crd_state_metrics_") && s.Labels["resource"] == r.resource {
			lines = append(lines, s.Line)
		}
	}
	sort.Strings(lines)
	r.t.Logf("telemetry for %s:\n  %s", r.resource, strings.Join(lines, "\n  "))
}

// --- proxy log helpers --------------------------------------------------------------

// entries returns the proxy log entries for the rig's collection path.
func (r *rig) entries() []faultproxy.Entry {
	return r.px.Filter(func(e faultproxy.Entry) bool { return e.Path == r.path })
}

// entriesSince returns the entries for the path with Seq >= seq.
func (r *rig) entriesSince(seq int) []faultproxy.Entry {
	return r.px.Filter(func(e faultproxy.Entry) bool { return e.Path == r.path && e.Seq >= seq })
}

// mark returns the sequence number the next proxy log entry will get.
func (r *rig) mark() int { return len(r.px.Entries()) }

// waitEntry waits until an entry for the path with Seq >= seq satisfies f.
func (r *rig) waitEntry(what string, seq int, timeout time.Duration, f func(faultproxy.Entry) bool) faultproxy.Entry {
	r.t.Helper()
	var found faultproxy.Entry
	cluster.Eventually(r.t, timeout, 50*time.Millisecond, what, func() (bool, error) {
		for _, e := range r.entriesSince(seq) {
			if f(e) {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

func rvOf(e faultproxy.Entry) int64 {
	v, err := strconv.ParseInt(e.Query.Get("resourceVersion"), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s" }

// logLines returns the exporter log lines at level (e.g. "warn") that contain
// all of subs.
func logLines(e *exporter.Exporter, level string, subs ...string) []string {
	var out []string
next:
	for _, l := range strings.Split(e.Logs(), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.EqualFold(f[1], level) {
			continue
		}
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": name}}
}
