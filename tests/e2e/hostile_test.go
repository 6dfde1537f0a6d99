package e2e

// Hostile clients (issue 14, serving half) against the real control plane:
// a slow-loris flood, a client that pipelines requests and never reads, a
// flood of made-up tokens under --auth=kubernetes, and a storm of full
// scrapes while objects change. Every test is bounded in connections and
// time and talks to loopback addresses only (127.0.0.0/8: the attackers dial
// from 127.0.0.2.. so that the per-client cap sees them as other clients
// than the probes from 127.0.0.1). Go raises its own RLIMIT_NOFILE to the
// hard limit at start-up; the exporter does the same.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
)

var widget = cluster.CRDSpec{Group: "hostile.example.com", Version: "v1", Kind: "Widget", Namespaced: true}

const hostileNS = "csm-hostile"

// hostileEnv is the exporter's environment for these tests: under
// AddressSanitizer freed memory stays in a quarantine (256 MiB by default)
// before it is reused, which turns request churn into RSS growth that a
// release build does not have. A small quarantine keeps the RSS figures
// about the exporter; other builds ignore the variable.
func hostileEnv() []string {
	opts := os.Getenv("ASAN_OPTIONS")
	if opts != "" {
		opts += ":"
	}
	return []string{"ASAN_OPTIONS=" + opts + "quarantine_size_mb=16"}
}

// rssKB is the resident set size of pid, from /proc/<pid>/status.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				return strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// rssWatch samples the RSS of pid every 200 ms until stopped.
type rssWatch struct {
	mu   sync.Mutex
	max  int64
	last int64
	stop chan struct{}
	done chan struct{}
}

func watchRSS(pid int) *rssWatch {
	w := &rssWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb, err := rssKB(pid); err == nil {
				w.mu.Lock()
				w.last = kb
				if kb > w.max {
					w.max = kb
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// Stop ends sampling; returns the peak and the last sample, in KiB.
func (w *rssWatch) Stop() (maxKB, lastKB int64) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max, w.last
}

// latencies collects durations and prints a summary.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return "none"
	}
	s := append([]time.Duration(nil), l.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pct := func(p float64) time.Duration { return s[int(p*float64(len(s)-1))] }
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(s), pct(0.5).Round(time.Millisecond),
		pct(0.99).Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

func (l *latencies) max() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var m time.Duration
	for _, d := range l.d {
		if d > m {
			m = d
		}
	}
	return m
}

// dialFrom opens a TCP connection to addr from the loopback address src.
func dialFrom(src, addr string, rcvbuf int) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	if rcvbuf > 0 {
		d.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return d.Dial("tcp", addr)
}

// telemetryValue reads one series (no labels given: the sum of the family).
func telemetryValue(ss exporter.Samples, name string, labels ...string) float64 {
	return ss.Sum(name, labels...)
}

// timedGet does one GET with its own deadline and reports status and latency.
func timedGet(cl *http.Client, url, token string, limit time.Duration) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	t0 := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		return 0, time.Since(t0), err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(t0), err
}

