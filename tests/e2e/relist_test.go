package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
	"crd-state-metrics/tests/e2e/faultproxy"
)

// relistObjects is how many objects TestResilienceRelistUnderScrape keeps
// (20 pages of relistPage): enough that a relist takes many requests.
const (
	relistObjects = 2000
	relistPage    = 100
)

// relistScraper scrapes /metrics in a loop and checks every body against the
// objects that must be there: a required object missing from any scrape, or
// a duplicated sample line, is a violation. Failed scrapes go to the rig's
// ledger. It never calls t.Fatal (it runs in its own goroutine).
type relistScraper struct {
	r        *rig
	mu       sync.Mutex
	required map[string]string // info sample line -> "ns/name"
	viol     []string
	nviol    int
	scrapes  atomic.Int64
}

func (s *relistScraper) require(key string) {
	ns, name, _ := strings.Cut(key, "/")
	line := fmt.Sprintf("memcached_info{namespace=%q,memcached=%q} 1", ns, name)
	s.mu.Lock()
	s.required[line] = key
	s.mu.Unlock()
}

// release stops requiring key; call it before deleting the object.
func (s *relistScraper) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for line, k := range s.required {
		if k == key {
			delete(s.required, line)
		}
	}
}

// check scrapes once and records violations; it returns how many objects the
// scrape lacked (-1 if the scrape failed).
func (s *relistScraper) check(when string) int {
	// The set is copied before the scrape: an object released while the
	// scrape is in flight may legitimately be gone from it.
	s.mu.Lock()
	want := make(map[string]string, len(s.required))
	for l, k := range s.required {
		want[l] = k
	}
	s.mu.Unlock()
	got, err := s.r.scrape()
	s.scrapes.Add(1)
	if err != nil {
		if strings.Contains(err.Error(), "duplicate") {
			s.violation(fmt.Sprintf("%s: %v", when, err))
		}
		return -1
	}
	var missing []string
	for l, k := range want {
		if !got[l] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		show := missing
		if len(show) > 5 {
			show = show[:5]
		}
		s.violation(fmt.Sprintf("%s: scrape lacks %d of %d existing objects (%d series), e.g. %v",
			when, len(missing), len(want), len(got), show))
	}
	return len(missing)
}

func (s *relistScraper) violation(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nviol++
	if len(s.viol) < 20 {
		s.viol = append(s.viol, time.Now().Format("15:04:05.000")+" "+v)
	}
}

// run scrapes until ctx ends.
func (s *relistScraper) run(ctx context.Context, phase *atomic.Value, wg *sync.WaitGroup) {
	defer wg.Done()
	for ctx.Err() == nil {
		s.check(phase.Load().(string))
		time.Sleep(20 * time.Millisecond)
	}
}

