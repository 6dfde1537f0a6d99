// Package faultproxy is a TLS-terminating reverse proxy between the exporter and
// the real kube-apiserver that injects faults on demand.
//
// It is not an imitation of the API: every request is forwarded to the real
// server (Authorization header and all, unchanged) unless a test asked for a fault.
// Faults:
//
//   - Cut / Restore: every open client connection is closed at once and new ones
//     are reset right after accept until Restore ("exporter cut off").
//   - DropConnections: every open client connection is closed once (streams
//     break mid-watch); new ones work.
//   - Inject: the next n matching requests are answered with a status (and a
//     Kubernetes Status body) without being forwarded, e.g. 429 + Retry-After.
//   - Hold / Release: matching requests wait until released.
//   - SplitBytes: response bodies are written one byte per write+flush, so that
//     each byte becomes its own chunk, TLS record and TCP segment.
//
// When the backend cannot be reached (kube-apiserver stopped) or a backend stream
// breaks, the client connection is aborted without a response, so the exporter
// sees a transport error as it would without the proxy, not a 502.
//
// Every request is logged (Entries): time, method, path, query, status, whether
// it was injected or held, and a fingerprint of its credentials.
package faultproxy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crd-state-metrics/tests/e2e/cluster"
)

// Entry is one request seen by the proxy.
type Entry struct {
	Seq      int
	Start    time.Time
	End      time.Time // zero while the request is in flight
	Method   string
	Path     string     // URL path
	RawQuery string     // URL query, as sent
	Query    url.Values // parsed RawQuery
	Watch    bool       // watch=1 / watch=true
	Status   int        // status sent to the client; 0: none (aborted / transport failure)
	Injected bool       // answered by Inject, not forwarded
	Held     time.Duration
	Bytes    int64 // response body bytes written to the client
	// Err says why the request was aborted, if it was: "dropped by proxy" (Cut or
	// DropConnections closed its connection), "cut" (refused while cut), "client
	// gone" (the client closed it), "stream broken" (the backend stream broke
	// after the response started), "backend: <error>" (backend unreachable).
	Err    string
	AuthFP string // first 12 hex digits of sha256(Authorization header); "" without one
}

// IsList reports whether e is a GET without watch (a LIST or a GET of one object).
func (e Entry) IsList() bool { return e.Method == http.MethodGet && !e.Watch }

// Failed reports whether the client got no 2xx response.
func (e Entry) Failed() bool { return e.Status < 200 || e.Status > 299 }

// String renders the entry for logs.
func (e Entry) String() string {
	kind := "GET"
	if e.Watch {
		kind = "WATCH"
	} else if e.Method != http.MethodGet {
		kind = e.Method
	}
	s := fmt.Sprintf("#%d %s %s %s?%s -> %d", e.Seq, e.Start.Format("15:04:05.000"), kind, e.Path, e.RawQuery, e.Status)
	if e.Injected {
		s += " (injected)"
	}
	if e.Held > 0 {
		s += fmt.Sprintf(" (held %v)", e.Held.Round(time.Millisecond))
	}
	if e.Err != "" {
		s += " [" + e.Err + "]"
	}
	if !e.End.IsZero() {
		s += fmt.Sprintf(" %v %dB", e.End.Sub(e.Start).Round(time.Millisecond), e.Bytes)
	} else {
		s += " (in flight)"
	}
	return s
}

// IsWatch reports whether a query asks for a watch.
func IsWatch(q url.Values) bool {
	w := strings.ToLower(q.Get("watch"))
	return w == "1" || w == "true"
}

// Match selects requests for Inject and Hold.
type Match func(*http.Request) bool

// PathIs matches requests for exactly this URL path (any method, LIST or WATCH).
func PathIs(path string) Match { return func(r *http.Request) bool { return r.URL.Path == path } }

// ListOf matches LIST requests (GET without watch) for path.
func ListOf(path string) Match {
	return func(r *http.Request) bool {
		return r.URL.Path == path && r.Method == http.MethodGet && !IsWatch(r.URL.Query())
	}
}

// WatchOf matches WATCH requests for path.
func WatchOf(path string) Match {
	return func(r *http.Request) bool {
		return r.URL.Path == path && r.Method == http.MethodGet && IsWatch(r.URL.Query())
	}
}

// And matches when all of ms match.
func And(ms ...Match) Match {
	return func(r *http.Request) bool {
		for _, m := range ms {
			if !m(r) {
				return false
			}
		}
		return true
	}
}