// TestHostileSlowLoris: 3,000 connections that send one byte of a TLS
// handshake and wait, reconnecting a second after the server closes them (a
// new wave takes the freed slots), against a cap of 2,048. Meanwhile /healthz
// and an authorized scrape, each on a fresh TLS connection, must answer
// within 1 s, twice a second for 30 s. Before the flood, one address opens
// 1,200 connections against a per-client cap of 1,100.
func TestHostileSlowLoris(t *testing.T) {
	const (
		maxConns  = 2048
		perClient = 1100
		perSource = 1000
		duration  = 30 * time.Second
	)
	sources := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	r := newSecRig(t)
	r.env = hostileEnv()
	e := r.start(t, "", "", fmt.Sprintf("--max-connections=%d", maxConns),
		fmt.Sprintf("--max-connections-per-client=%d", perClient), "--log-level=info")
	addr := fmt.Sprintf("127.0.0.1:%d", e.Port)
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.ca},
		DisableKeepAlives: true, DisableCompression: true}}
	// Prometheus has its answers cached before any attack.
	if st, _, err := timedGet(probe, e.url+"/metrics", r.reader.Token, 10*time.Second); err != nil || st != 200 {
		t.Fatalf("warm-up scrape: HTTP %d, %v", st, err)
	}
	rssBefore, _ := rssKB(e.Pid())

	// Per-client cap: one address, 1,200 connections, one byte each.
	var one []net.Conn
	for i := 0; i < perClient+100; i++ {
		c, err := dialFrom("127.0.0.5", addr, 0)
		if err != nil {
			t.Fatalf("dial %d from 127.0.0.5: %v", i, err)
		}
		c.Write([]byte{0x16})
		one = append(one, c)
	}
	cluster.Eventually(t, 10*time.Second, 100*time.Millisecond, "100 refused per client", func() (bool, error) {
		v := telemetryValue(r.telemetry(t, e), "crd_state_metrics_http_connections_refused_total", "reason", "per_client")
		return v == 100, fmt.Errorf("refused per client: %v", v)
	})
	for _, c := range one {
		c.Close()
	}

	// The flood.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var dials, closedByServer, dialErrors atomic.Int64
	for _, src := range sources {
		for i := 0; i < perSource; i++ {
			wg.Add(1)
			go func(src string) {
				defer wg.Done()
				buf := make([]byte, 64)
				for ctx.Err() == nil {
					c, err := dialFrom(src, addr, 0)
					if err != nil {
						dialErrors.Add(1)
						time.Sleep(time.Second)
						continue
					}
					dials.Add(1)
					c.Write([]byte{0x16}) // the first byte of a TLS record, and no more
					for ctx.Err() == nil {
						c.SetReadDeadline(time.Now().Add(time.Second))
						_, err := c.Read(buf)
						if ne, ok := err.(net.Error); ok && ne.Timeout() {
							continue
						}
						if err != nil {
							closedByServer.Add(1)
						}
						break
					}
					c.Close()
					if ctx.Err() == nil {
						time.Sleep(time.Second) // then the next wave
					}
				}
			}(src)
		}
	}
	stopFlood := func() {
		cancel()
		wg.Wait()
	}
	defer func() {
		if ctx.Err() == nil {
			stopFlood()
		}
	}()
	cluster.Eventually(t, 60*time.Second, 200*time.Millisecond, "the flood fills the cap", func() (bool, error) {
		v := telemetryValue(r.telemetry(t, e), "crd_state_metrics_http_connections")
		return v >= maxConns-10, fmt.Errorf("%v connections open", v)
	})

	rss := watchRSS(e.Pid())
	var health, scrape latencies
	var failures []string
	minHeld, maxHeld := float64(1e9), float64(0)
	t0 := time.Now()
	for time.Since(t0) < duration {
		tick := time.Now()
		st, d, err := timedGet(probe, e.url+"/healthz", "", 5*time.Second)
		health.add(d)
		if err != nil || st != 200 || d >= time.Second {
			failures = append(failures, fmt.Sprintf("healthz at %v: HTTP %d in %v (%v)", time.Since(t0).Round(time.Millisecond), st, d, err))
		}
		st, d, err = timedGet(probe, e.url+"/metrics", r.reader.Token, 5*time.Second)
		scrape.add(d)
		if err != nil || st != 200 || d >= time.Second {
			failures = append(failures, fmt.Sprintf("scrape at %v: HTTP %d in %v (%v)", time.Since(t0).Round(time.Millisecond), st, d, err))
		}
		held := telemetryValue(r.telemetry(t, e), "crd_state_metrics_http_connections")
		if held < minHeld {
			minHeld = held
		}
		if held > maxHeld {
			maxHeld = held
		}
		if rest := 500*time.Millisecond - time.Since(tick); rest > 0 {
			time.Sleep(rest)
		}
	}
	rssDuring, _ := rss.Stop()
	ss := r.telemetry(t, e)
	stopFlood()
	time.Sleep(2 * time.Second)
	rssAfter, _ := rssKB(e.Pid())
	after := r.telemetry(t, e)

	t.Logf("slow-loris: %d sources x %d connections, cap %d; %d dials (%d dial errors), %d closed by the server",
		len(sources), perSource, maxConns, dials.Load(), dialErrors.Load(), closedByServer.Load())
	t.Logf("connections held during the 30 s: min %.0f max %.0f; after the flood %.0f",
		minHeld, maxHeld, telemetryValue(after, "crd_state_metrics_http_connections"))
	t.Logf("evicted: waiting %.0f idle %.0f; refused: per_client %.0f capacity %.0f; deadline closes: handshake %.0f headers %.0f response %.0f idle %.0f",
		telemetryValue(ss, "crd_state_metrics_http_connections_evicted_total", "queue", "waiting"),
		telemetryValue(ss, "crd_state_metrics_http_connections_evicted_total", "queue", "idle"),
		telemetryValue(ss, "crd_state_metrics_http_connections_refused_total", "reason", "per_client"),
		telemetryValue(ss, "crd_state_metrics_http_connections_refused_total", "reason", "capacity"),
		telemetryValue(ss, "crd_state_metrics_http_deadline_closes_total", "phase", "handshake"),
		telemetryValue(ss, "crd_state_metrics_http_deadline_closes_total", "phase", "headers"),
		telemetryValue(ss, "crd_state_metrics_http_deadline_closes_total", "phase", "response"),
		telemetryValue(ss, "crd_state_metrics_http_deadline_closes_total", "phase", "idle"))
	t.Logf("/healthz answers: %s", health.summary())
	t.Logf("authorized TLS scrapes: %s", scrape.summary())
	t.Logf("exporter RSS: before %d KiB, peak during %d KiB, after %d KiB", rssBefore, rssDuring, rssAfter)

	for _, f := range failures {
		t.Error(f)
	}
	if maxHeld > maxConns {
		t.Errorf("%v connections open, cap %d", maxHeld, maxConns)
	}
	if v := telemetryValue(ss, "crd_state_metrics_http_connections_evicted_total", "queue", "waiting"); v == 0 {
		t.Error("no connection was evicted: the flood did not reach the cap")
	}
	if e.Exited() {
		t.Fatalf("exporter exited: %v", e.ExitErr())
	}
}

