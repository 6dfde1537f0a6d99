package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
	"crd-state-metrics/tests/e2e/faultproxy"
)

// Issue 4: informer resilience. One test per behaviour, each against the real
// control plane with a fault proxy (tests/e2e/faultproxy) in front of it.
//
// Tests that stop, restart or compact the control plane (2, 3, 4) run serially;
// the others run in parallel with each other once the serial tests are done
// (each has its own CRD, identity, proxy and exporter).

const (
	mWatchEvents = "crd_state_metrics_watch_events_total"
	mWatch       = "crd_state_metrics_watch_total"
	mList        = "crd_state_metrics_list_total"
	mRelists     = "crd_state_metrics_relists_total"
	mAPIErrors   = "crd_state_metrics_api_errors_total"
	mObjects     = "crd_state_metrics_objects"
	mServed      = "crd_state_metrics_resource_served"
)

// 1. The server ends a watch (timeoutSeconds): the exporter re-watches from its
// last resourceVersion without a new LIST.
func TestResilienceWatchTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t, "watch-timeout", rigOpts{})
	r.populate(6)
	const T = 4
	r.start("--watch-timeout", strconv.Itoa(T), "--watch-list", "off")
	r.e.WaitReady(t, 30*time.Second)
	r.waitConverged("initial sync", 10*time.Second)

	// Let the server end at least 3 watches ([T, 2T) each), with changes in between.
	deadline := time.Now().Add(45 * time.Second)
	for changes := 0; ; changes++ {
		ss := r.tel()
		if r.counter(ss, mWatch, "result", "success") >= 3 {
			break
		}
		if time.Now().After(deadline) {
			r.logTel(ss)
			t.Fatalf("fewer than 3 watches ended by the server within 45s with --watch-timeout %d", T)
		}
		switch changes % 3 {
		case 0:
			r.create()
		case 1:
			r.updateSome(1)
		case 2:
			r.deleteSome(1)
		}
		r.waitConverged(fmt.Sprintf("change %d", changes+1), 5*time.Second)
		time.Sleep(2 * time.Second)
	}
	r.waitConverged("after server-side watch timeouts", 5*time.Second)

	ss := r.tel()
	r.logTel(ss)
	t.Logf("proxy log:\n%s", r.px.FormatLog(30))
	if got := r.counter(ss, mList, "result", "success"); got != 1 {
		t.Errorf("list_total{result=success} = %v, want 1 (a watch ended by the server must be resumed, not relisted)", got)
	}
	for _, reason := range []string{"watch_expired", "list_expired", "continue_expired"} {
		if got := r.exported(ss, mRelists, "reason", reason); got != 0 {
			t.Errorf("relists_total{reason=%s} = %v, want 0", reason, got)
		}
	}
	if got := r.counter(ss, mRelists); got != 0 {
		t.Errorf("relists_total = %v, want 0", got)
	}
	if n := r.px.Lists(r.path); n != 1 {
		t.Errorf("proxy saw %d LIST requests for %s, want exactly 1", n, r.path)
	}
	var watches []faultproxy.Entry
	for _, e := range r.entries() {
		if e.Watch {
			watches = append(watches, e)
		}
	}
	if len(watches) < 4 {
		t.Fatalf("proxy saw %d WATCH requests, want >= 4 (initial + 3 resumes)", len(watches))
	}
	clean := 0
	prevRV := int64(-1)
	for i, w := range watches {
		ts, err := strconv.Atoi(w.Query.Get("timeoutSeconds"))
		if err != nil || ts < T || ts >= 2*T {
			t.Errorf("watch %d: timeoutSeconds=%q, want an integer in [%d, %d)", i, w.Query.Get("timeoutSeconds"), T, 2*T)
		}
		rv := rvOf(w)
		if rv <= 0 {
			t.Errorf("watch %d has resourceVersion=%q; every watch must resume from the last resourceVersion", i, w.Query.Get("resourceVersion"))
		}
		if rv < prevRV {
			t.Errorf("watch %d resumes from resourceVersion %d, older than the previous watch's %d", i, rv, prevRV)
		}
		prevRV = rv
		if w.Query.Get("allowWatchBookmarks") != "true" {
			t.Errorf("watch %d without allowWatchBookmarks=true", i)
		}
		if w.Status == 200 && w.Err == "" && !w.End.IsZero() {
			clean++
		}
	}
	if clean < 3 {
		t.Errorf("%d watches ended cleanly (server timeout), want >= 3", clean)
	}
	if got, want := r.counter(ss, mWatch, "result", "success"), float64(clean); got < want {
		t.Errorf("watch_total{result=success} = %v, but the proxy saw %v watches end cleanly", got, want)
	}
}

