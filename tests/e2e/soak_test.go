package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestSoak is the randomized convergence test of issue 4: creates, updates,
// deletes and delete+re-creates (same name, new UID) of objects across several
// namespaces, interleaved with injected faults (kube-apiserver restarts, etcd
// compactions with and without a restart, dropped and cut connections, token
// rotations that invalidate the old token), for CSM_SOAK_DURATION (default 60s).
// After the faults stop and a settle period, /metrics must equal what a fresh
// LIST implies, series for series.
//
//	CSM_SOAK_DURATION=30m CSM_E2E_TIMEOUT=60m scripts/e2e -run TestSoak     # the long run
func TestSoak(t *testing.T) {
	dur := 60 * time.Second
	if v := os.Getenv("CSM_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CSM_SOAK_DURATION=%q: %v", v, err)
		}
		dur = d
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("soak: duration %v, seed %d", dur, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	r := newRig(t, "soak", rigOpts{boundToken: true})
	r.populate(40)
	r.start("--watch-timeout", "20", "--list-page-size", "25")
	r.e.WaitReady(t, 30*time.Second)
	r.waitConverged("initial sync", 15*time.Second)

	// --- operations (worker goroutines; they never call t.Fatal) ---
	var (
		mu    sync.Mutex
		names = map[string]bool{} // "ns/name" we believe exist
	)
	for _, o := range r.list() {
		names[o.GetNamespace()+"/"+o.GetName()] = true
	}
	pick := func(rng *rand.Rand) (string, string, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(names) == 0 {
			return "", "", false
		}
		keys := make([]string, 0, len(names))
		for k := range names {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		ns, name, _ := strings.Cut(keys[rng.IntN(len(keys))], "/")
		return ns, name, true
	}
	var opsOK, opsFailed [4]atomic.Int64 // create, update, delete, recreate
	opNames := [4]string{"create", "update", "delete", "recreate"}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(100+w)))
			for ctx.Err() == nil {
				op := 0
				switch p := rng.IntN(100); {
				case p < 35:
					op = 0
				case p < 70:
					op = 1
				case p < 92:
					op = 2
				default:
					op = 3
				}
				mu.Lock()
				if len(names) > 150 && op == 0 {
					op = 2
				}
				if len(names) < 10 && op == 2 {
					op = 0
				}
				mu.Unlock()
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := func() error {
					switch op {
					case 0:
						ns := resNamespaces[rng.IntN(len(resNamespaces))]
						name := r.nextName()
						_, err := r.ri.Namespace(ns).Create(rctx, r.obj(ns, name, map[string]string{"w": fmt.Sprint(w)}, map[string]any{"size": rng.IntN(10)}), metav1.CreateOptions{})
						if err == nil {
							mu.Lock()
							names[ns+"/"+name] = true
							mu.Unlock()
						}
						return err
					case 1:
						ns, name, ok := pick(rng)
						if !ok {
							return nil
						}
						patch := fmt.Sprintf(`{"metadata":{"labels":{"rev":"r%d"}},"spec":{"size":%d}}`, rng.IntN(1e6), rng.IntN(100))
						_, err := r.ri.Namespace(ns).Patch(rctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
						if apierrors.IsNotFound(err) {
							return nil
						}
						return err
					case 2:
						ns, name, ok := pick(rng)
						if !ok {
							return nil
						}
						err := r.ri.Namespace(ns).Delete(rctx, name, metav1.DeleteOptions{})
						if err == nil || apierrors.IsNotFound(err) {
							mu.Lock()
							delete(names, ns+"/"+name)
							mu.Unlock()
						}
						return err
					default:
						ns, name, ok := pick(rng)
						if !ok {
							return nil
						}
						if err := r.ri.Namespace(ns).Delete(rctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
							return err
						}
						mu.Lock()
						delete(names, ns+"/"+name)
						mu.Unlock()
						_, err := r.ri.Namespace(ns).Create(rctx, r.obj(ns, name, map[string]string{"recreated": "yes"}, nil), metav1.CreateOptions{})
						if err == nil {
							mu.Lock()
							names[ns+"/"+name] = true
							mu.Unlock()
						}
						return err
					}
				}()
				cancel()
				if err != nil {
					opsFailed[op].Add(1)
					time.Sleep(200 * time.Millisecond) // the apiserver may be restarting
				} else {
					opsOK[op].Add(1)
				}
				time.Sleep(time.Duration(10+rng.IntN(60)) * time.Millisecond)
			}
		}(w)
	}

	// --- faults (this goroutine: the cluster helpers may call t.Fatal) ---
	// Faults are dealt from a shuffled deck (drops twice as often), reshuffled
	// when empty, and the run goes on past dur until every kind was dealt at
	// least once: the soak always exercises every fault it plans.
	deck := []string{"restart", "compact", "compact+restart", "drop", "drop", "cut", "rotate"}
	var hand []string
	faults := map[string]int{}
	allDealt := func() bool {
		for _, k := range deck {
			if faults[k] == 0 {
				return false
			}
		}
		return true
	}
	t0 := time.Now()
	secret := r.secret
	for time.Since(t0) < dur || !allDealt() {
		time.Sleep(time.Duration(3000+rng.IntN(5000)) * time.Millisecond)
		if time.Since(t0) >= dur && allDealt() {
			break
		}
		if len(hand) == 0 {
			hand = append([]string(nil), deck...)
			rng.Shuffle(len(hand), func(i, j int) { hand[i], hand[j] = hand[j], hand[i] })
		}
		kind := hand[0]
		hand = hand[1:]
		switch kind {
		case "restart":
			r.c.RestartAPIServer(t)
		case "compact":
			if _, err := r.c.CompactEtcd(context.Background()); err != nil {
				t.Fatal(err)
			}
		case "compact+restart":
			r.c.CompactAndRestart(t)
		case "drop":
			r.px.DropConnections()
		case "cut":
			r.px.Cut()
			time.Sleep(time.Duration(1000+rng.IntN(4000)) * time.Millisecond)
			r.px.Restore()
		case "rotate":
			old := secret
			secret = r.id.RotateBoundToken(t)
			r.c.DeleteSecret(t, r.id.Namespace, old) // the old token stops being valid
		}
		faults[kind]++
		t.Logf("soak +%v: fault %s", time.Since(t0).Round(time.Second), kind)
	}
	stop()
	wg.Wait()
	elapsed := time.Since(t0)

	// --- settle and compare ---
	// Every failed scrape here (transport error, 5xx, duplicate or malformed
	// body) is recorded in the rig's ledger and fails the test beyond
	// rigScrapeFailBudget; failed LISTs of the truth (the apiserver may still
	// be coming back from the last fault) are counted and reported.
	tSettle := time.Now()
	var missing, extra []string
	var lastErr error
	converged := false
	truthFailed := 0
	for time.Since(tSettle) < 90*time.Second {
		want, err := r.truth()
		if err != nil {
			truthFailed++
		} else {
			var got map[string]bool
			got, err = r.scrape()
			if err != nil && strings.Contains(err.Error(), "duplicate") {
				t.Fatalf("soak: settling: %v", err)
			}
			if err == nil {
				missing, extra = seriesDiff(got, want)
				if len(missing)+len(extra) == 0 {
					converged = true
					break
				}
			}
		}
		lastErr = err
		time.Sleep(250 * time.Millisecond)
	}
	settle := time.Since(tSettle)
	if converged {
		// It must stay converged (no late stale event undoing it).
		time.Sleep(3 * time.Second)
		want, err := r.truth()
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.scrape()
		if err != nil {
			t.Fatal(err)
		}
		missing, extra = seriesDiff(got, want)
	}
	var ops, failed int64
	var opsDesc []string
	for i := range opNames {
		ops += opsOK[i].Load()
		failed += opsFailed[i].Load()
		opsDesc = append(opsDesc, fmt.Sprintf("%s %d", opNames[i], opsOK[i].Load()))
	}
	var fdesc []string
	nf := 0
	for k, v := range faults {
		fdesc = append(fdesc, fmt.Sprintf("%s %d", k, v))
		nf += v
	}
	sort.Strings(fdesc)
	final := len(r.list())
	ss := r.tel()
	r.logTel(ss)
	divergence := len(missing) + len(extra)
	t.Logf("SOAK: duration %v, operations %d (%s; %d more failed during faults), faults %d (%s), settle %v, final objects %d, divergence %d",
		elapsed.Round(time.Second), ops, strings.Join(opsDesc, ", "), failed, nf, strings.Join(fdesc, ", "),
		settle.Round(time.Millisecond), final, divergence)
	nScrapes, nScrapeFails := r.scrapes.counts()
	t.Logf("SOAK: /metrics scrapes (initial sync and settle) %d, failed %d (budget %d); failed truth LISTs while settling %d",
		nScrapes, nScrapeFails, rigScrapeFailBudget, truthFailed)
	// The operations it planned must have happened: each kind succeeded at
	// least soakMinOps times (one per 10 s of run, and never fewer than 5),
	// and fewer operations failed (during faults) than succeeded.
	soakMinOps := max(5, int64(elapsed/(10*time.Second)))
	for i := range opNames {
		if n := opsOK[i].Load(); n < soakMinOps {
			t.Errorf("soak: only %d %s operations succeeded in %v, want >= %d", n, opNames[i], elapsed.Round(time.Second), soakMinOps)
		}
	}
	if failed >= ops {
		t.Errorf("soak: %d operations failed and only %d succeeded; the run did not do the work it planned", failed, ops)
	}
	if divergence != 0 || !converged {
		t.Fatalf("soak: /metrics differs from a fresh LIST after settling %v (last error %v): %s", settle.Round(time.Second), lastErr, fmtDiff(missing, extra))
	}
}