// TestHostilePipelinedNeverReads: a client pipelines GET /healthz as fast as
// the connection takes them, reads 1 KiB a second (so no inactivity timeout
// fires) and otherwise never reads. The exporter's memory must stay bounded
// and the response deadline must close the connection.
func TestHostilePipelinedNeverReads(t *testing.T) {
	c := cluster.Get(t)
	c.EnsureNamespace(t, hostileNS)
	c.EnsureCRD(t, widget)
	e := exporter.Start(t, exporter.Options{Kubeconfig: c.Kubeconfig,
		Resources: []string{"hostile.example.com/v1/Widget"},
		Args:      []string{"--http-response-timeout=2s"}, Env: hostileEnv()})
	e.WaitReady(t, 30*time.Second)
	rssBefore, err := rssKB(e.Pid())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dialFrom("127.0.0.6", fmt.Sprintf("127.0.0.1:%d", e.Port), 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rss := watchRSS(e.Pid())
	batch := bytes.Repeat([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 64)
	var written int64
	closed := false
	t0 := time.Now()
	lastRead := time.Now()
	buf := make([]byte, 1024)
	for time.Since(t0) < 90*time.Second {
		conn.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := conn.Write(batch)
		written += int64(n)
		if err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				closed = true
				break
			}
		}
		if time.Since(lastRead) >= time.Second {
			conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := io.ReadFull(conn, buf); err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					closed = true
					break
				}
			}
			lastRead = time.Now()
		}
	}
	took := time.Since(t0)
	rssMax, _ := rss.Stop()
	ss := e.Telemetry(t)
	t.Logf("pipelining client: wrote %d bytes (%d requests) in %v; closed by the server: %v",
		written, written/int64(len(batch)/64), took.Round(time.Millisecond), closed)
	t.Logf("exporter RSS: before %d KiB, peak %d KiB (+%d KiB)", rssBefore, rssMax, rssMax-rssBefore)
	t.Logf("deadline closes (response): %.0f",
		telemetryValue(ss, "crd_state_metrics_http_deadline_closes_total", "phase", "response"))
	if !closed {
		t.Errorf("the connection was still open after %v", took)
	}
	// Without a read watermark the exporter took whatever arrived (the
	// client's writes never blocked); with it, the kernel's buffers (a few
	// MiB on loopback) are all the client can fill.
	if written > 64<<20 {
		t.Errorf("the exporter accepted %d bytes from a client that never reads", written)
	}
	if rssMax-rssBefore > 32<<10 {
		t.Errorf("exporter RSS grew by %d KiB", rssMax-rssBefore)
	}
	if v := telemetryValue(ss, "crd_state_metrics_http_deadline_closes_total", "phase", "response"); v < 1 {
		t.Errorf("no response deadline close counted (%v)", v)
	}
	if st, _, err := timedGet(http.DefaultClient, e.URL+"/healthz", "", 5*time.Second); err != nil || st != 200 {
		t.Errorf("/healthz afterwards: HTTP %d, %v", st, err)
	}
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestHostileTokenFlood: 64 clients send requests with made-up Bearer tokens
// for 15 s, a quarter of them hanging up after 20 ms, against
// --auth-max-reviews=8. Reviews in flight (the exporter's own gauge and its
// peak) never exceed the cap, and a Prometheus-like scraper with a real token
// is answered within 1 s throughout.
func TestHostileTokenFlood(t *testing.T) {
	const (
		capReviews = 8
		flooders   = 64
		duration   = 15 * time.Second
	)
	r := newSecRig(t)
	r.env = hostileEnv()
	e := r.start(t, "", "", fmt.Sprintf("--auth-max-reviews=%d", capReviews), "--log-level=info")
	prom := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.ca},
		DisableCompression: true}}
	if st, _, err := timedGet(prom, e.url+"/metrics", r.reader.Token, 10*time.Second); err != nil || st != 200 {
		t.Fatalf("warm-up scrape: HTTP %d, %v", st, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var abandoned, errs atomic.Int64
	for i := 0; i < flooders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.ca},
				DisableCompression: true, MaxIdleConnsPerHost: 1}}
			defer cl.CloseIdleConnections()
			for n := 0; ctx.Err() == nil; n++ {
				limit := 5 * time.Second
				if (i+n)%4 == 0 {
					limit = 20 * time.Millisecond // hangs up before the answer
				}
				st, _, err := timedGet(cl, e.url+"/metrics", randomToken(), limit)
				if err != nil {
					if limit < time.Second {
						abandoned.Add(1)
					} else if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			}
		}(i)
	}
	var promLat latencies
	var failures []string
	maxSeen := 0.0
	for ctx.Err() == nil {
		st, d, err := timedGet(prom, e.url+"/metrics", r.reader.Token, 5*time.Second)
		promLat.add(d)
		if err != nil || st != 200 || d >= time.Second {
			failures = append(failures, fmt.Sprintf("Prometheus scrape: HTTP %d in %v (%v)", st, d, err))
		}
		for j := 0; j < 2; j++ {
			v := telemetryValue(r.telemetry(t, e), "crd_state_metrics_auth_reviews_in_flight")
			if v > maxSeen {
				maxSeen = v
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wg.Wait()
	ss := r.telemetry(t, e)
	peak := telemetryValue(ss, "crd_state_metrics_auth_reviews_in_flight_max")
	mu.Lock()
	t.Logf("flood: HTTP statuses %v, %d abandoned after 20 ms, %d other errors", statuses, abandoned.Load(), errs.Load())
	mu.Unlock()
	t.Logf("reviews in flight: sampled max %.0f, exporter's peak %.0f (cap %d); refused by the cap %.0f; unauthenticated %.0f",
		maxSeen, peak, capReviews, telemetryValue(ss, "crd_state_metrics_auth_reviews_refused_total"),
		telemetryValue(ss, "crd_state_metrics_authn_total", "result", "unauthenticated"))
	t.Logf("Prometheus-like scrapes: %s", promLat.summary())
	for _, f := range failures {
		t.Error(f)
	}
	if peak > capReviews || maxSeen > capReviews {
		t.Errorf("reviews in flight reached %.0f (sampled %.0f), cap %d", peak, maxSeen, capReviews)
	}
	if peak < 1 {
		t.Error("no review was ever in flight: the flood did not reach the API server")
	}
	if statuses[http.StatusUnauthorized] == 0 {
		t.Error("no made-up token was answered 401")
	}
}

// TestHostileScraperStorm: 200 concurrent full scrapes (half plain, half
// gzip) while objects are created; serving must not starve ingest: each new
// object must be in the exporter's store within 1 s of its creation (the
// time until a full scrape shows it is logged too). CSM_STORM_OBJECTS sets the number of objects
// (default 1,000: on the shared, overloaded 2-core machine this was written
// on the API server created about 4 objects a second, so 100,000, what the
// issue asks for, would take hours; pass more where creating them is fast).
func TestHostileScraperStorm(t *testing.T) {
	n := 1000
	if v := os.Getenv("CSM_STORM_OBJECTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("CSM_STORM_OBJECTS=%q", v)
		}
	}
	const (
		scrapers = 200
		changes  = 10
	)
	c := cluster.Get(t)
	storm := cluster.CRDSpec{Group: "storm.hostile.example.com", Version: "v1", Kind: "Widget", Namespaced: true}
	c.EnsureNamespace(t, hostileNS)
	c.EnsureCRD(t, storm)
	// One minute, plus a second per 100 objects the API server deletes first
	// (100,000 were not gone after 4m20s on the 2-core machine).
	t.Cleanup(func() { c.DeleteCRDWithin(t, storm, time.Minute+time.Duration(n/100)*time.Second) })
	cfg := *c.Config
	cfg.QPS, cfg.Burst = 5000, 5000
	dyn, err := dynamic.NewForConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	ri := dyn.Resource(storm.GVR()).Namespace(hostileNS)
	// Create w-0 .. w-(n-1) (AlreadyExists is fine: a rerun before the
	// cleanup finished deleting them).
	tc := time.Now()
	var next atomic.Int64
	var cwg sync.WaitGroup
	var firstErr atomic.Value
	for p := 0; p < 32; p++ {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || firstErr.Load() != nil {
					return
				}
				obj := storm.Object(hostileNS, fmt.Sprintf("w-%d", i), nil, map[string]any{"size": i})
				if _, err := ri.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil &&
					!strings.Contains(err.Error(), "already exists") {
					firstErr.Store(err)
				}
			}
		}()
	}
	cwg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		t.Fatalf("creating objects: %v", err)
	}
	t.Logf("created %d objects in %v", n, time.Since(tc).Round(time.Millisecond))
	e := exporter.Start(t, exporter.Options{Kubeconfig: c.Kubeconfig,
		Resources: []string{"storm.hostile.example.com/v1/Widget"}, Env: hostileEnv()})
	e.WaitReady(t, 180*time.Second)
	_, body, _, err := exporter.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one full scrape: %d bytes", len(body))
	rssBefore, _ := rssKB(e.Pid())

	// The scrapers run in a child process (this test binary, running
	// TestHostileStormScrapers): in this process they would starve the
	// goroutines that take the timestamps below (200 readers, half of them
	// gunzipping, on 2 cores: a 20 ms sleep was seen oversleeping by 1.2 s),
	// and the figures would measure the test, not the exporter. Prometheus
	// does not share the exporter's process either.
	load := exec.Command(os.Args[0], "-test.run=^TestHostileStormScrapers$")
	load.Env = append(os.Environ(), "CSM_STORM_SCRAPE_URL="+e.URL+"/metrics",
		fmt.Sprintf("CSM_STORM_SCRAPERS=%d", scrapers))
	stormIn, err := load.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stormOut bytes.Buffer
	load.Stdout = &stormOut
	load.Stderr = &stormOut
	if err := load.Start(); err != nil {
		t.Fatalf("starting the scrapers: %v", err)
	}
	stopped := false
	stopStorm := func() {
		if stopped {
			return
		}
		stopped = true
		stormIn.Close() // the child stops at EOF on its stdin
		if err := load.Wait(); err != nil {
			t.Errorf("the scrapers' process: %v\n%s", err, stormOut.String())
		}
	}
	defer stopStorm()
	rss := watchRSS(e.Pid())
	time.Sleep(3 * time.Second) // the storm is under way

	// Each change: create an object, then measure two things. Ingest: the
	// time until the exporter's store holds it (the telemetry port's
	// crd_state_metrics_objects, rendered on the same event loop; polled
	// every 20 ms, so this is an upper bound that includes one small
	// request under the storm). Serving: the time until a full scrape of
	// /metrics, started after the creation and read to its end, shows its
	// info series; this includes that scrape's own duration under the
	// storm.
	var ingestLat, scrapeSeen latencies
	var failures []string
	probe := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	objects := func() float64 {
		ss, err := e.TelemetryErr()
		if err != nil {
			return -1
		}
		return ss.Sum("crd_state_metrics_objects")
	}
	stamp := time.Now().UnixNano()
	// A watch of the test's own on each probe object: when the API server
	// delivers its ADDED event to another client. On a 2-core machine the
	// storm's 200 readers compete with the API server itself, so this
	// separates the API server's delivery time from the exporter's own lag.
	var apiLat, lagLat latencies
	for i := 0; i < changes; i++ {
		name := fmt.Sprintf("probe-%d-%d", stamp, i)
		base := objects()
		w, err := ri.Watch(context.Background(), metav1.ListOptions{FieldSelector: "metadata.name=" + name})
		if err != nil {
			t.Fatalf("watch %s: %v", name, err)
		}
		delivered := make(chan time.Time, 1)
		go func() {
			for ev := range w.ResultChan() {
				if ev.Type == "ADDED" {
					delivered <- time.Now()
					return
				}
			}
		}()
		obj := storm.Object(hostileNS, name, nil, map[string]any{"size": 1})
		if _, err := ri.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		t0 := time.Now()
		ingested := false
		for time.Since(t0) < 10*time.Second {
			if objects() > base {
				ingested = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		d := time.Since(t0)
		ingestLat.add(d)
		select {
		case at := <-delivered:
			apiLat.add(at.Sub(t0))
			if lag := t0.Add(d).Sub(at); lag > 0 {
				lagLat.add(lag)
			} else {
				lagLat.add(0)
			}
		case <-time.After(10 * time.Second):
			t.Logf("%s: the test's own watch saw no ADDED event", name)
		}
		w.Stop()
		if !ingested || d >= time.Second {
			failures = append(failures, fmt.Sprintf("%s: in the store after %v (ingested %v)", name, d.Round(time.Millisecond), ingested))
		}
		want := fmt.Sprintf(`widget="%s"`, name)
		for time.Since(t0) < 20*time.Second {
			st, b, _, err := getBody(probe, e.URL+"/metrics")
			if err == nil && st == 200 && strings.Contains(b, want) {
				scrapeSeen.add(time.Since(t0))
				break
			}
		}
		ri.Delete(context.Background(), name, metav1.DeleteOptions{})
		time.Sleep(500 * time.Millisecond)
	}
	rssDuring, _ := rss.Stop()
	stopStorm()
	time.Sleep(2 * time.Second)
	rssAfter, _ := rssKB(e.Pid())

	var plain, gz, scrapeErrs int64
	var durations string
	for _, line := range strings.Split(stormOut.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "storm-scrapers: "); ok {
			fmt.Sscanf(rest, "plain=%d gzip=%d errors=%d", &plain, &gz, &scrapeErrs)
			if i := strings.Index(rest, "durations: "); i >= 0 {
				durations = rest[i+len("durations: "):]
			}
		}
	}
	t.Logf("storm: %d objects, %d concurrent scrapers (their own process); %d plain and %d gzip full scrapes done, %d errors",
		n, scrapers, plain, gz, scrapeErrs)
	t.Logf("storm scrape durations: %s", durations)
	t.Logf("change -> store latency (creation to the exporter's object count including it): %s", ingestLat.summary())
	t.Logf("of which the API server's delivery (creation to the test's own watch event): %s", apiLat.summary())
	t.Logf("and the exporter's lag behind that watch (includes the 20 ms poll): %s", lagLat.summary())
	t.Logf("change -> full scrape showing it (includes that scrape's duration under the storm): %s", scrapeSeen.summary())
	t.Logf("exporter RSS: before %d KiB, peak during %d KiB, after %d KiB", rssBefore, rssDuring, rssAfter)
	for _, f := range failures {
		t.Error(f)
	}
	if plain == 0 || gz == 0 {
		t.Errorf("the storm did not complete plain and gzip scrapes:\n%s", stormOut.String())
	}
}