// HasParam matches requests whose query has a non-empty value for key.
func HasParam(key string) Match {
	return func(r *http.Request) bool { return r.URL.Query().Get(key) != "" }
}

type injection struct {
	match   Match
	left    int
	status  int
	headers map[string]string
	body    []byte
}

type hold struct {
	match   Match
	release chan struct{}
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	URL    string // https://127.0.0.1:<port>
	CAFile string // CA that signed the proxy's serving certificate (the cluster CA)

	backend   *url.URL
	transport *http.Transport
	rp        *httputil.ReverseProxy
	srv       *http.Server
	ln        net.Listener

	mu         sync.Mutex
	conns      map[*trackedConn]struct{}
	cut        bool
	injections []*injection
	hold       *hold
	heldNow    int
	heldCond   *sync.Cond
	entries    []*Entry

	split      atomic.Bool
	splitBytes atomic.Int64 // bytes written one at a time
	refused    atomic.Int64 // connections reset while cut
	dropped    atomic.Int64 // connections closed by Cut / DropConnections
}

// Start starts a proxy in front of c's kube-apiserver on 127.0.0.1 (a free port)
// with a serving certificate for 127.0.0.1 signed by the cluster CA. It is closed
// by t.Cleanup; if the test failed, the tail of the request log is printed.
func Start(t testing.TB, c *cluster.Cluster) *Proxy {
	t.Helper()
	certFile, keyFile := c.IssueCert(t, "faultproxy", nil, true)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificates in %s", c.CAFile)
	}
	backend, err := url.Parse(c.APIServerURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{CAFile: c.CAFile, backend: backend, conns: map[*trackedConn]struct{}{}}
	p.heldCond = sync.NewCond(&p.mu)
	p.transport = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		TLSHandshakeTimeout: 5 * time.Second,
		// Pass Accept-Encoding and compressed bodies through untouched.
		DisableCompression:  true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			pr.Out.Host = backend.Host
			// Authorization and everything else are passed through unchanged
			// (Rewrite does not add X-Forwarded-* unless asked to).
		},
		Transport:     p.transport,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// Backend unreachable, or the request was cancelled: behave like a
			// dead server (no response at all), not like a gateway (502).
			if e, ok := r.Context().Value(entryKey{}).(*Entry); ok {
				p.mu.Lock()
				e.Err = "backend: " + err.Error()
				p.mu.Unlock()
			}
			panic(http.ErrAbortHandler)
		},
	}

	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.ln = &listener{Listener: raw, p: p, cfg: &tls.Config{
		Certificates: []tls.Certificate{pair},
		NextProtos:   []string{"http/1.1"},
	}}
	p.URL = "https://" + raw.Addr().String()
	p.srv = &http.Server{
		Handler:           p,
		ErrorLog:          log.New(io.Discard, "", 0),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       connContext,
		// No HTTP/2 (the exporter speaks HTTP/1.1; this keeps one request per
		// connection at a time, so that closing connections breaks streams).
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	go func() { _ = p.srv.Serve(p.ln) }()
	t.Cleanup(func() {
		p.Close()
		if t.Failed() {
			t.Logf("fault proxy %s request log (last 60):\n%s", p.URL, p.FormatLog(60))
		}
	})
	return p
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.Release()
	_ = p.srv.Close()
	p.closeConns()
	p.transport.CloseIdleConnections()
}

// WriteKubeconfig writes a kubeconfig pointing at the proxy (with the cluster CA)
// and the given credentials.
func (p *Proxy) WriteKubeconfig(c *cluster.Cluster, path string, auth cluster.KubeconfigAuth) error {
	auth.Server = p.URL
	return c.WriteKubeconfig(path, auth)
}

// --- listener -----------------------------------------------------------------

type listener struct {
	net.Listener
	p   *Proxy
	cfg *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, p: l.p}
		l.p.mu.Lock()
		cut := l.p.cut
		if !cut {
			l.p.conns[tc] = struct{}{}
		}
		l.p.mu.Unlock()
		if cut {
			l.p.refused.Add(1)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST
			}
			_ = c.Close()
			continue
		}
		return tls.Server(tc, l.cfg), nil
	}
}

// trackedConn is a client connection (TCP, below TLS).
type trackedConn struct {
	net.Conn
	p       *Proxy
	once    sync.Once
	dropped atomic.Bool // closed by Cut or DropConnections
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	})
	return c.Conn.Close()
}