// TestResilienceRelistUnderScrape scrapes /metrics continuously while the
// informer relists a few thousand objects: after a 410 on the watch that a
// real compaction caused (and the LIST at the last resourceVersion expired
// with it), after injected 410s, and after a continue token expired in the
// middle of a paged relist. The store must be replaced object by object
// (upsert, then delete what was not listed), so every scrape holds every
// object that exists, none twice. Each relist is held at its second page
// while the test scrapes, so a store emptied at the 410 cannot slip between
// two scrapes.
func TestResilienceRelistUnderScrape(t *testing.T) {
	r := newRig(t, "relist-scrape", rigOpts{})
	t0 := time.Now()
	r.populate(relistObjects)
	t.Logf("created %d objects in %v", relistObjects, time.Since(t0).Round(time.Millisecond))
	r.start("--watch-list", "off", "--list-page-size", fmt.Sprint(relistPage))
	r.e.WaitReady(t, 90*time.Second)
	r.waitConverged("initial sync", 60*time.Second)

	s := &relistScraper{r: r, required: map[string]string{}}
	for _, o := range r.list() {
		s.require(o.GetNamespace() + "/" + o.GetName())
	}
	var phase atomic.Value
	phase.Store("steady")
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go s.run(ctx, &phase, &wg)
	defer func() { stop(); wg.Wait() }()

	continuePages := faultproxy.And(faultproxy.ListOf(r.path), faultproxy.HasParam("continue"))
	// heldScrapes scrapes a few times while a relist waits for its second
	// page: the store holds page 1 and whatever it held before.
	heldScrapes := func(what string) {
		t.Helper()
		if !r.px.WaitHeld(1, 60*time.Second) {
			t.Fatalf("%s: the relist never asked for its second page; proxy log:\n%s", what, r.px.FormatLog(20))
		}
		for _, e := range r.entries() {
			if e.End.IsZero() && e.IsList() && e.Query.Get("continue") != "" {
				t.Logf("%s: held %s", what, e)
			}
		}
		for i := 0; i < 5; i++ {
			if n := s.check(what + " (second page held)"); n > 0 {
				t.Errorf("%s: a scrape while the relist waited for page 2 lacked %d objects", what, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// relistDone waits until the relist released at seq has ended: the
	// informer watches again (a waitConverged alone may return mid-relist,
	// since a correct relist never changes what /metrics shows).
	relistDone := func(what string, seq int) {
		t.Helper()
		r.waitEntry(what+": a watch after the relist", seq, 60*time.Second, func(e faultproxy.Entry) bool { return e.Watch && !e.Injected })
	}
	relists := func() (float64, float64, float64) {
		ss := r.tel()
		return r.exported(ss, mRelists, "reason", "watch_expired"), r.exported(ss, mRelists, "reason", "list_expired"),
			r.exported(ss, mRelists, "reason", "continue_expired")
	}
	w0, l0, c0 := relists()

	// 1. A real 410: cut off, changes, etcd compacted, apiserver restarted.
	phase.Store("410 after compaction")
	r.px.Cut()
	for _, k := range r.pickExisting(20) {
		s.release(k)
		r.deleteKey(k)
	}
	for i := 0; i < 20; i++ {
		r.create()
	}
	rev := r.c.CompactAndRestart(t)
	t.Logf("etcd compacted at %d, kube-apiserver restarted", rev)
	r.px.Hold(continuePages)
	r.px.Restore()
	heldScrapes("410 after compaction")
	seq := r.mark()
	r.px.Release()
	r.waitConverged("after the 410 relist", 90*time.Second)
	relistDone("410 after compaction", seq)

	// 2. Injected 410s on the watch (a relist at the last resourceVersion,
	// which has not expired), three times.
	for i := 1; i <= 3; i++ {
		what := fmt.Sprintf("injected 410 #%d", i)
		phase.Store(what)
		r.px.Hold(continuePages)
		r.px.InjectBody(faultproxy.WatchOf(r.path), 1, http.StatusGone, nil,
			faultproxy.StatusBody(http.StatusGone, "too old resource version"))
		r.px.DropConnections()
		heldScrapes(what)
		seq := r.mark()
		r.px.Release()
		r.waitConverged("after "+what, 60*time.Second)
		relistDone(what, seq)
	}

	// 3. The continue token of a relist expires while its second page is held.
	phase.Store("continue token expired")
	probe, err := r.ri.List(context.Background(), metav1.ListOptions{Limit: 5})
	if err != nil || probe.GetContinue() == "" {
		t.Fatalf("probe paged LIST: %v (continue %q)", err, probe.GetContinue())
	}
	seq = r.mark()
	r.px.Hold(continuePages)
	r.px.InjectBody(faultproxy.WatchOf(r.path), 1, http.StatusGone, nil,
		faultproxy.StatusBody(http.StatusGone, "too old resource version"))
	r.px.DropConnections()
	heldScrapes("continue token expired")
	for _, k := range r.pickExisting(10) {
		s.release(k)
		r.deleteKey(k)
	}
	if rev, err = r.c.CompactEtcd(context.Background()); err != nil {
		t.Fatal(err)
	}
	cluster.Eventually(t, 45*time.Second, 200*time.Millisecond, "apiserver rejects old continue tokens", func() (bool, error) {
		_, err := r.ri.List(context.Background(), metav1.ListOptions{Limit: 5, Continue: probe.GetContinue()})
		return apierrors.IsResourceExpired(err) || apierrors.IsGone(err), nil
	})
	t.Logf("etcd compacted at %d while page 2 was held", rev)
	held := r.entries()
	r.px.Release()
	// The restarted list (from page 1) is held at page 2 too, if the hold
	// is back in place before it gets there; the background scraper covers
	// it either way. The released request must be done first, or WaitHeld
	// would count it.
	r.px.Hold(continuePages)
	for _, e := range held {
		if e.End.IsZero() && e.IsList() {
			r.waitEntry("the released page-2 request ends", e.Seq, 30*time.Second, func(x faultproxy.Entry) bool { return x.Seq == e.Seq && !x.End.IsZero() })
		}
	}
	if r.px.WaitHeld(1, 20*time.Second) {
		heldScrapes("list restarted after the expired continue token")
	} else {
		t.Logf("the restarted list was not held at page 2 (it got there before the hold); background scrapes cover it")
	}
	r.px.Release()
	r.waitConverged("after the expired continue token", 60*time.Second)
	relistDone("continue token expired", seq)
	expired410 := false
	for _, e := range r.entriesSince(seq) {
		if e.IsList() && e.Query.Get("continue") != "" && e.Status == http.StatusGone {
			expired410 = true
		}
	}
	if !expired410 {
		t.Errorf("the held continue request did not get 410; proxy log:\n%s", r.px.FormatLog(30))
	}

	phase.Store("steady after relists")
	time.Sleep(time.Second)
	stop()
	wg.Wait()
	w1, l1, c1 := relists()
	t.Logf("relists: watch_expired +%v, list_expired +%v, continue_expired +%v; %d checked scrapes, %d with violations",
		w1-w0, l1-l0, c1-c0, s.scrapes.Load(), s.nviol)
	if w1-w0 < 5 {
		t.Errorf("relists_total{reason=watch_expired} grew by %v, want >= 5 (one per forced 410)", w1-w0)
	}
	if c1-c0 < 1 {
		t.Errorf("relists_total{reason=continue_expired} grew by %v, want >= 1", c1-c0)
	}
	if s.nviol > 0 {
		t.Errorf("%d scrapes during relists were wrong:\n  %s", s.nviol, strings.Join(s.viol, "\n  "))
	}
	if got := r.counter(r.tel(), mObjects); got != float64(len(r.list())) {
		t.Errorf("objects gauge = %v, want %d", got, len(r.list()))
	}
}

// TestResilienceMalformedEvent: malformed watch events injected through the
// fault proxy (a line that is not JSON, an object without metadata.uid) are
// counted as MALFORMED and logged, and the stream goes on: a bookmark after
// them is applied, and later changes still arrive.
func TestResilienceMalformedEvent(t *testing.T) {
	t.Parallel()
	r := newRig(t, "malformed", rigOpts{})
	r.populate(5)
	r.start("--watch-list", "off")
	r.e.WaitReady(t, 30*time.Second)
	r.waitConverged("initial sync", 15*time.Second)
	before := r.tel()
	if got := r.exported(before, mWatchEvents, "type", "MALFORMED"); got != 0 {
		t.Fatalf("watch_events_total{type=MALFORMED} = %v before any malformed event, want 0", got)
	}
	bookmarks0 := r.exported(before, mWatchEvents, "type", "BOOKMARK")

	l, err := r.ri.List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv := l.GetResourceVersion()
	apiVersion := r.s.Group + "/" + r.s.Version
	body := strings.Join([]string{
		`{"type":"ADDED","object":{"kind":"Memcached",` + "\x01" + `not json`,
		fmt.Sprintf(`{"type":"MODIFIED","object":{"apiVersion":%q,"kind":"Memcached","metadata":{"name":"no-uid","namespace":"res-a","resourceVersion":%q}}}`, apiVersion, rv),
		fmt.Sprintf(`{"type":"BOOKMARK","object":{"apiVersion":%q,"kind":"Memcached","metadata":{"resourceVersion":%q}}}`, apiVersion, rv),
		"",
	}, "\n")
	seq := r.mark()
	r.px.InjectBody(faultproxy.WatchOf(r.path), 1, http.StatusOK, nil, []byte(body))
	r.px.DropConnections()
	r.waitEntry("the injected watch response", seq, 20*time.Second, func(e faultproxy.Entry) bool { return e.Injected && e.End != (time.Time{}) })

	var after exporter.Samples
	cluster.Eventually(t, 15*time.Second, 100*time.Millisecond, "two MALFORMED events and the bookmark counted", func() (bool, error) {
		ss, err := r.e.TelemetryErr()
		if err != nil {
			return false, err
		}
		after = ss
		return r.counter(ss, mWatchEvents, "type", "MALFORMED") >= 2 && r.counter(ss, mWatchEvents, "type", "BOOKMARK") > bookmarks0, nil
	})
	r.logTel(after)
	if got := r.exported(after, mWatchEvents, "type", "MALFORMED"); got != 2 {
		t.Errorf("watch_events_total{type=MALFORMED} = %v after two malformed events, want 2", got)
	}
	if lines := logLines(r.e, "warn", "malformed"); len(lines) == 0 {
		if lines = logLines(r.e, "warn", "uid"); len(lines) == 0 {
			t.Errorf("no WARN log line about the malformed events")
		}
	}
	// The stream goes on: a change after the malformed events arrives.
	r.create()
	r.deleteSome(1)
	r.waitConverged("after the malformed events", 15*time.Second)
}
