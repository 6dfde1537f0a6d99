package e2e

import (
	"net/http"
	"testing"
	"time"

	"crd-state-metrics/tests/e2e/faultproxy"
)

// Issue 14: a Retry-After that is not delta-seconds ("inf", "1e12", negative,
// fractional, garbage) is ignored and the backoff applies: the next request
// comes within the backoff (0.8 s doubling, jittered), not in centuries and not
// at once in a loop; the exporter converges afterwards and nothing crashes
// (the sanitizer build runs it).
func TestRetryAfterHostile(t *testing.T) {
	t.Parallel()
	r := newRig(t, "retryafter", rigOpts{})
	r.populate(3)

	// A fresh exporter per value, so that each backoff starts at 0.8 s: the
	// dropped watch is failure 1, the 429 failure 2 (1.6 s x [1, 1.5)).
	for _, v := range []string{"inf", "1e12", "-5", "nan", "soon", "99999999999999999999999"} {
		r.start()
		r.e.WaitReady(t, 30*time.Second)
		r.waitConverged("initial sync (Retry-After: "+v+")", 10*time.Second)
		seq := r.mark()
		r.px.Inject(faultproxy.PathIs(r.path), 1, http.StatusTooManyRequests, map[string]string{"Retry-After": v})
		r.px.DropConnections()
		inj := r.waitEntry("a request answered 429 (Retry-After: "+v+")", seq, 15*time.Second, func(e faultproxy.Entry) bool { return e.Injected })
		if v == "99999999999999999999999" {
			// Delta-seconds, capped at 600 s: the next request must wait, so
			// only check that nothing came within the plain backoff.
			time.Sleep(4 * time.Second)
			for _, e := range r.entriesSince(inj.Seq + 1) {
				if e.Path == r.path {
					t.Errorf("Retry-After: %s: a request %v after the 429; want none for minutes", v, e.Start.Sub(inj.End).Round(time.Millisecond))
				}
			}
			if err := r.e.Stop(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			continue
		}
		next := r.waitEntry("a request after the 429 (Retry-After: "+v+")", inj.Seq+1, 15*time.Second, func(faultproxy.Entry) bool { return true })
		gap := next.Start.Sub(inj.End)
		t.Logf("Retry-After: %-10q next request %v later", v, gap.Round(time.Millisecond))
		// The backoff alone (second failure: 1.6 s x [1, 1.5)): never at once
		// (a tight loop), never much later (the header obeyed).
		if gap < 700*time.Millisecond || gap > 5*time.Second {
			t.Errorf("Retry-After: %s: next request %v later; want the backoff (1.6 s .. 2.4 s)", v, gap.Round(time.Millisecond))
		}
		r.create()
		r.waitConverged("after Retry-After: "+v, 30*time.Second)
		if err := r.e.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
}
