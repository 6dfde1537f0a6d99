// Command load is the benchmark's load client (standard library only).
//
//	load scrape  -url URL [-c 1] [-n 20] [-gzip] [-ca FILE]   kept-alive scrapes, percentiles
//	load slow    -url URL [-c 200] [-hold 10s] [-rss-pid PID]  clients that read 1 KiB and stall
//	load wait    -url TELEMETRY -metric NAME -min N [-timeout]  sync detected from telemetry
//	load scrape  -url URL -c 10 -loop 10s                      the same, for a while (background load)
//	load latency -url URL -api URL -cert -key -ca -path -series ... change->metric latency
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
	"encoding/json"
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
	"syscall"
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

// scrape runs c clients, each doing n kept-alive GETs (one warm-up first),
// or, with -loop, GETs until that much time has passed (the background load
// of the change->metric run, in a process of its own so that its goroutines
// do not delay the latency probe's clock).
//
// Each client reads bodies into one buffer it keeps: growing a fresh slice
// per 36 MB body (io.ReadAll) cost the client more than the exporter spent
// sending it, and the figure is the exporter's.
func scrape(args []string) {
	fs := flag.NewFlagSet("scrape", flag.ExitOnError)
	u := fs.String("url", "", "metrics URL")
	c := fs.Int("c", 1, "concurrent clients")
	n := fs.Int("n", 20, "scrapes per client")
	loop := fs.Duration("loop", 0, "scrape for this long instead of -n times")
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
	deadline := start.Add(*loop)
	var errs int
	for k := 0; k < *c; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := 0; ; i++ {
				if *loop > 0 && i > 0 && time.Now().After(deadline) {
					return
				}
				if *loop == 0 && i > *n {
					return
				}
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
				buf, err = readInto(buf, resp.Body)
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
						zr, err := gzip.NewReader(bytes.NewReader(buf))
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
				wire = int64(len(buf))
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
		mbps = float64(plain) * float64(len(all)) / sum.Seconds() / 1e6
	}
	fmt.Printf("scrapes=%d errors=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f wire_bytes=%d body_bytes=%d per_client_MBps=%.1f elapsed_s=%.2f\n",
		len(all), errs, pct(all, 0.5), pct(all, 0.9), pct(all, 0.99), wire, plain, mbps, el)
}

// readInto reads r to its end into buf (grown when too small, kept for the
// next body) and returns it holding exactly what was read.
func readInto(buf []byte, r io.Reader) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, max(cap(buf), 1<<20))...)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
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

// pend is a PATCHed value and a time: when its answer came (pending) or
// when it was first read (last seen).
type pend struct {
	val int64
	at  time.Time
}

// observer times PATCHed values to the moment one observer (the probes, or
// the control watch) read them. Values only grow per object, so reading v
// settles every pending value up to v. A value may be read before its
// PATCH's answer arrives (the answer and the watch event leave the API
// server separately): the last value seen per object settles those when
// the answer comes. The caller holds the lock that guards it.
type observer struct {
	pending [][]pend // per object: answered, not yet read
	seen    []pend   // per object: the last value read, and when
	lat     []time.Duration
	at      map[int64]time.Time // when each value was read
}

func newObserver(objects int) *observer {
	return &observer{pending: make([][]pend, objects), seen: make([]pend, objects), at: map[int64]time.Time{}}
}

// saw records that object o showed value v at now.
func (ob *observer) saw(o int, v int64, now time.Time) {
	if v > ob.seen[o].val {
		ob.seen[o] = pend{v, now}
	}
	keep := ob.pending[o][:0]
	for _, p := range ob.pending[o] {
		if p.val <= v {
			ob.settle(p, now)
		} else {
			keep = append(keep, p)
		}
	}
	ob.pending[o] = keep
}

// answered records that the PATCH setting object o to v was answered at at.
func (ob *observer) answered(o int, v int64, at time.Time) {
	if ob.seen[o].val >= v {
		ob.settle(pend{v, at}, ob.seen[o].at)
		return
	}
	ob.pending[o] = append(ob.pending[o], pend{v, at})
}

// settle: p (answered at p.at) was read at read; before its answer counts 0.
func (ob *observer) settle(p pend, read time.Time) {
	ob.lat = append(ob.lat, max(read.Sub(p.at), 0))
	ob.at[p.val] = read
}

func (ob *observer) unseen() int {
	n := 0
	for _, p := range ob.pending {
		n += len(p)
	}
	return n
}