type connKey struct{}

// connContext remembers the tracked connection of each request.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		if t, ok := tc.NetConn().(*trackedConn); ok {
			return context.WithValue(ctx, connKey{}, t)
		}
	}
	return ctx
}

func (p *Proxy) closeConns() int {
	p.mu.Lock()
	conns := make([]*trackedConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.dropped.Store(true)
		_ = c.Close()
	}
	p.dropped.Add(int64(len(conns)))
	return len(conns)
}

// --- faults -------------------------------------------------------------------

// Cut closes every open client connection (breaking watches mid-stream) and
// resets every new connection right after accept until Restore. It returns the
// number of connections closed.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
	n := p.closeConns()
	p.transport.CloseIdleConnections()
	return n
}

// Restore ends a Cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// IsCut reports whether the proxy is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// DropConnections closes every open client connection once; new connections
// are accepted as usual. It returns the number of connections closed.
func (p *Proxy) DropConnections() int { return p.closeConns() }

// Inject answers the next n requests that match with status and headers (and a
// Kubernetes Status body) instead of forwarding them. n < 0 means until
// ClearInjections.
func (p *Proxy) Inject(match Match, n int, status int, headers map[string]string) {
	p.InjectBody(match, n, status, headers, StatusBody(status, ""))
}

// InjectBody is Inject with an explicit body (sent as application/json).
func (p *Proxy) InjectBody(match Match, n int, status int, headers map[string]string, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.injections = append(p.injections, &injection{match: match, left: n, status: status, headers: headers, body: body})
}

// ClearInjections removes all pending injections.
func (p *Proxy) ClearInjections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.injections = nil
}

// StatusBody is a metav1.Status body like kube-apiserver sends with an error
// status (reason from the code; message defaults to the reason).
func StatusBody(code int, message string) []byte {
	reasons := map[int]string{
		400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
		409: "Conflict", 410: "Expired", 422: "Invalid", 429: "TooManyRequests",
		500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
	}
	reason := reasons[code]
	if message == "" {
		message = fmt.Sprintf("injected by the test proxy: %d %s", code, http.StatusText(code))
	}
	b, _ := json.Marshal(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code,
	})
	return append(b, '\n')
}

// Hold makes matching requests wait (before they are forwarded) until Release.
// A second Hold replaces the first one's matcher; requests already held stay
// held until Release.
func (p *Proxy) Hold(match Match) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold == nil {
		p.hold = &hold{release: make(chan struct{})}
	}
	p.hold.match = match
}

// Release lets every held request through and ends the Hold.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold != nil {
		close(p.hold.release)
		p.hold = nil
	}
}

// WaitHeld waits until at least n requests are being held; false on timeout.
func (p *Proxy) WaitHeld(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.heldNow < n {
		if time.Now().After(deadline) {
			return false
		}
		p.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		p.mu.Lock()
	}
	return true
}

// SplitBytes switches one-byte writes of response bodies on or off; it takes
// effect at the next write, also for streams already open.
func (p *Proxy) SplitBytes(on bool) { p.split.Store(on) }

// SplitBytesWritten is the number of body bytes written one at a time so far.
func (p *Proxy) SplitBytesWritten() int64 { return p.splitBytes.Load() }

// Refused is the number of connections reset while cut; Dropped the number
// closed by Cut and DropConnections.
func (p *Proxy) Refused() int64 { return p.refused.Load() }

// Dropped is the number of connections closed by Cut and DropConnections.
func (p *Proxy) Dropped() int64 { return p.dropped.Load() }

// --- request log --------------------------------------------------------------

// Entries returns a copy of the request log (oldest first).
func (p *Proxy) Entries() []Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Entry, len(p.entries))
	for i, e := range p.entries {
		out[i] = *e
	}
	return out
}

// Filter returns the log entries for which f is true.
func (p *Proxy) Filter(f func(Entry) bool) []Entry {
	var out []Entry
	for _, e := range p.Entries() {
		if f(e) {
			out = append(out, e)
		}
	}
	return out
}

// Count is len(Filter(f)).
func (p *Proxy) Count(f func(Entry) bool) int { return len(p.Filter(f)) }

// Lists counts LIST requests (GET, no watch) for path; Watches counts WATCH ones.
func (p *Proxy) Lists(path string) int {
	return p.Count(func(e Entry) bool { return e.Path == path && e.IsList() })
}

