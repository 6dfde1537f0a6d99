// Command load is the benchmark's load client (standard library only).
//
//	load scrape  -url URL [-c 1] [-n 20] [-gzip] [-ca FILE]   kept-alive scrapes, percentiles
//	load slow    -url URL [-c 200] [-hold 10s] [-rss-pid PID]  clients that read 1 KiB and stall
//	load wait    -url TELEMETRY -metric NAME -min N [-timeout]  sync detected from telemetry
//	load latency -url URL -api URL -cert -key -ca -ns -name ... change->metric latency
//	load cpu     -pid PID                                       CPU seconds from /proc
//
// Every mode prints one line of "key=value" pairs that bench/run parses.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
	os.Exit(1)
}

func tlsConfig(ca string, insecure bool) *tls.Config {
	if ca == "" && !insecure {
		return nil
	}
	c := &tls.Config{InsecureSkipVerify: insecure}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			die("reading -ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			die("-ca %s holds no certificate", ca)
		}
		c.RootCAs = pool
	}
	return c
}

func client(conns int, tc *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, TLSClientConfig: tc,
		// The body is read raw: what crossed the wire is what we measure;
		// gzip bodies are checked separately (-verify).
		DisableCompression: true,
	}, Timeout: 120 * time.Second}
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s)-1) + 0.5)
	return float64(s[i].Microseconds()) / 1000
}