// latency patches spec.size of -objects objects (names from -names, a
// fmt pattern taking an index; the series from -series, a fmt pattern
// taking the name) round-robin, -rate PATCHes per second in all, while
// -probes clients read the exporter's body. One sample is the time from a
// PATCH's answer to the moment a probe read a line showing that value (or
// a later one) for the object. Spreading the PATCHes over objects keeps the
// API server from serializing them on one object.
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
	probes := fs.Int("probes", 2, "concurrent probes")
	every := fs.Duration("probe-every", time.Millisecond, "least time between two GETs of one probe")
	dur := fs.Duration("d", 10*time.Second, "duration")
	samples := fs.String("samples", "", "write each PATCH's times (ms from the start: answered, control watch, exporter, the control's event of exactly that value) to this file")
	fs.Parse(args)
	kp, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		die("client cert: %v", err)
	}
	tc := tlsConfig(*ca, false)
	tc.Certificates = []tls.Certificate{kp}
	apic := client(64, tc)
	// A probe stops reading once it has its lines, so its connection
	// cannot be reused. Its receive buffer is small (set before connect,
	// so the window is too): an exporter can push only that much into a
	// probe it is about to lose, and the probes' cost to the exporter
	// stays small beside the load they measure.
	probeDialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true,
		DialContext: probeDialer.DialContext}, Timeout: 120 * time.Second}
	objName := make([]string, *objects)
	index := map[string]int{}
	var family []byte
	for i := range objName {
		objName[i] = fmt.Sprintf(*names, i**stride)
		ser := fmt.Sprintf(*series, objName[i])
		index[ser] = i
		if family == nil {
			family = []byte(ser)
			if j := bytes.IndexByte(family, '{'); j >= 0 {
				family = family[:j+1]
			}
		}
	}
	var mu sync.Mutex
	exp := newObserver(*objects) // the probes, reading the exporter
	var probed int
	answered := map[int64]time.Time{}
	apiExact := map[int64]time.Time{} // the control's event carrying exactly this value
	t0all := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The probes: each GETs the metrics and reads the family's lines as
	// they arrive; a line showing an object at or past a PATCHed value
	// ends that PATCH's wait at the moment the line was read. That moment
	// bounds from above when the value became visible on the endpoint,
	// for any exporter, whether it takes a snapshot before it answers or
	// writes each line as it walks its store; where in the body the line
	// sits is part of the figure. The looping scrapers run in another
	// process (load scrape -loop).
	for k := 0; k < *probes; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := make([]bool, *objects)
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				resp, err := pc.Get(*u)
				if err != nil {
					continue
				}
				br := bufio.NewReaderSize(resp.Body, 64<<10)
				in, found := false, 0
				for o := range seen {
					seen[o] = false
				}
				for found < *objects {
					line, err := br.ReadSlice('\n')
					for err == bufio.ErrBufferFull { // a line longer than the buffer: not ours
						_, err = br.ReadSlice('\n')
						line = nil
					}
					if bytes.HasPrefix(line, family) {
						in = true
						line = bytes.TrimRight(line, "\n")
						sp := bytes.LastIndexByte(line, ' ')
						o, ok := -1, false
						if sp >= 0 {
							o, ok = index[string(line[:sp])]
						}
						// kube-state-metrics prints 1.000001e+06
						v, perr := strconv.ParseFloat(string(line[max(sp, 0)+1:]), 64)
						if ok && perr == nil {
							now := time.Now()
							mu.Lock()
							exp.saw(o, int64(v), now)
							mu.Unlock()
							if !seen[o] {
								seen[o] = true
								found++
							}
						}
					} else if in && len(line) > 0 {
						break // the family ended
					}
					if err != nil {
						break
					}
				}
				resp.Body.Close()
				mu.Lock()
				probed++
				mu.Unlock()
				if d := time.Since(t0); d < *every {
					time.Sleep(*every - d)
				}
			}
		}()
	}
	// The control: a watch of the same objects straight from the API
	// server, timed the same way. No exporter can show a change before its
	// watch event reaches it, so this is the floor the machine allows.
	ctl := newObserver(*objects)
	coll := strings.TrimSuffix(fmt.Sprintf(*path, ""), "/")
	listRV := func() string {
		var rv struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		lresp, err := apic.Get(*api + coll + "?limit=1")
		if err != nil {
			die("list %s: %v", coll, err)
		}
		err = json.NewDecoder(lresp.Body).Decode(&rv)
		lresp.Body.Close()
		if err != nil || rv.Metadata.ResourceVersion == "" {
			die("list %s: no resourceVersion (%v)", coll, err)
		}
		return rv.Metadata.ResourceVersion
	}
	// watchOnce follows one watch from rv and returns the last
	// resourceVersion it saw ("" after an ERROR event: list again).
	var wmu sync.Mutex
	var wbody io.Closer
	watchStopped := false
	watchOnce := func(rv string) string {
		wresp, err := apic.Get(*api + coll + "?watch=true&allowWatchBookmarks=true&resourceVersion=" + url.QueryEscape(rv))
		if err != nil || wresp.StatusCode != 200 {
			fmt.Fprintf(os.Stderr, "load: control watch of %s: %v\n", coll, err)
			if wresp != nil {
				wresp.Body.Close()
			}
			time.Sleep(100 * time.Millisecond)
			return rv
		}
		defer wresp.Body.Close()
		wmu.Lock()
		wbody = wresp.Body
		stopped := watchStopped
		wmu.Unlock()
		if stopped {
			return rv
		}
		dec := json.NewDecoder(wresp.Body)
		for {
			var ev struct {
				Type   string `json:"type"`
				Object struct {
					Metadata struct {
						Name            string `json:"name"`
						ResourceVersion string `json:"resourceVersion"`
					} `json:"metadata"`
					Spec struct {
						Size int64 `json:"size"`
					} `json:"spec"`
					Message string `json:"message"`
				} `json:"object"`
			}
			if err := dec.Decode(&ev); err != nil {
				wmu.Lock()
				stopped = watchStopped
				wmu.Unlock()
				if !stopped {
					fmt.Fprintf(os.Stderr, "load: control watch of %s ended (%v); watching again from %s\n", coll, err, rv)
				}
				return rv
			}
			now := time.Now()
			if ev.Type == "ERROR" {
				fmt.Fprintf(os.Stderr, "load: control watch of %s: ERROR %s; listing again (events between are unseen)\n", coll, ev.Object.Message)
				return ""
			}
			if ev.Object.Metadata.ResourceVersion != "" {
				rv = ev.Object.Metadata.ResourceVersion
			}
			o, ok := index[fmt.Sprintf(*series, ev.Object.Metadata.Name)]
			if !ok || ev.Type != "MODIFIED" {
				continue
			}
			v := ev.Object.Spec.Size
			mu.Lock()
			apiExact[v] = now
			ctl.saw(o, v, now)
			mu.Unlock()
		}
	}
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		rv := listRV()
		for {
			wmu.Lock()
			stopped := watchStopped
			wmu.Unlock()
			if stopped {
				return
			}
			if rv == "" {
				rv = listRV()
			}
			rv = watchOnce(rv)
		}
	}()
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
				at := time.Now()
				mu.Lock()
				if resp.StatusCode == 200 {
					answered[v] = at
					exp.answered(o, v, at)
					ctl.answered(o, v, at)
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
	wmu.Lock()
	watchStopped = true
	if wbody != nil {
		wbody.Close()
	}
	wmu.Unlock()
	<-watchDone
	mu.Lock()
	defer mu.Unlock()
	// PATCH by PATCH, the time from the control's event to a probe's read:
	// what the exporter added.
	var added []time.Duration
	for v, e := range exp.at {
		if a, ok := ctl.at[v]; ok {
			added = append(added, e.Sub(a))
		}
	}
	if *samples != "" {
		f, err := os.Create(*samples)
		if err != nil {
			die("-samples: %v", err)
		}
		ms := func(t time.Time) float64 {
			if t.IsZero() {
				return -1
			}
			return float64(t.Sub(t0all).Microseconds()) / 1000
		}
		fmt.Fprintf(f, "# start %.6f (unix seconds)\n", float64(t0all.UnixMicro())/1e6)
		for v, at := range answered {
			fmt.Fprintf(f, "%d %.3f %.3f %.3f %.3f\n", v, ms(at), ms(ctl.at[v]), ms(exp.at[v]), ms(apiExact[v]))
		}
		f.Close()
	}
	// updates is what the API server accepted: on a busy machine it can
	// fall short of -rate, and the table reports it.
	fmt.Printf("updates_per_s=%.0f updates=%d failed=%d samples=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f unseen=%d probe_gets=%d api_watch_p50_ms=%.3f api_watch_p99_ms=%.3f api_watch_unseen=%d added_p50_ms=%.3f added_p99_ms=%.3f\n",
		float64(sent)/dur.Seconds(), sent, failed, len(exp.lat), pct(exp.lat, 0.5), pct(exp.lat, 0.99), pct(exp.lat, 1), exp.unseen(), probed,
		pct(ctl.lat, 0.5), pct(ctl.lat, 0.99), ctl.unseen(), pct(added, 0.5), pct(added, 0.99))
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