// TestHostileStormScrapers is TestHostileScraperStorm's load, run by it in
// a process of its own (skipped otherwise): CSM_STORM_SCRAPERS clients loop
// over full scrapes of CSM_STORM_SCRAPE_URL, half with gzip, until stdin
// closes; then it prints what they did on one line for the parent.
func TestHostileStormScrapers(t *testing.T) {
	url := os.Getenv("CSM_STORM_SCRAPE_URL")
	if url == "" {
		t.Skip("the load of TestHostileScraperStorm, run by it in a process of its own")
	}
	scrapers, err := strconv.Atoi(os.Getenv("CSM_STORM_SCRAPERS"))
	if err != nil || scrapers < 1 {
		t.Fatalf("CSM_STORM_SCRAPERS=%q", os.Getenv("CSM_STORM_SCRAPERS"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	var wg sync.WaitGroup
	var plain, gz, scrapeErrs atomic.Int64
	var scrapeLat latencies
	for i := 0; i < scrapers; i++ {
		wg.Add(1)
		go func(useGzip bool) {
			defer wg.Done()
			cl := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}}
			defer cl.CloseIdleConnections()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if useGzip {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				t0 := time.Now()
				resp, err := cl.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						scrapeErrs.Add(1)
						time.Sleep(100 * time.Millisecond)
					}
					continue
				}
				var rd io.Reader = resp.Body
				if useGzip && resp.Header.Get("Content-Encoding") == "gzip" {
					if zr, err := gzip.NewReader(resp.Body); err == nil {
						rd = zr
					}
				}
				_, err = io.Copy(io.Discard, rd)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					if ctx.Err() == nil {
						scrapeErrs.Add(1)
					}
					continue
				}
				scrapeLat.add(time.Since(t0))
				if useGzip {
					gz.Add(1)
				} else {
					plain.Add(1)
				}
			}
		}(i%2 == 1)
	}
	wg.Wait()
	fmt.Printf("storm-scrapers: plain=%d gzip=%d errors=%d durations: %s\n",
		plain.Load(), gz.Load(), scrapeErrs.Load(), scrapeLat.summary())
}