// 2. 410 Expired on a watch after compaction while the exporter was cut off:
// relist in client-go's order (LIST at the last resourceVersion first, a fresh
// consistent LIST only if that is expired too); deletions vanish, creations
// appear, nothing is doubled.
func TestResilienceWatchExpired(t *testing.T) {
	r := newRig(t, "watch-expired", rigOpts{})
	r.populate(10)
	r.start("--watch-list", "off")
	r.e.WaitReady(t, 30*time.Second)
	r.waitConverged("initial sync", 10*time.Second)

	expire := func(phase string, injectListExpired bool) {
		t.Helper()
		before := r.tel()
		// The exporter's last resourceVersion is the one its current watch resumed from
		// or started at; the watch is cut below.
		r.px.Cut()
		deleted := r.deleteSome(3)
		var created []string
		for i := 0; i < 3; i++ {
			created = append(created, r.create())
		}
		r.updateSome(2)
		t.Logf("%s: while cut off: deleted %v, created %v, updated 2", phase, deleted, created)
		rev := r.c.CompactAndRestart(t)
		t.Logf("%s: etcd compacted at %d and kube-apiserver restarted", phase, rev)
		if injectListExpired {
			r.px.InjectBody(faultproxy.And(faultproxy.ListOf(r.path), faultproxy.HasParam("resourceVersion")), 1, http.StatusGone, nil,
				faultproxy.StatusBody(http.StatusGone, "The resourceVersion for the provided list is too old."))
		}
		seq := r.mark()
		r.px.Restore()
		r.waitConverged(phase+": after 410", 45*time.Second)
		after := r.tel()
		r.logTel(after)
		es := r.entriesSince(seq)
		var b strings.Builder
		for _, e := range es {
			b.WriteString(e.String() + "\n")
		}
		t.Logf("%s: requests after restore:\n%s", phase, b.String())

		if d := r.counter(after, mRelists, "reason", "watch_expired") - r.counter(before, mRelists, "reason", "watch_expired"); d < 1 {
			t.Errorf("%s: relists_total{reason=watch_expired} grew by %v, want >= 1", phase, d)
		}
		// client-go order: the first LIST after the expired watch asks for the
		// resourceVersion the watch resumed from.
		var watchRV string
		firstList := -1
		for i, e := range es {
			if e.Watch && watchRV == "" && e.Status == 200 {
				watchRV = e.Query.Get("resourceVersion")
			}
			if e.IsList() {
				firstList = i
				break
			}
		}
		if firstList < 0 {
			t.Fatalf("%s: no LIST after the expired watch", phase)
		}
		l1 := es[firstList]
		if got := l1.Query.Get("resourceVersion"); got == "" || got == "0" || (watchRV != "" && got != watchRV) {
			t.Errorf("%s: first relist asks resourceVersion=%q, want the last resourceVersion %q (LIST at the last RV first)", phase, got, watchRV)
		}
		if l1.Status == http.StatusGone {
			// It was expired too: the next LIST must be a fresh consistent one.
			var l2 *faultproxy.Entry
			for _, e := range es[firstList+1:] {
				if e.IsList() && e.Query.Get("continue") == "" {
					l2 = &e
					break
				}
			}
			if l2 == nil {
				t.Errorf("%s: the LIST at the last RV got 410 but no fresh LIST followed", phase)
			} else if rv := l2.Query.Get("resourceVersion"); rv != "" {
				t.Errorf("%s: after the LIST at the last RV got 410, the next LIST asks resourceVersion=%q, want none (consistent read)", phase, rv)
			}
			if d := r.counter(after, mRelists, "reason", "list_expired") - r.counter(before, mRelists, "reason", "list_expired"); d < 1 {
				t.Errorf("%s: relists_total{reason=list_expired} grew by %v, want >= 1", phase, d)
			}
			t.Logf("%s: LIST at the last RV %s got 410; then a consistent LIST", phase, watchRV)
		} else if injectListExpired {
			t.Errorf("%s: the injected 410 on the LIST at the last resourceVersion was not hit (first relist: %s)", phase, l1)
		} else {
			t.Logf("%s: LIST at the last RV %s answered %d; no consistent LIST needed", phase, watchRV, l1.Status)
		}
	}
	expire("natural", false)
	expire("list at last RV expired too (injected 410)", true)
}

// 3. An expired continue token in the middle of a paged LIST: the list restarts
// and converges (60 objects, page size 5, etcd compacted while page 2 is held).
func TestResilienceContinueExpired(t *testing.T) {
	r := newRig(t, "continue-expired", rigOpts{})
	r.populate(60)
	ctx := context.Background()

	// Our own probe continue token, taken before the writes below, tells us when
	// the apiserver has noticed the compaction (its compactor polls etcd).
	probe, err := r.ri.List(ctx, metav1.ListOptions{Limit: 5})
	if err != nil || probe.GetContinue() == "" {
		t.Fatalf("probe paged LIST: %v (continue %q)", err, probe.GetContinue())
	}
	r.px.Hold(faultproxy.And(faultproxy.ListOf(r.path), faultproxy.HasParam("continue")))
	r.start("--list-page-size", "5", "--watch-list", "off")
	if !r.px.WaitHeld(1, 30*time.Second) {
		t.Fatalf("the exporter never asked for a second LIST page; proxy log:\n%s", r.px.FormatLog(20))
	}
	held := r.entries()
	t.Logf("held: %s", held[len(held)-1])

	deleted := r.deleteSome(2)
	c1, c2 := r.create(), r.create()
	t.Logf("between pages: deleted %v, created %s %s", deleted, c1, c2)
	rev, err := r.c.CompactEtcd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := cluster.Eventually(t, 45*time.Second, 200*time.Millisecond, "apiserver rejects old continue tokens", func() (bool, error) {
		_, err := r.ri.List(ctx, metav1.ListOptions{Limit: 5, Continue: probe.GetContinue()})
		return apierrors.IsResourceExpired(err) || apierrors.IsGone(err), nil
	})
	t.Logf("etcd compacted at %d; the apiserver rejected old continue tokens after %v", rev, d.Round(time.Millisecond))
	seq := r.mark()
	r.px.Release()

	r.e.WaitReady(t, 60*time.Second)
	r.waitConverged("after the expired continue token", 30*time.Second)
	ss := r.tel()
	r.logTel(ss)

	es := r.px.Entries()
	var heldEntry *faultproxy.Entry
	for i := range es {
		if es[i].Path == r.path && es[i].Held > 0 {
			heldEntry = &es[i]
			break
		}
	}
	if heldEntry == nil || heldEntry.Status != http.StatusGone {
		t.Fatalf("the held page-2 request did not get 410: %v", heldEntry)
	}
	restarted := false
	for _, e := range r.entriesSince(seq) {
		if e.IsList() && e.Query.Get("continue") == "" && e.Status == 200 {
			restarted = true
			break
		}
	}
	if !restarted {
		t.Errorf("no LIST from the first page (without continue) after the continue token expired; proxy log:\n%s", r.px.FormatLog(40))
	}
	if got := r.counter(ss, mRelists, "reason", "continue_expired"); got < 1 {
		t.Errorf("relists_total{reason=continue_expired} = %v, want >= 1", got)
	}
	if got := r.counter(ss, mObjects); got != 60 {
		t.Errorf("objects gauge = %v, want 60", got)
	}
}