// scrape runs c clients, each doing n kept-alive GETs (one warm-up first).
func scrape(args []string) {
	fs := flag.NewFlagSet("scrape", flag.ExitOnError)
	u := fs.String("url", "", "metrics URL")
	c := fs.Int("c", 1, "concurrent clients")
	n := fs.Int("n", 20, "scrapes per client")
	gz := fs.Bool("gzip", false, "send Accept-Encoding: gzip")
	ca := fs.String("ca", "", "CA file for https")
	insecure := fs.Bool("insecure", false, "skip TLS verification (benchmark only)")
	verify := fs.Bool("verify", true, "decompress gzip bodies once and check they parse")
	fs.Parse(args)
	hc := client(*c, tlsConfig(*ca, *insecure))
	var mu sync.Mutex
	var all []time.Duration
	var wire, plain int64
	var wg sync.WaitGroup
	start := time.Now()
	var errs int
	for k := 0; k < *c; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i <= *n; i++ {
				req, _ := http.NewRequest("GET", *u, nil)
				if *gz {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					mu.Lock()
					errs++
					mu.Unlock()
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				if err != nil || resp.StatusCode != 200 {
					mu.Lock()
					errs++
					mu.Unlock()
					continue
				}
				if i == 0 {
					// warm-up: opens the connection, and checks the body once
					if *gz && *verify {
						zr, err := gzip.NewReader(bytes.NewReader(body))
						if err != nil {
							die("gzip: %v", err)
						}
						raw, err := io.ReadAll(zr)
						if err != nil {
							die("gzip body: %v", err)
						}
						mu.Lock()
						plain = int64(len(raw))
						mu.Unlock()
					}
					continue
				}
				mu.Lock()
				all = append(all, d)
				wire = int64(len(body))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	if plain == 0 {
		plain = wire
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	mbps := 0.0
	if len(all) > 0 {
		mbps = float64(plain) * float64(len(all)) / sum.Seconds() / 1e6 * float64(1)
	}
	fmt.Printf("scrapes=%d errors=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f wire_bytes=%d body_bytes=%d per_client_MBps=%.1f elapsed_s=%.2f\n",
		len(all), errs, pct(all, 0.5), pct(all, 0.9), pct(all, 0.99), wire, plain, mbps, el)
}

func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return -1
}

// slow opens c connections that each send a scrape, read 1 KiB and stop
// reading for -hold; the exporter's RSS is sampled before, at the end of the
// hold, and 3 s after the clients closed.
func slow(args []string) {
	fs := flag.NewFlagSet("slow", flag.ExitOnError)
	u := fs.String("url", "", "metrics URL (http only)")
	c := fs.Int("c", 200, "slow clients")
	hold := fs.Duration("hold", 10*time.Second, "how long they stall")
	pid := fs.Int("rss-pid", 0, "exporter pid for RSS")
	gz := fs.Bool("gzip", false, "ask for gzip")
	fs.Parse(args)
	pu, err := url.Parse(*u)
	if err != nil {
		die("-url: %v", err)
	}
	before := rssKB(*pid)
	var conns []net.Conn
	for i := 0; i < *c; i++ {
		cn, err := net.Dial("tcp", pu.Host)
		if err != nil {
			die("dial: %v", err)
		}
		// A small receive buffer, as a client on a slow link would have.
		if tc, ok := cn.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		enc := ""
		if *gz {
			enc = "Accept-Encoding: gzip\r\n"
		}
		fmt.Fprintf(cn, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", pu.RequestURI(), pu.Host, enc)
		buf := make([]byte, 1024)
		io.ReadFull(cn, buf)
		conns = append(conns, cn)
	}
	time.Sleep(*hold)
	during := rssKB(*pid)
	for _, cn := range conns {
		cn.Close()
	}
	time.Sleep(3 * time.Second)
	after := rssKB(*pid)
	fmt.Printf("clients=%d rss_before_mb=%.1f rss_held_mb=%.1f rss_after_mb=%.1f added_mb=%.1f\n",
		*c, float64(before)/1024, float64(during)/1024, float64(after)/1024, float64(during-before)/1024)
}

// wait polls a telemetry page until a metric's summed value reaches -min.
func wait(args []string) {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	u := fs.String("url", "", "telemetry URL")
	metric := fs.String("metric", "", "metric name (samples summed)")
	match := fs.String("match", "", "substring a sample line must contain")
	count := fs.Bool("count", false, "count the metric's sample lines instead of summing values "+
		"(for an exporter whose telemetry has no object count: kube-state-metrics)")
	min := fs.Float64("min", 1, "value to reach")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after")
	ca := fs.String("ca", "", "CA file for https")
	fs.Parse(args)
	hc := client(1, tlsConfig(*ca, false))
	t0 := time.Now()
	for time.Since(t0) < *timeout {
		resp, err := hc.Get(*u)
		if err == nil {
			sum := 0.0
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				l := sc.Text()
				if !strings.HasPrefix(l, *metric) || strings.HasPrefix(l, "#") || !strings.Contains(l, *match) {
					continue
				}
				rest := l[len(*metric):]
				if rest != "" && rest[0] != '{' && rest[0] != ' ' {
					continue
				}
				if *count {
					sum++
				} else if i := strings.LastIndexByte(l, ' '); i > 0 {
					v, _ := strconv.ParseFloat(l[i+1:], 64)
					sum += v
				}
			}
			resp.Body.Close()
			if sum >= *min {
				fmt.Printf("synced_s=%.3f value=%g\n", time.Since(t0).Seconds(), sum)
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	die("%s never reached %g", *metric, *min)
}

func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func cpu(args []string) {
	fs := flag.NewFlagSet("cpu", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process")
	fs.Parse(args)
	fmt.Printf("cpu_s=%.2f rss_mb=%.1f\n", cpuSeconds(*pid), float64(rssKB(*pid))/1024)
}

// latency patches spec.size of -objects objects (names from -names, a
// fmt pattern taking an index; the series from -series, a fmt pattern
// taking the name) round-robin, -rate PATCHes per second in all, while
// -scrapers clients loop over /metrics. One sample is the time from a
// PATCH's answer to the end of the first scrape that started after it and
// shows that value (or a later one) for the object. Spreading the PATCHes
// over objects keeps the API server from serializing them on one object.
func latency(args []string) {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	u := fs.String("url", "", "metrics URL")
	api := fs.String("api", "", "API server URL")
	cert := fs.String("cert", "", "client certificate")
	key := fs.String("key", "", "client key")
	ca := fs.String("ca", "", "API server CA")
	path := fs.String("path", "", "object path pattern, e.g. /apis/cache.example.com/v1/namespaces/bench-0/memcacheds/%s")
	names := fs.String("names", "mc-%06d", "object name pattern (fmt, an index)")
	stride := fs.Int("stride", 4, "index step between objects (objects of one namespace)")
	objects := fs.Int("objects", 50, "objects patched")
	series := fs.String("series", "", `series pattern (fmt, the name), e.g. memcached_spec_size{namespace="bench-0",memcached="%s"}`)
	rate := fs.Int("rate", 500, "updates per second")
	scrapers := fs.Int("scrapers", 10, "looping scrapers")
	dur := fs.Duration("d", 10*time.Second, "duration")
	fs.Parse(args)
	kp, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		die("client cert: %v", err)
	}
	tc := tlsConfig(*ca, false)
	tc.Certificates = []tls.Certificate{kp}
	apic := client(64, tc)
	hc := client(*scrapers, nil)
	objName := make([]string, *objects)
	objSeries := make([][]byte, *objects)
	index := map[string]int{}
	for i := range objName {
		objName[i] = fmt.Sprintf(*names, i**stride)
		objSeries[i] = []byte(fmt.Sprintf(*series, objName[i]))
		index[string(objSeries[i])] = i
	}
	family := objSeries[0]
	if j := bytes.IndexByte(family, '{'); j >= 0 {
		family = family[:j+1]
	}
	var mu sync.Mutex
	type key2 struct {
		obj int
		val int64
	}
	pending := map[key2]time.Time{} // PATCH answered at
	var lat []time.Duration
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for k := 0; k < *scrapers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				resp, err := hc.Get(*u)
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t1 := time.Now()
				// One pass over the body: a line whose series is one of
				// ours gives that object's value (scanning the body once per
				// object would make the client the bottleneck).
				shown := make([]int64, *objects)
				for o := range shown {
					shown[o] = -1
				}
				for rest := body; len(rest) > 0; {
					line := rest
					if j := bytes.IndexByte(rest, '\n'); j >= 0 {
						line, rest = rest[:j], rest[j+1:]
					} else {
						rest = nil
					}
					if !bytes.HasPrefix(line, family) {
						continue
					}
					sp := bytes.LastIndexByte(line, ' ')
					if sp < 0 {
						continue
					}
					o, ok := index[string(line[:sp])]
					if !ok {
						continue
					}
					// kube-state-metrics prints 1.000001e+06
					if v, err := strconv.ParseFloat(string(line[sp+1:]), 64); err == nil {
						shown[o] = int64(v)
					}
				}
				mu.Lock()
				for kk, at := range pending {
					if kk.val <= shown[kk.obj] && at.Before(t0) {
						lat = append(lat, t1.Sub(at))
						delete(pending, kk)
					}
				}
				mu.Unlock()
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	end := time.After(*dur)
	seq := int64(time.Now().Unix()%100000) * 10000
	sent, failed, n := 0, 0, 0
	var pw sync.WaitGroup
loop:
	for {
		select {
		case <-end:
			break loop
		case <-tick.C:
			seq++
			v, o := seq, n%*objects
			n++
			pw.Add(1)
			go func() {
				defer pw.Done()
				body := fmt.Sprintf(`{"spec":{"size":%d}}`, v)
				req, _ := http.NewRequest("PATCH", *api+fmt.Sprintf(*path, objName[o]), strings.NewReader(body))
				req.Header.Set("Content-Type", "application/merge-patch+json")
				resp, err := apic.Do(req)
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == 200 {
					pending[key2{o, v}] = time.Now()
					sent++
				} else {
					failed++
				}
				mu.Unlock()
			}()
		}
	}
	pw.Wait()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	// updates is what the API server accepted: on a busy machine it can
	// fall short of -rate, and the table reports it.
	fmt.Printf("updates_per_s=%.0f updates=%d failed=%d samples=%d p50_ms=%.3f p99_ms=%.3f unseen=%d\n",
		float64(sent)/dur.Seconds(), sent, failed, len(lat), pct(lat, 0.5), pct(lat, 0.99), len(pending))
}

func main() {
	if len(os.Args) < 2 {
		die("usage: load scrape|slow|wait|latency|cpu [flags]")
	}
	modes := map[string]func([]string){"scrape": scrape, "slow": slow, "wait": wait, "latency": latency, "cpu": cpu}
	m, ok := modes[os.Args[1]]
	if !ok {
		die("unknown mode %q", os.Args[1])
	}
	m(os.Args[2:])
}