func getBody(cl *http.Client, url string) (int, string, http.Header, error) {
	resp, err := cl.Get(url)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// TestHostileReadyzDetail: /readyz tells the watched resources, their counts
// and API errors only to clients that may get /metrics (with --auth=kubernetes
// a probe without credentials, or a stranger's token, gets the status alone:
// default RBAC lets everyone get /readyz itself), and its reason text keeps
// whole lines from the first resource on, up to 1 KiB, instead of silently
// restarting past it.
func TestHostileReadyzDetail(t *testing.T) {
	r := newSecRig(t)
	e := r.start(t, "", "")
	anon := r.client(nil, nil)
	if st, body, _, err := get(anon, e.url+"/readyz", ""); err != nil || st != 200 || body != "ok\n" {
		t.Errorf("/readyz without credentials: HTTP %d %q (%v), want 200 \"ok\\n\"", st, body, err)
	}
	admin := r.client(clientCert(t, r.c, "csm-admin", "system:masters"), nil)
	st, body, _, err := get(admin, e.url+"/readyz", "")
	if err != nil || st != 200 || !strings.Contains(body, "secure.example.com/v1/Gizmo: synced, 1 objects") {
		t.Errorf("/readyz for an authorized client: HTTP %d %q (%v), want the detail", st, body, err)
	}
	// A stranger's token may not get /metrics: the status only, still 200.
	if st, body, _, err := get(anon, e.url+"/readyz", r.stranger.Token); err != nil || st != 200 || body != "ok\n" {
		t.Errorf("/readyz with an unauthorized token: HTTP %d %q (%v), want 200 \"ok\\n\"", st, body, err)
	}
	// The reader may: the detail.
	if st, body, _, err := get(anon, e.url+"/readyz", r.reader.Token); err != nil || st != 200 || !strings.Contains(body, "Gizmo: synced") {
		t.Errorf("/readyz with the reader's token: HTTP %d %q (%v), want the detail", st, body, err)
	}

	// Without access control everyone is authorized. Forty resources whose
	// CRDs do not exist (ready, "not served") need about 4 KiB of reasons.
	c := cluster.Get(t)
	var res []string
	for i := 0; i < 40; i++ {
		res = append(res, fmt.Sprintf("absent.hostile.example.com/v1/Absent%02d", i))
	}
	plain := exporter.Start(t, exporter.Options{Kubeconfig: c.Kubeconfig, Resources: res})
	plain.WaitReady(t, 60*time.Second)
	_, b, _, err := exporter.Get(plain.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	t.Logf("/readyz with 40 resources: %d bytes, ends %q", len(text), text[max(0, len(text)-80):])
	if len(text) > 1100 {
		t.Errorf("/readyz body is %d bytes", len(text))
	}
	if !strings.HasPrefix(text, "ok: absent.hostile.example.com/v1/Absent00") {
		t.Errorf("/readyz does not start with the first resource: %.120q", text)
	}
	if !strings.Contains(text, "... and ") || !strings.HasSuffix(text, " more resources\n\n") {
		t.Errorf("/readyz does not say how many resources were left out: %q", text)
	}
}