// 4. The API server down for 30s: /metrics keeps serving the last known state,
// /readyz stays 200, the failure counters grow, reconnect attempts follow capped
// exponential backoff with jitter, and the exporter recovers after the restart.
func TestResilienceAPIServerDown(t *testing.T) {
	r := newRig(t, "apiserver-down", rigOpts{})
	r.populate(8)
	r.start()
	r.e.WaitReady(t, 30*time.Second)
	r.waitConverged("initial sync", 10*time.Second)
	last, err := scrapeSeries(r.e)
	if err != nil {
		t.Fatal(err)
	}
	before := r.tel()

	const outage = 30 * time.Second
	tStop := time.Now()
	r.c.StopAPIServer(t)
	tDown := time.Now()
	t.Logf("kube-apiserver stopped (the stop took %v); keeping it down for %v", tDown.Sub(tStop).Round(time.Millisecond), outage)
	var readyz []string
	for time.Since(tDown) < outage {
		got, err := scrapeSeries(r.e)
		if err != nil {
			t.Fatalf("/metrics while the apiserver is down: %v", err)
		}
		if m, x := seriesDiff(got, last); len(m)+len(x) > 0 {
			t.Fatalf("/metrics changed while the apiserver is down: %s", fmtDiff(m, x))
		}
		st, body, _, err := exporter.Get(r.e.URL + "/readyz")
		if err != nil {
			t.Fatalf("/readyz while down: %v", err)
		}
		line := fmt.Sprintf("HTTP %d %q", st, strings.TrimSpace(string(body)))
		if len(readyz) == 0 || readyz[len(readyz)-1] != line {
			readyz = append(readyz, line)
		}
		if st != http.StatusOK {
			t.Errorf("/readyz while the apiserver is down after a completed sync: %s, want 200 (serving the last known state)", line)
		}
		time.Sleep(time.Second)
	}
	t.Logf("/readyz while the apiserver was down: %s", strings.Join(readyz, " | "))
	tStart := time.Now()
	r.c.StartAPIServer(t)
	tUp := time.Now()
	t.Logf("kube-apiserver down for %v (ready again %v after the start)", tStart.Sub(tDown).Round(time.Millisecond), tUp.Sub(tStart).Round(time.Millisecond))

	during := r.tel()
	r.logTel(during)
	if d := r.counter(during, mAPIErrors) - r.counter(before, mAPIErrors); d < 1 {
		t.Errorf("api_errors_total grew by %v during the outage, want >= 1", d)
	}
	errs := func(ss exporter.Samples) float64 {
		return r.counter(ss, mList, "result", "error") + r.counter(ss, mWatch, "result", "error")
	}
	if d := errs(during) - errs(before); d < 1 {
		t.Errorf("list_total{error}+watch_total{error} grew by %v during the outage, want >= 1", d)
	}
	if got := r.counter(during, mAPIErrors); got < 4 {
		t.Errorf("api_errors_total = %v after a 30s outage; want the failed retries counted (>= 4)", got)
	}

	// Delete first, so that the deletion cannot pick the new object (the set
	// must change in a way the exporter can only learn from the server).
	r.deleteSome(1)
	r.create()
	r.waitConverged("after the apiserver came back", 50*time.Second)
	t.Logf("recovered %v after the apiserver was ready again", time.Since(tUp).Round(time.Millisecond))

	// The retry schedule as measured at the proxy: from the first failure (the
	// watch broken by the shutdown) to the first request after the restart.
	checkBackoffSchedule(t, "apiserver down", r.entries(), tStop)
	st, body, _, _ := exporter.Get(r.e.URL + "/readyz")
	t.Logf("/readyz after recovery: HTTP %d %q", st, strings.TrimSpace(string(body)))
}