// Watches counts WATCH requests for path.
func (p *Proxy) Watches(path string) int {
	return p.Count(func(e Entry) bool { return e.Path == path && e.Method == http.MethodGet && e.Watch })
}

// FormatLog renders the last n entries (all if n <= 0), one per line.
func (p *Proxy) FormatLog(n int) string {
	es := p.Entries()
	if n > 0 && len(es) > n {
		es = es[len(es)-n:]
	}
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Fingerprint is the AuthFP of a request carrying "Authorization: Bearer <token>".
func Fingerprint(token string) string { return fp("Bearer " + token) }

func fp(auth string) string {
	if auth == "" {
		return ""
	}
	s := sha256.Sum256([]byte(auth))
	return hex.EncodeToString(s[:6])
}

// --- handler ------------------------------------------------------------------

type entryKey struct{}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	e := &Entry{
		Start: time.Now(), Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Query: q, Watch: IsWatch(q), AuthFP: fp(r.Header.Get("Authorization")),
	}
	p.mu.Lock()
	e.Seq = len(p.entries)
	p.entries = append(p.entries, e)
	p.mu.Unlock()

	rec := &recorder{ResponseWriter: w, p: p, e: e}
	defer func() {
		v := recover()
		p.mu.Lock()
		e.End = time.Now()
		tc, _ := r.Context().Value(connKey{}).(*trackedConn)
		if tc != nil && tc.dropped.Load() {
			// Its connection was closed under it (the copy may or may not have
			// noticed before the backend side ended).
			e.Err = "dropped by proxy"
		} else if v != nil && e.Err == "" {
			switch {
			case r.Context().Err() != nil:
				e.Err = "client gone"
			case e.Status != 0:
				e.Err = "stream broken"
			default:
				e.Err = "aborted"
			}
		}
		p.mu.Unlock()
		if v != nil {
			panic(v)
		}
	}()

	p.mu.Lock()
	cut := p.cut
	var inj *injection
	for i, in := range p.injections {
		if in.match(r) {
			inj = in
			if in.left > 0 {
				in.left--
				if in.left == 0 {
					p.injections = append(p.injections[:i:i], p.injections[i+1:]...)
				}
			}
			break
		}
	}
	h := p.hold
	held := h != nil && h.match != nil && h.match(r)
	p.mu.Unlock()

	if cut {
		p.setErr(e, "cut")
		panic(http.ErrAbortHandler)
	}
	if inj != nil {
		p.mu.Lock()
		e.Injected = true
		p.mu.Unlock()
		for k, v := range inj.headers {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		rec.WriteHeader(inj.status)
		_, _ = rec.Write(inj.body)
		return
	}
	if held {
		t0 := time.Now()
		p.mu.Lock()
		p.heldNow++
		p.mu.Unlock()
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
		p.mu.Lock()
		p.heldNow--
		e.Held = time.Since(t0)
		cut = p.cut
		p.mu.Unlock()
		if r.Context().Err() != nil {
			p.setErr(e, "client gone while held")
			panic(http.ErrAbortHandler)
		}
		if cut {
			p.setErr(e, "cut")
			panic(http.ErrAbortHandler)
		}
	}
	ctx := context.WithValue(r.Context(), entryKey{}, e)
	p.rp.ServeHTTP(rec, r.WithContext(ctx))
}

func (p *Proxy) setErr(e *Entry, msg string) {
	p.mu.Lock()
	e.Err = msg
	p.mu.Unlock()
}

// recorder records the status and byte count and implements SplitBytes.
type recorder struct {
	http.ResponseWriter
	p     *Proxy
	e     *Entry
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.wrote = true
		r.p.mu.Lock()
		r.e.Status = code
		r.p.mu.Unlock()
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	if !r.p.split.Load() {
		n, err := r.ResponseWriter.Write(b)
		r.count(n)
		return n, err
	}
	rc := http.NewResponseController(r.ResponseWriter)
	for i := range b {
		n, err := r.ResponseWriter.Write(b[i : i+1])
		r.count(n)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return i + n, err
		}
		r.p.splitBytes.Add(1)
	}
	return len(b), nil
}

func (r *recorder) count(n int) {
	r.p.mu.Lock()
	r.e.Bytes += int64(n)
	r.p.mu.Unlock()
}

func (r *recorder) Flush() {
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