// waitFor polls cond every 100ms until it is true (nil error) or timeout passes
// (the last error, or a timeout error).
func waitFor(timeout time.Duration, cond func() (bool, error)) (time.Duration, error) {
	t0 := time.Now()
	for {
		ok, err := cond()
		if ok {
			return time.Since(t0), nil
		}
		if time.Since(t0) > timeout {
			if err == nil {
				err = fmt.Errorf("not true after %v", timeout)
			}
			return time.Since(t0), err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkBackoffSchedule logs the measured retry schedule and checks it against
// the specified backoff: 0.8s doubling, capped at 30s, jitter factor [1, 1.5),
// Each gap is measured from the end of a failed request (refused, error status,
// or a stream that broke) to the start of the next request; the k-th consecutive
// failure since the first one after from must be followed by a delay of
// min(0.8s * 2^k, 30s) * [1, 1.5).
func checkBackoffSchedule(t *testing.T, what string, es []faultproxy.Entry, from time.Time) {
	t.Helper()
	// A failure: no 2xx, a stream the server side broke, or a connection the
	// proxy dropped ("client gone" is the exporter ending a request itself, e.g.
	// after an ERROR event).
	failed := func(e faultproxy.Entry) bool {
		return e.Failed() || e.Err == "stream broken" || e.Err == "dropped by proxy"
	}
	first := -1
	for i, e := range es {
		if !e.End.IsZero() && e.End.After(from) && failed(e) {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatalf("%s: no failed request at the proxy", what)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: measured retry schedule (at the proxy; gap = previous failure -> next request):\n", what)
	fmt.Fprintf(&b, "  #   at       gap      nominal  allowed         request -> outcome\n")
	t0 := es[first].End
	bad, k := 0, 0
	for i := first; i < len(es); i++ {
		e := es[i]
		kind := "LIST "
		if e.Watch {
			kind = "WATCH"
		}
		outcome := fmt.Sprintf("%d", e.Status)
		if e.Err != "" {
			outcome += " " + e.Err
		}
		if i == first {
			fmt.Fprintf(&b, "  %-2d  +%-6s  %-7s  %-7s  %-14s  %s -> %s (first failure, at its end)\n", 0, secs(0), "-", "-", "-", kind, outcome)
		} else {
			gap := e.Start.Sub(es[i-1].End).Seconds()
			// 0.8s doubling, jitter [1, 1.5), never past 30s: a jittered
			// delay that would pass the cap is divided by a jitter factor
			// instead, so it lands in [30/1.5, 30].
			raw := 0.8 * math.Pow(2, float64(k))
			nominal := math.Min(raw, 30)
			lo, hi := nominal*0.98, math.Min(nominal*1.5, 30)+0.25
			if raw*1.5 > 30 {
				lo = 30 / 1.5 * 0.98
			}
			flag := ""
			if gap < lo || gap > hi {
				flag = "  <-- outside"
				bad++
			}
			fmt.Fprintf(&b, "  %-2d  +%-6s  %-7s  %-7s  [%5.2f, %5.2f]  %s -> %s%s\n", i-first, secs(e.Start.Sub(t0)),
				strconv.FormatFloat(gap, 'f', 2, 64)+"s", strconv.FormatFloat(nominal, 'f', 1, 64)+"s", lo, hi, kind, outcome, flag)
			k++
		}
		if !failed(e) || e.End.IsZero() {
			break
		}
	}
	t.Log(b.String())
	if k < 3 {
		t.Errorf("%s: only %d retries measured; too few to check the backoff", what, k)
	}
	if bad > 0 {
		t.Errorf("%s: %d retry delays outside the specified backoff (0.8s doubling to 30s, jitter [1, 1.5), at the cap [20s, 30s])", what, bad)
	}
}

// 5. 429 with Retry-After and 503: honoured and retried, never a tight loop.
// Each phase uses a fresh exporter, so that its backoff starts at 0.8s.
func TestResilienceThrottled(t *testing.T) {
	t.Parallel()
	r := newRig(t, "throttled", rigOpts{})
	r.populate(5)

	// Phase A: 429 + Retry-After: 3 on the next request for the resource.
	r.start()
	r.e.WaitReady(t, 30*time.Second)
	r.waitConverged("initial sync", 10*time.Second)
	seq := r.mark()
	r.px.Inject(faultproxy.PathIs(r.path), 1, http.StatusTooManyRequests, map[string]string{"Retry-After": "3"})
	r.px.DropConnections()
	inj := r.waitEntry("a request answered 429", seq, 15*time.Second, func(e faultproxy.Entry) bool { return e.Injected })
	next := r.waitEntry("a request after the 429", inj.Seq+1, 15*time.Second, func(faultproxy.Entry) bool { return true })
	gap := next.Start.Sub(inj.End)
	t.Logf("429 Retry-After: 3 at %s; next request %v later: %s", inj.Start.Format("15:04:05.000"), gap.Round(time.Millisecond), next)
	if gap < 3*time.Second-20*time.Millisecond {
		t.Errorf("next request %v after a 429 with Retry-After: 3; want >= 3s", gap.Round(time.Millisecond))
	}
	if gap > 5*time.Second {
		t.Errorf("next request %v after a 429 with Retry-After: 3 (second failure, backoff <= 2.4s); want about 3s (<= 5s)", gap.Round(time.Millisecond))
	}
	r.create()
	r.waitConverged("after the 429", 15*time.Second)
	ss := r.tel()
	n429 := r.px.Count(func(e faultproxy.Entry) bool { return e.Path == r.path && e.Injected && e.Status == 429 })
	if got := r.counter(ss, mAPIErrors, "code", "429"); got != float64(n429) {
		t.Errorf("api_errors_total{code=429} = %v, proxy answered %d", got, n429)
	}
	if err := r.e.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Phase B: a fresh exporter; 503 on every request for 12s: retried with
	// growing delays, never a tight loop.
	r.start()
	r.e.WaitReady(t, 30*time.Second)
	r.waitConverged("initial sync (phase B)", 10*time.Second)
	const window = 12 * time.Second
	seq = r.mark()
	w0 := time.Now()
	r.px.Inject(faultproxy.PathIs(r.path), -1, http.StatusServiceUnavailable, nil)
	r.px.DropConnections()
	r.create()
	time.Sleep(window)
	r.px.ClearInjections()
	w1 := time.Now()
	var in []faultproxy.Entry
	for _, e := range r.entriesSince(seq) {
		if e.Start.Before(w1) && e.Injected {
			in = append(in, e)
		}
	}
	t.Logf("%d requests answered 503 during %v", len(in), window)
	if len(in) < 3 {
		t.Errorf("%d requests during %v of 503s: the exporter should retry (0.8s, 1.6s, 3.2s, ... allow 3-4)", len(in), window)
	}
	if len(in) > 6 {
		t.Errorf("%d requests during %v of 503s: too many (tight loop); backoff 0.8s doubling allows at most ~4", len(in), window)
	}
	r.waitConverged("after the 503s stopped", 30*time.Second)
	checkBackoffSchedule(t, "503s", r.entries(), w0)

	ss = r.tel()
	r.logTel(ss)
	n503 := r.px.Count(func(e faultproxy.Entry) bool { return e.Path == r.path && e.Injected && e.Status == 503 })
	if got := r.counter(ss, mAPIErrors, "code", "503"); got != float64(n503) {
		t.Errorf("api_errors_total{code=503} = %v, proxy answered %d", got, n503)
	}
}

// 6. 403 because RBAC is missing: one clear WARN line per backoff cycle (not per
// retry), a counter, and metrics as soon as the binding appears.
func TestResilienceForbidden(t *testing.T) {
	t.Parallel()
	r := newRig(t, "forbidden", rigOpts{noRBAC: true})
	r.populate(4)
	r.start()
	t0 := time.Now()
	time.Sleep(20 * time.Second)

	st, body, _, err := exporter.Get(r.e.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("/readyz while forbidden: HTTP %d %q", st, strings.TrimSpace(string(body)))
	if st == http.StatusOK {
		t.Errorf("/readyz is 200 although the resource never completed a LIST (403)")
	}
	n403a := r.px.Count(func(e faultproxy.Entry) bool { return e.Path == r.path && e.Status == 403 })
	ss := r.tel()
	n403b := r.px.Count(func(e faultproxy.Entry) bool { return e.Path == r.path && e.Status == 403 })
	got := r.counter(ss, mAPIErrors, "code", "403")
	if got < float64(n403a) || got > float64(n403b) {
		t.Errorf("api_errors_total{code=403} = %v, the proxy answered %d..%d 403s", got, n403a, n403b)
	}
	if n403a < 3 {
		t.Errorf("only %d 403 responses in 20s: the exporter should keep retrying (0.8s doubling)", n403a)
	}
	if n403b > 8 {
		t.Errorf("%d 403 responses in 20s: too many for 0.8s doubling backoff", n403b)
	}
	warns := logLines(r.e, "warn", r.resource)
	infos := logLines(r.e, "info", r.resource)
	elapsed := time.Since(t0)
	t.Logf("%d 403s, %d WARN lines, %d INFO lines for %s in %v:\n%s", n403b, len(warns), len(infos), r.resource,
		elapsed.Round(time.Second), strings.Join(append(warns, infos...), "\n"))
	if len(warns) == 0 {
		t.Errorf("no WARN line about %s being forbidden", r.resource)
	} else if !strings.Contains(strings.Join(warns, "\n"), "403") {
		t.Errorf("the WARN line does not say 403: %q", warns[0])
	}
	if maxWarn := 1 + int(elapsed/(60*time.Second)); len(warns) > maxWarn {
		t.Errorf("%d WARN lines for %d identical 403 failures in %v; want one per backoff cycle (<= %d)", len(warns), n403b, elapsed.Round(time.Second), maxWarn)
	}

	tBind := time.Now()
	r.grant()
	r.waitConverged("after the RBAC binding appeared", 50*time.Second)
	t.Logf("metrics flowing %v after the binding was created", time.Since(tBind).Round(time.Millisecond))
	if d := time.Since(tBind); d > 46*time.Second {
		t.Errorf("metrics appeared %v after the binding; the backoff cap (30s x 1.5 jitter) allows 45s", d.Round(time.Second))
	}
	r.e.WaitReady(t, 5*time.Second)
}

// 7. A CRD that is not installed at start: the exporter runs and reports the
// resource as waiting; its objects are served within seconds of the CRD
// appearing; deleting the CRD removes its series; re-creating brings them back.
func TestResilienceCRDLifecycle(t *testing.T) {
	t.Parallel()
	r := newRig(t, "crd-lifecycle", rigOpts{absentCRD: true})
	r.start()
	r.e.WaitReady(t, 20*time.Second)
	st, body, _, _ := exporter.Get(r.e.URL + "/readyz")
	t.Logf("/readyz with the CRD absent: HTTP %d %q", st, strings.TrimSpace(string(body)))
	if !strings.Contains(string(body), r.resource) {
		t.Errorf("/readyz body does not mention %s", r.resource)
	}
	served := func(want float64) {
		t.Helper()
		cluster.Eventually(t, 10*time.Second, 100*time.Millisecond, fmt.Sprintf("resource_served = %v", want), func() (bool, error) {
			ss, err := r.e.TelemetryErr()
			if err != nil {
				return false, err
			}
			return r.counter(ss, mServed) == want && ss.Has(mServed, "resource", r.resource), nil
		})
	}
	served(0)
	// While absent, discovery is polled about every 3s: neither hammered nor
	// backed off (it must notice the CRD within seconds even after a long absence).
	seq := r.mark()
	const absent = 40 * time.Second
	time.Sleep(absent)
	var polls []faultproxy.Entry
	for _, e := range r.px.Entries() {
		if e.Seq >= seq {
			polls = append(polls, e)
		}
	}
	var times []string
	maxGap := time.Duration(0)
	for i, e := range polls {
		times = append(times, fmt.Sprintf("%s %s", e.Start.Format("05.000"), e.Path))
		if i > 0 && e.Start.Sub(polls[i-1].Start) > maxGap {
			maxGap = e.Start.Sub(polls[i-1].Start)
		}
	}
	t.Logf("%d requests in %v while the CRD is absent (largest gap %v): %s", len(polls), absent, maxGap.Round(time.Millisecond), strings.Join(times, ", "))
	if len(polls) > 20 {
		t.Errorf("%d requests in %v while the CRD is absent; discovery should be polled about every 3s", len(polls), absent)
	}
	if len(polls) < 6 || maxGap > 6*time.Second {
		t.Errorf("discovery polled %d times in %v (largest gap %v) while the CRD is absent; want about every 3s", len(polls), absent, maxGap.Round(time.Millisecond))
	}
	if got, err := scrapeSeries(r.e); err != nil || len(got) != 0 {
		t.Errorf("series while the CRD is absent: %v %v", got, err)
	}

	// The CRD appears.
	tc := time.Now()
	r.c.EnsureCRD(t, r.s)
	r.populate(5)
	r.waitConverged("CRD created", 10*time.Second)
	t.Logf("served %v after the CRD was created", time.Since(tc).Round(time.Millisecond))
	served(1)

	// The CRD is deleted: its series go.
	td := time.Now()
	r.c.DeleteCRD(t, r.s)
	r.waitConverged("CRD deleted", 12*time.Second)
	t.Logf("series gone %v after the CRD deletion was issued", time.Since(td).Round(time.Millisecond))
	served(0)
	// The CRD is absent again: the same rule as at start (absent counts as ready
	// with no objects); a deleted CRD must not take the exporter out of service.
	var rz string
	if _, err := waitFor(10*time.Second, func() (bool, error) {
		st, body, _, err := exporter.Get(r.e.URL + "/readyz")
		rz = fmt.Sprintf("HTTP %d %q", st, strings.TrimSpace(string(body)))
		return err == nil && st == http.StatusOK, err
	}); err != nil {
		t.Errorf("/readyz after the CRD deletion: %s; want 200 like with the CRD absent at start", rz)
	} else {
		t.Logf("/readyz after the CRD deletion: %s", rz)
	}

	// Re-created with other objects: only those come back.
	tc = time.Now()
	r.c.EnsureCRD(t, r.s)
	r.populate(3)
	r.waitConverged("CRD re-created", 12*time.Second)
	t.Logf("served again %v after the CRD was re-created", time.Since(tc).Round(time.Millisecond))
	served(1)
	r.create()
	r.waitConverged("a create after the re-creation", 5*time.Second)
	ss := r.tel()
	r.logTel(ss)
	if got := r.counter(ss, mObjects); got != 4 {
		t.Errorf("objects gauge = %v, want 4", got)
	}
}

// 8. Token rotation: the token file is replaced by a new short-lived token and
// the old one stops being valid; the exporter keeps listing and watching.
func TestResilienceTokenRotation(t *testing.T) {
	t.Parallel()
	r := newRig(t, "token-rotation", rigOpts{boundToken: true})
	tok1 := r.id.Token
	r.populate(4)
	r.start("--watch-timeout", "5")
	r.e.WaitReady(t, 30*time.Second)
	r.waitConverged("initial sync", 10*time.Second)
	fp1 := faultproxy.Fingerprint(tok1)
	if n := r.px.Count(func(e faultproxy.Entry) bool { return e.AuthFP == fp1 }); n == 0 {
		t.Fatalf("no request carried the token from the token file")
	}
	s1 := r.secret

	// Phase 1: rotation with both tokens valid: the file is re-read at least every
	// 60s, so requests switch to the new token without any 401.
	tRot := time.Now()
	s2 := r.id.RotateBoundToken(t)
	tok2 := r.id.Token
	fp2 := faultproxy.Fingerprint(tok2)
	seq := r.mark()
	e2 := r.waitEntry("a request with the rotated token", seq, 80*time.Second, func(e faultproxy.Entry) bool { return e.AuthFP == fp2 })
	t.Logf("first request with the rotated token %v after the rotation (no 401 involved)", e2.Start.Sub(tRot).Round(time.Millisecond))
	if d := e2.Start.Sub(tRot); d > 60*time.Second+13*time.Second { // 60s re-read + a watch of up to 10s
		t.Errorf("the rotated token was first used %v after the rotation; the file must be re-read at least every 60s", d.Round(time.Second))
	}
	if n := r.px.Count(func(e faultproxy.Entry) bool { return e.Status == 401 }); n != 0 {
		t.Errorf("%d requests got 401 although both tokens were valid", n)
	}

	// Phase 2: rotate again and invalidate every older token (delete the Secrets
	// they are bound to), then break the connections: a request with an old token
	// gets 401, the exporter re-reads the file at once and carries on.
	r.id.RotateBoundToken(t)
	tok3 := r.id.Token
	fp3 := faultproxy.Fingerprint(tok3)
	r.c.DeleteSecret(t, r.id.Namespace, s1)
	r.c.DeleteSecret(t, r.id.Namespace, s2)
	d := r.c.WaitTokenInvalid(t, tok2, 30*time.Second)
	t.Logf("old tokens rejected %v after their Secrets were deleted", d.Round(time.Millisecond))
	seq = r.mark()
	r.px.DropConnections()
	r.deleteSome(1)
	r.create()
	r.waitConverged("after rotation with the old token invalid", 20*time.Second)
	es := r.px.Filter(func(e faultproxy.Entry) bool { return e.Seq >= seq })
	var n401 int
	var first401 *faultproxy.Entry
	for i, e := range es {
		if e.Status == 401 {
			n401++
			if first401 == nil {
				first401 = &es[i]
			}
		}
		if e.Status == 200 && e.AuthFP != fp3 {
			t.Errorf("a request with an invalidated token succeeded: %s", e)
		}
	}
	if first401 != nil {
		var ok *faultproxy.Entry
		for i, e := range es {
			if e.Seq > first401.Seq && e.AuthFP == fp3 && e.Status == 200 {
				ok = &es[i]
				break
			}
		}
		if ok == nil {
			t.Errorf("no successful request with the new token after the first 401")
		} else {
			t.Logf("first 401 at %s; first success with the new token %v later", first401.Start.Format("15:04:05.000"), ok.Start.Sub(first401.End).Round(time.Millisecond))
			if g := ok.Start.Sub(first401.End); g > 3*time.Second {
				t.Errorf("the new token was used %v after a 401; the file must be re-read immediately after a 401", g.Round(time.Millisecond))
			}
		}
	}
	if n401 > 2 {
		t.Errorf("%d requests got 401 after the rotation; the token file must be re-read immediately after a 401", n401)
	}
	ss := r.tel()
	r.logTel(ss)
	all401 := r.px.Count(func(e faultproxy.Entry) bool { return e.Path == r.path && e.Status == 401 })
	if got := r.counter(ss, mAPIErrors, "code", "401"); got != float64(all401) {
		t.Errorf("api_errors_total{code=401} = %v, the proxy answered %d", got, all401)
	}
	// The exporter keeps watching with the new token.
	r.create()
	r.waitConverged("a later change", 5*time.Second)
	if n := r.px.Count(func(e faultproxy.Entry) bool { return e.Seq >= seq && e.AuthFP == fp3 && e.Watch && e.Status == 200 }); n == 0 {
		t.Errorf("no watch with the new token")
	}
}

// 9. Bookmarks advance the resourceVersion: after a quiet period (bookmarks come
// about every minute) a re-watch resumes from a newer resourceVersion and
// replays nothing.
func TestResilienceBookmarks(t *testing.T) {
	t.Parallel()
	r := newRig(t, "bookmarks", rigOpts{})
	r.populate(5)
	r.start()
	r.e.WaitReady(t, 30*time.Second)
	r.waitConverged("initial sync", 10*time.Second)

	// Start the observed watch: break the current one and note where it resumes.
	seq := r.mark()
	r.px.DropConnections()
	w1 := r.waitEntry("re-watch after drop", seq, 10*time.Second, func(e faultproxy.Entry) bool { return e.Watch && e.Status == 200 })
	rv1 := rvOf(w1)
	base := r.tel()
	t.Logf("observed watch resumes from resourceVersion %d", rv1)

	// Quiet period for this resource while etcd's revision moves on (writes to other
	// resources); a consistent LIST makes the watch cache catch up (progress notify).
	ns := "csm-res"
	for i := 0; i < 5; i++ {
		_, err := r.c.Client.CoreV1().ConfigMaps(ns).Create(context.Background(), configMap(fmt.Sprintf("bm-%d-%d", time.Now().UnixNano(), i)), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	r.waitConverged("quiet period", 5*time.Second)
	d := cluster.Eventually(t, 100*time.Second, time.Second, "a BOOKMARK event", func() (bool, error) {
		ss, err := r.e.TelemetryErr()
		if err != nil {
			return false, err
		}
		return r.counter(ss, mWatchEvents, "type", "BOOKMARK") > r.counter(base, mWatchEvents, "type", "BOOKMARK"), nil
	})
	t.Logf("bookmark arrived %v into the quiet period", d.Round(time.Second))
	mid := r.tel()

	seq = r.mark()
	r.px.DropConnections()
	w2 := r.waitEntry("re-watch after the quiet period", seq, 10*time.Second, func(e faultproxy.Entry) bool { return e.Watch && e.Status == 200 })
	rv2 := rvOf(w2)
	time.Sleep(3 * time.Second) // anything replayed would arrive now
	r.waitConverged("after the re-watch", 5*time.Second)
	after := r.tel()
	r.logTel(after)
	t.Logf("re-watch after the quiet period resumes from resourceVersion %d (was %d)", rv2, rv1)
	if rv2 <= rv1 {
		t.Errorf("re-watch resumes from resourceVersion %d, not newer than %d: the bookmark did not advance it", rv2, rv1)
	}
	for _, typ := range []string{"ADDED", "MODIFIED", "DELETED"} {
		if a, b := r.counter(after, mWatchEvents, "type", typ), r.counter(mid, mWatchEvents, "type", typ); a != b {
			t.Errorf("%s events went from %v to %v across the re-watch: it replayed events", typ, b, a)
		}
	}
	if a, b := r.counter(after, mList), r.counter(base, mList); a != b {
		t.Errorf("list_total went from %v to %v: the re-watch relisted", b, a)
	}
	if n := r.px.Count(func(e faultproxy.Entry) bool {
		return e.Seq >= seq && (e.IsList() && e.Path == r.path || e.Query.Get("sendInitialEvents") == "true")
	}); n != 0 {
		t.Errorf("%d LIST/WatchList requests after the re-watch; want none", n)
	}
}

// 10. Watch data arriving one byte per TCP segment parses correctly, and at full
// speed once the data flows normally again.
func TestResilienceSplitBytes(t *testing.T) {
	t.Parallel()
	r := newRig(t, "split-bytes", rigOpts{})
	big := func(i int) map[string]any {
		return map[string]any{
			"size":    i,
			"payload": strings.Repeat(fmt.Sprintf("é✓🚀 \"q\" \\ \t %d ", i), 60),
			"nested":  map[string]any{"list": []any{1, 2.5, "x", nil, true, map[string]any{"k": "}{][\":,"}}},
		}
	}
	var objs []*unstructured.Unstructured
	for i := 0; i < 20; i++ {
		objs = append(objs, r.obj(resNamespaces[i%3], r.nextName(), map[string]string{"app": "memcached", "idx": strconv.Itoa(i)}, big(i)))
	}
	r.c.CreateObjects(t, r.s, objs, 8)

	r.px.SplitBytes(true)
	r.start()
	r.e.WaitReady(t, 60*time.Second)
	r.waitConverged("initial sync one byte at a time", 30*time.Second)
	for i := 0; i < 15; i++ {
		r.c.CreateObject(t, r.s, r.obj(resNamespaces[i%3], r.nextName(), map[string]string{"phase": "split"}, big(100+i)))
	}
	r.updateSome(8)
	r.deleteSome(6)
	r.waitConverged("watch events one byte at a time", 30*time.Second)
	split := r.px.SplitBytesWritten()
	t.Logf("%d bytes were delivered one byte per write+flush", split)
	if split < 20000 {
		t.Errorf("only %d bytes split; the test did not exercise one-byte segments", split)
	}

	r.px.SplitBytes(false)
	for i := 0; i < 15; i++ {
		r.c.CreateObject(t, r.s, r.obj(resNamespaces[i%3], r.nextName(), nil, big(200+i)))
	}
	d := r.waitConverged("normal flow again", 2*time.Second)
	t.Logf("converged %v after normal flow resumed", d.Round(time.Millisecond))
	ss := r.tel()
	r.logTel(ss)
	for _, typ := range []string{"MALFORMED", "ERROR"} {
		if got := r.exported(ss, mWatchEvents, "type", typ); got != 0 {
			t.Errorf("watch_events_total{type=%s} = %v, want 0", typ, got)
		}
	}
	if got := r.counter(ss, mList, "result", "error") + r.counter(ss, mWatch, "result", "error"); got != 0 {
		t.Errorf("list/watch errors = %v, want 0", got)
	}
}

// 11. WatchList streaming (sendInitialEvents=true, ending with the
// k8s.io/initial-events-end bookmark) when the server supports it, paged LIST
// when it does not or when disabled.
func TestResilienceWatchList(t *testing.T) {
	t.Parallel()
	r := newRig(t, "watch-list", rigOpts{})
	r.populate(50)
	const n = 50
	run := func(name string, args []string, refuse bool, wantWatchList bool) {
		t.Run(name, func(t *testing.T) {
			sr := *r
			sr.t = t
			sr.px = faultproxy.Start(t, r.c)
			if err := sr.px.WriteKubeconfig(r.c, sr.kc, cluster.KubeconfigAuth{TokenFile: r.id.TokenFile}); err != nil {
				t.Fatal(err)
			}
			if refuse {
				// What a server without WatchList answers (kube-apiserver with the
				// WatchList feature off: resourceVersionMatch is invalid on a watch).
				sr.px.InjectBody(faultproxy.And(faultproxy.WatchOf(r.path), faultproxy.HasParam("sendInitialEvents")), -1,
					http.StatusUnprocessableEntity, nil, faultproxy.StatusBody(http.StatusUnprocessableEntity,
						`ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless the WatchList feature gate is enabled`))
			}
			sr.start(args...)
			sr.e.WaitReady(t, 30*time.Second)
			sr.waitConverged("initial sync", 15*time.Second)
			ss := sr.tel()
			sr.logTel(ss)
			var lists, streams int
			for _, e := range sr.entries() {
				if e.IsList() {
					lists++
				}
				if e.Watch && e.Query.Get("sendInitialEvents") == "true" && e.Status == 200 {
					streams++
					if e.Query.Get("resourceVersionMatch") != "NotOlderThan" || e.Query.Get("allowWatchBookmarks") != "true" {
						t.Errorf("WatchList request without resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true: %s", e)
					}
				}
			}
			t.Logf("%d LIST requests, %d WatchList streams; proxy log:\n%s", lists, streams, sr.px.FormatLog(12))
			if wantWatchList {
				if lists != 0 || streams != 1 {
					t.Errorf("want the initial sync over one WatchList stream and no LIST; got %d LISTs, %d streams", lists, streams)
				}
				if got := sr.counter(ss, mWatchEvents, "type", "BOOKMARK"); got < 1 {
					t.Errorf("no BOOKMARK event counted (the initial-events-end bookmark)")
				}
				if got := sr.counter(ss, mWatchEvents, "type", "ADDED"); got != n {
					t.Errorf("ADDED events = %v, want %d (the initial events)", got, n)
				}
			} else {
				if streams != 0 {
					t.Errorf("%d successful WatchList streams; want paged LIST", streams)
				}
				if lists < n/10 {
					t.Errorf("%d LIST requests; want >= %d pages of 10", lists, n/10)
				}
				for _, e := range sr.entries() {
					if e.IsList() && e.Query.Get("limit") != "10" {
						t.Errorf("LIST without limit=10: %s", e)
					}
				}
			}
			if got := sr.counter(ss, mList, "result", "success"); got != 1 {
				t.Errorf("list_total{result=success} = %v, want 1", got)
			}
			// And it keeps watching.
			sr.create()
			sr.waitConverged("a change after the initial sync", 5*time.Second)
			sr.deleteSome(1)
			sr.waitConverged("a deletion after the initial sync", 5*time.Second)
		})
	}
	run("on", []string{"--watch-list", "on"}, false, true)
	run("off", []string{"--watch-list", "off", "--list-page-size", "10"}, false, false)
	run("auto", []string{"--watch-list", "auto", "--list-page-size", "10"}, false, true)
	run("auto-server-without-watchlist", []string{"--watch-list", "auto", "--list-page-size", "10"}, true, false)
}
