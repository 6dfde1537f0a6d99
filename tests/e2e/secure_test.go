package e2e

// Secure serving (issue 6): TLS, TokenReview/SubjectAccessReview and client
// certificates against the real control plane, with the RBAC from
// manifests/base applied as shipped.
//
// Tokens used here:
//   - real TokenRequest tokens (reader, stranger, another audience);
//   - an expired token: there is no way to get one from the API (TokenRequest's
//     minimum lifetime is 10 min), so the test signs one itself with the
//     cluster's service-account signing key (pki/sa.key), copying the claims of
//     a real token of the same ServiceAccount and moving iat/nbf/exp an hour
//     into the past. TokenReview is asked directly to confirm the API server
//     rejects it, and a twin signed the same way but not expired is accepted,
//     so the 401 is about the expiry and nothing else;
//   - a revoked token: bound to a Secret (BoundObjectRef) that is then deleted.

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
)

var gizmo = cluster.CRDSpec{Group: "secure.example.com", Version: "v1", Kind: "Gizmo", Namespaced: true}

const (
	secNS        = "csm-sec"
	readerRole   = "crd-state-metrics-metrics-reader" // manifests/base/metrics-reader-clusterrole.yaml
	authRole     = "crd-state-metrics-auth"           // manifests/base/auth-rbac.yaml
	readersGroup = "csm-metrics-readers"              // O of the client certificate that may read
	realm        = `Bearer realm="crd-state-metrics"`
)

// secRig is what every secure-serving test needs: an exporter identity allowed to
// list gizmos and to create reviews, a reader bound to the metrics-reader role,
// a stranger bound to nothing, and a serving certificate from the cluster CA.
type secRig struct {
	c                 *cluster.Cluster
	certFile, keyFile string
	exporterID        *cluster.Identity
	reader, stranger  *cluster.Identity
	ca                *x509.CertPool
	observed          []string // "what -> status" lines for the test log
	env               []string // extra environment for the exporters it starts
}

func newSecRig(t *testing.T) *secRig {
	t.Helper()
	c := cluster.Get(t)
	r := &secRig{c: c}
	c.EnsureNamespace(t, secNS)
	c.EnsureCRD(t, gizmo)
	c.DeleteAllObjects(t, gizmo)
	c.CreateObject(t, gizmo, gizmo.Object(secNS, "g1", nil, map[string]any{"size": 1}))

	// The shipped RBAC, applied as is.
	for _, f := range []string{"auth-rbac.yaml", "metrics-reader-clusterrole.yaml"} {
		c.Kubectl(t, "apply", "-f", filepath.Join(cluster.RepoRoot(), "manifests", "base", f))
	}
	r.exporterID = c.NewServiceAccount(t, secNS, "exporter", cluster.TokenOptions{Lifetime: time.Hour})
	c.GrantClusterRole(t, r.exporterID, "csm-sec-gizmos", rbacv1.PolicyRule{
		APIGroups: []string{gizmo.Group}, Resources: []string{"gizmos"}, Verbs: []string{"list", "watch"}})
	bindClusterRole(t, c, authRole, "csm-sec-exporter-auth", saSubject(r.exporterID))
	for _, res := range []struct{ group, resource string }{
		{"authentication.k8s.io", "tokenreviews"}, {"authorization.k8s.io", "subjectaccessreviews"}} {
		cluster.Eventually(t, 10*time.Second, 50*time.Millisecond, "exporter may create "+res.resource, func() (bool, error) {
			return c.Allowed(context.Background(), r.exporterID.Username, saGroups(r.exporterID), "create", res.group, res.resource, "")
		})
	}
	r.reader = c.NewServiceAccount(t, secNS, "reader", cluster.TokenOptions{Lifetime: time.Hour})
	r.stranger = c.NewServiceAccount(t, secNS, "stranger", cluster.TokenOptions{Lifetime: time.Hour})
	bindClusterRole(t, c, readerRole, "csm-sec-reader", saSubject(r.reader))
	bindClusterRole(t, c, readerRole, "csm-sec-readers-group",
		rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: readersGroup})
	waitNonResource(t, c, r.reader.Username, saGroups(r.reader), true)
	waitNonResource(t, c, "cert-reader", []string{readersGroup, "system:authenticated"}, true)
	waitNonResource(t, c, r.stranger.Username, saGroups(r.stranger), false)

	r.certFile, r.keyFile = c.IssueCert(t, "crd-state-metrics", nil, true)
	pemCA, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	r.ca = x509.NewCertPool()
	if !r.ca.AppendCertsFromPEM(pemCA) {
		t.Fatal("cluster CA: no certificate")
	}
	return r
}

func saSubject(id *cluster.Identity) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: id.Namespace, Name: id.Name}
}

func saGroups(id *cluster.Identity) []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + id.Namespace, "system:authenticated"}
}

func bindClusterRole(t *testing.T, c *cluster.Cluster, role, name string, subj rbacv1.Subject) {
	t.Helper()
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{subj},
	}
	_, err := c.Client.RbacV1().ClusterRoleBindings().Create(context.Background(), crb, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("bind %s: %v", role, err)
	}
}

// waitNonResource waits until the authorizer says `want` for GET /metrics.
func waitNonResource(t *testing.T, c *cluster.Cluster, user string, groups []string, want bool) {
	t.Helper()
	cluster.Eventually(t, 10*time.Second, 50*time.Millisecond, fmt.Sprintf("%s get /metrics == %v", user, want), func() (bool, error) {
		sar, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authzv1.SubjectAccessReview{
			Spec: authzv1.SubjectAccessReviewSpec{User: user, Groups: groups,
				NonResourceAttributes: &authzv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return sar.Status.Allowed == want, nil
	})
}

// secExporter is a running exporter serving TLS with access control.
type secExporter struct {
	*exporter.Exporter
	url, turl string // https://127.0.0.1:<port>
}

// start runs the exporter with TLS (certFile/keyFile, or the rig's), the cluster CA
// for client certificates, --auth=kubernetes and extra flags, and waits for
// /readyz (always allowed) over TLS.
func (r *secRig) start(t *testing.T, certFile, keyFile string, extra ...string) *secExporter {
	t.Helper()
	if certFile == "" {
		certFile, keyFile = r.certFile, r.keyFile
	}
	args := append([]string{"--tls-cert-file", certFile, "--tls-private-key-file", keyFile,
		"--client-ca-file", r.c.CAFile, "--auth=kubernetes", "--log-level=debug"}, extra...)
	e := exporter.Start(t, exporter.Options{
		Kubeconfig: r.exporterID.Kubeconfig,
		Resources:  []string{"secure.example.com/v1/Gizmo"},
		Args:       args,
		Env:        r.env,
	})
	se := &secExporter{Exporter: e,
		url:  fmt.Sprintf("https://127.0.0.1:%d", e.Port),
		turl: fmt.Sprintf("https://127.0.0.1:%d", e.TelemetryPort)}
	cl := r.client(nil, nil)
	cluster.Eventually(t, 30*time.Second, 50*time.Millisecond, "exporter /readyz over TLS", func() (bool, error) {
		st, _, _, err := get(cl, se.url+"/readyz", "")
		if err != nil {
			return false, err
		}
		return st == http.StatusOK, fmt.Errorf("HTTP %d", st)
	})
	return se
}

// client is an HTTPS client that trusts the cluster CA, presents cert (if any)
// and lets tweak adjust the TLS configuration.
func (r *secRig) client(cert *tls.Certificate, tweak func(*tls.Config)) *http.Client {
	cfg := &tls.Config{RootCAs: r.ca}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	if tweak != nil {
		tweak(cfg)
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: cfg, DisableKeepAlives: true, DisableCompression: true}}
}

func get(cl *http.Client, url, token string) (int, string, *http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp, err
}

// expect does one GET and checks its status (0: a transport/TLS error wanted).
func (r *secRig) expect(t *testing.T, what string, cl *http.Client, url, token string, want int) (string, *http.Response) {
	t.Helper()
	st, body, resp, err := get(cl, url, token)
	note := ""
	if err != nil {
		note = " (" + exporter.Redact(err.Error()) + ")"
	}
	r.observed = append(r.observed, fmt.Sprintf("%-58s -> %d%s", what, st, note))
	if want == 0 {
		if err == nil {
			t.Errorf("%s: wanted a refused connection, got HTTP %d", what, st)
		}
		return "", nil
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if st != want {
		t.Errorf("%s: HTTP %d, want %d; body %.300q", what, st, want, body)
	}
	return body, resp
}

func (r *secRig) report(t *testing.T) {
	t.Logf("observed:\n  %s", strings.Join(r.observed, "\n  "))
}

// --- tokens ----------------------------------------------------------------------

// forgeToken re-signs a real service-account token of the same cluster with
// changed claims, using the API server's signing key.
func forgeToken(t *testing.T, c *cluster.Cluster, real string, edit func(claims map[string]any)) string {
	t.Helper()
	parts := strings.Split(real, ".")
	if len(parts) != 3 {
		t.Fatal("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	claims["jti"] = hex.EncodeToString(jti)
	edit(claims)
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload)
	der, err := os.ReadFile(filepath.Join(c.Dir, "pki", "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(der)
	if blk == nil {
		t.Fatal("sa.key: no PEM")
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		key, _ = k.(*rsa.PrivateKey)
	} else if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		key = k
	}
	if key == nil {
		t.Fatal("sa.key: not an RSA key")
	}
	h := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// lifetime sets iat/nbf to from and exp to until.
func lifetime(from, until time.Time) func(map[string]any) {
	return func(c map[string]any) {
		c["iat"], c["nbf"], c["exp"] = from.Unix(), from.Unix(), until.Unix()
	}
}

func tokenReview(t *testing.T, c *cluster.Cluster, token string) (bool, string) {
	t.Helper()
	st, err := c.TokenReview(context.Background(), token)
	if err != nil {
		t.Fatalf("TokenReview: %v", err)
	}
	return st.Authenticated, st.Error
}

// --- certificates ----------------------------------------------------------------

// clientCert is a client certificate for user cn in groups orgs, signed by the
// cluster CA (which the exporter gets as --client-ca-file).
func clientCert(t *testing.T, c *cluster.Cluster, cn string, orgs ...string) *tls.Certificate {
	t.Helper()
	certFile, keyFile := c.IssueCert(t, cn, orgs, false)
	p, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &p
}

// foreignClientCert is a client certificate with the reader's subject, signed by
// a CA the exporter has never heard of.
func foreignClientCert(t *testing.T) *tls.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "impostor CA"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject:   pkix.Name{CommonName: "cert-reader", Organization: []string{readersGroup}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:8])
}

func certFingerprint(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", certFile)
	}
	return fingerprint(blk.Bytes)
}

// servedFingerprint opens a new TLS connection and returns the fingerprint of
// the certificate the exporter serves on it.
func (r *secRig) servedFingerprint(port int) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp",
		net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{RootCAs: r.ca})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return fingerprint(conn.ConnectionState().PeerCertificates[0].Raw), nil
}

// telemetry fetches the telemetry port's /metrics (which needs a token too).
func (r *secRig) telemetry(t *testing.T, e *secExporter) exporter.Samples {
	t.Helper()
	st, body, _, err := get(r.client(nil, nil), e.turl+"/metrics", r.reader.Token)
	if err != nil || st != http.StatusOK {
		t.Fatalf("telemetry: HTTP %d, %v", st, err)
	}
	ss, err := exporter.ParseSamples(body)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// assertNoSecrets fails if any of the tokens appears in the exporter's log.
func assertNoSecrets(t *testing.T, e *secExporter, tokens ...string) {
	t.Helper()
	raw, err := os.ReadFile(e.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range tokens {
		if tok != "" && strings.Contains(string(raw), tok) {
			t.Errorf("token #%d appears in the exporter's log", i)
		}
	}
	// Half a token would be as bad: no JWT-shaped string at all.
	if exporter.Redact(string(raw)) != string(raw) {
		t.Error("the exporter's log contains something shaped like a JWT")
	}
}

// --- tests ---------------------------------------------------------------------

// TestSecureAccess: every way in, and the status each one gets.
func TestSecureAccess(t *testing.T) {
	r := newSecRig(t)
	c := r.c
	defer r.report(t)
	// A short token TTL so that the revoked token's 401 shows within seconds.
	e := r.start(t, "", "", "--auth-cache-ttl-token=2s")
	cl := r.client(nil, nil)

	body, _ := r.expect(t, "ServiceAccount bound to metrics-reader", cl, e.url+"/metrics", r.reader.Token, 200)
	if !strings.Contains(body, `gizmo_info{namespace="csm-sec",gizmo="g1"} 1`) {
		t.Errorf("/metrics lacks the gizmo:\n%s", body)
	}
	r.expect(t, "same token again (cached)", cl, e.url+"/metrics", r.reader.Token, 200)
	r.expect(t, "same token, telemetry port", cl, e.turl+"/metrics", r.reader.Token, 200)
	r.expect(t, "ServiceAccount without a binding", cl, e.url+"/metrics", r.stranger.Token, 403)
	_, resp := r.expect(t, "no token", cl, e.url+"/metrics", "", 401)
	if resp != nil && resp.Header.Get("WWW-Authenticate") != realm {
		t.Errorf("401 WWW-Authenticate %q, want %q", resp.Header.Get("WWW-Authenticate"), realm)
	}
	r.expect(t, "no token, telemetry port", cl, e.turl+"/metrics", "", 401)
	garbage := "not-a-token-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	r.expect(t, "garbage token", cl, e.url+"/metrics", garbage, 401)
	r.expect(t, "no token, /healthz (always allowed)", cl, e.url+"/healthz", "", 200)
	r.expect(t, "no token, /readyz (always allowed)", cl, e.url+"/readyz", "", 200)
	r.expect(t, "stranger, unknown path (authz before 404)", cl, e.url+"/nope", r.stranger.Token, 403)
	r.expect(t, "reader, unknown path", cl, e.url+"/nope", r.reader.Token, 403)

	// Expired: signed by the cluster's key an hour ago, expired 50 minutes ago.
	now := time.Now()
	expired := forgeToken(t, c, r.reader.Token, lifetime(now.Add(-time.Hour), now.Add(-50*time.Minute)))
	twin := forgeToken(t, c, r.reader.Token, lifetime(now.Add(-time.Minute), now.Add(50*time.Minute)))
	if ok, why := tokenReview(t, c, expired); ok {
		t.Fatal("the API server accepts the expired token")
	} else {
		t.Logf("TokenReview of the expired token: %s", why)
	}
	if ok, why := tokenReview(t, c, twin); !ok {
		t.Fatalf("the API server rejects the unexpired twin of the expired token: %s", why)
	}
	r.expect(t, "expired token (exp 50 min ago)", cl, e.url+"/metrics", expired, 401)
	r.expect(t, "its unexpired twin, signed the same way", cl, e.url+"/metrics", twin, 200)

	// Another audience: valid for someone else, not for the API server's audiences.
	other, _, err := c.RequestToken(context.Background(), secNS, r.reader.Name,
		cluster.TokenOptions{Audiences: []string{"https://other.example"}, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := tokenReview(t, c, other); ok {
		t.Fatal("the API server accepts the other-audience token for its own audiences")
	}
	r.expect(t, "token for another audience", cl, e.url+"/metrics", other, 401)

	// Revoked: bound to a Secret that is then deleted.
	revokee := c.NewServiceAccount(t, secNS, "revokee", cluster.TokenOptions{Lifetime: time.Hour})
	bindClusterRole(t, c, readerRole, "csm-sec-revokee", saSubject(revokee))
	waitNonResource(t, c, revokee.Username, saGroups(revokee), true)
	secret := revokee.RotateBoundToken(t)
	revoked := revokee.Token
	r.expect(t, "Secret-bound token, Secret present", cl, e.url+"/metrics", revoked, 200)
	c.DeleteSecret(t, secNS, secret)
	c.WaitTokenInvalid(t, revoked, 30*time.Second)
	took := cluster.Eventually(t, 10*time.Second, 200*time.Millisecond, "revoked token refused", func() (bool, error) {
		st, _, _, err := get(cl, e.url+"/metrics", revoked)
		return st == 401, err
	})
	r.expect(t, fmt.Sprintf("Secret-bound token, Secret deleted (after %v)", took.Round(100*time.Millisecond)),
		cl, e.url+"/metrics", revoked, 401)

	// Client certificates from the cluster CA: CN is the user, O the groups.
	certReader := clientCert(t, r.c, "cert-reader", readersGroup)
	certStranger := clientCert(t, r.c, "cert-stranger", "nobody")
	r.expect(t, "client cert, O bound to metrics-reader", r.client(certReader, nil), e.url+"/metrics", "", 200)
	r.expect(t, "client cert, no binding", r.client(certStranger, nil), e.url+"/metrics", "", 403)
	r.expect(t, "client cert, no binding, valid reader token too", r.client(certStranger, nil),
		e.url+"/metrics", r.reader.Token, 403) // the certificate counts first, as in kube-apiserver
	// Go's client only sends a certificate that matches the CAs the server asks
	// for; force it onto the wire, as a client determined to get in would.
	foreign := foreignClientCert(t)
	force := func(c *tls.Config) {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return foreign, nil }
	}
	r.expect(t, "client cert from another CA (refused in the handshake)",
		r.client(nil, force), e.url+"/metrics", r.reader.Token, 0)
	_, _, _, err = get(r.client(nil, force), e.url+"/healthz", "")
	if err == nil || !strings.Contains(err.Error(), "unknown certificate authority") {
		t.Errorf("foreign client certificate: %v, want the server's unknown-CA alert", err)
	}

	ss := r.telemetry(t, e)
	for _, want := range []struct {
		name string
		lbl  []string
	}{
		{"crd_state_metrics_authn_total", []string{"result", "authenticated"}},
		{"crd_state_metrics_authn_total", []string{"result", "unauthenticated"}},
		{"crd_state_metrics_authn_total", []string{"result", "no_credentials"}},
		{"crd_state_metrics_authz_total", []string{"result", "allowed"}},
		{"crd_state_metrics_authz_total", []string{"result", "denied"}},
		{"crd_state_metrics_auth_cache_lookups_total", []string{"cache", "token", "result", "hit"}},
		{"crd_state_metrics_auth_cache_lookups_total", []string{"cache", "access", "hit"}},
	} {
		if ss.Sum(want.name, want.lbl...) < 1 {
			t.Errorf("telemetry: no %s%v", want.name, want.lbl)
		}
	}
	t.Logf("auth telemetry:\n%s", ss.Grep("crd_state_metrics_auth"))
	assertNoSecrets(t, e, r.reader.Token, r.stranger.Token, garbage, expired, twin, other, revoked)
}

// TestSecureAudience: with --auth-token-audiences only tokens issued for that
// audience get in; the API server's own tokens do not.
func TestSecureAudience(t *testing.T) {
	r := newSecRig(t)
	defer r.report(t)
	e := r.start(t, "", "", "--auth-token-audiences=crd-state-metrics")
	cl := r.client(nil, nil)
	mine, _, err := r.c.RequestToken(context.Background(), secNS, r.reader.Name,
		cluster.TokenOptions{Audiences: []string{"crd-state-metrics"}, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r.expect(t, "token for audience crd-state-metrics", cl, e.url+"/metrics", mine, 200)
	r.expect(t, "token for the API server's audiences", cl, e.url+"/metrics", r.reader.Token, 401)
	assertNoSecrets(t, e, mine, r.reader.Token)
}

// TestSecureCacheCappedByTokenExpiry: a token's cache entry ends at the token's
// exp even though the token TTL (default 1 min) is longer: the next request
// after exp is a cache miss, i.e. a fresh TokenReview.
func TestSecureCacheCappedByTokenExpiry(t *testing.T) {
	r := newSecRig(t)
	defer r.report(t)
	e := r.start(t, "", "") // default TTLs: token 1m
	cl := r.client(nil, nil)
	now := time.Now()
	exp := now.Add(6 * time.Second)
	short := forgeToken(t, r.c, r.reader.Token, lifetime(now.Add(-time.Second), exp))
	misses := func() float64 {
		return r.telemetry(t, e).Sum("crd_state_metrics_auth_cache_lookups_total", "cache", "token", "result", "miss")
	}
	base := misses() // the telemetry fetch itself used the reader's token
	r.expect(t, "token expiring in 6 s", cl, e.url+"/metrics", short, 200)
	r.expect(t, "same token 1 s later", cl, e.url+"/metrics", short, 200)
	if got := misses() - base; got != 1 {
		t.Errorf("token cache misses before exp: %v, want 1 (one TokenReview)", got)
	}
	time.Sleep(time.Until(exp) + 1500*time.Millisecond)
	st, _, _, err := get(cl, e.url+"/metrics", short)
	if err != nil {
		t.Fatal(err)
	}
	r.observed = append(r.observed, fmt.Sprintf("%-58s -> %d", "same token 1.5 s after its exp", st))
	if got := misses() - base; got != 2 {
		t.Errorf("token cache misses after exp: %v, want 2 (the entry ended at exp, not after the 1 min TTL)", got)
	}
	// What the answer is after exp is the API server's call (it allows some clock
	// leeway); the exporter never answers from a cache entry older than exp.
	ok, why := tokenReview(t, r.c, short)
	t.Logf("after exp: exporter HTTP %d, TokenReview authenticated=%v %s", st, ok, why)
	if (st == 200) != ok {
		t.Errorf("exporter HTTP %d but the API server says authenticated=%v", st, ok)
	}
}

// TestSecureAPIServerOutage: with the API server stopped, requests fail closed
// with 503 once the (short) cache TTLs have run out, and succeed again when it
// is back. An exporter with --auth-stale-if-error keeps answering from its
// expired entries meanwhile.
func TestSecureAPIServerOutage(t *testing.T) {
	r := newSecRig(t)
	defer r.report(t)
	ttls := []string{"--auth-cache-ttl-token=1s", "--auth-cache-ttl-allowed=1s", "--auth-cache-ttl-denied=1s",
		"--auth-timeout=3s"}
	strict := r.start(t, "", "", ttls...)
	lenient := r.start(t, "", "", append(ttls, "--auth-stale-if-error=10m")...)
	cl := r.client(nil, nil)
	certReader := clientCert(t, r.c, "cert-reader", readersGroup)
	r.expect(t, "strict: before the outage", cl, strict.url+"/metrics", r.reader.Token, 200)
	r.expect(t, "lenient: before the outage", cl, lenient.url+"/metrics", r.reader.Token, 200)
	r.expect(t, "lenient: stranger before the outage", cl, lenient.url+"/metrics", r.stranger.Token, 403)
	r.expect(t, "strict: client cert before the outage", r.client(certReader, nil), strict.url+"/metrics", "", 200)

	r.c.StopAPIServer(t)
	stopped := true
	defer func() {
		if stopped {
			r.c.StartAPIServer(t)
		}
	}()
	time.Sleep(1500 * time.Millisecond) // every cache entry has expired
	for i := 0; i < 3; i++ {
		body, _ := r.expect(t, "strict: API server down, cache expired", cl, strict.url+"/metrics", r.reader.Token, 503)
		if i == 0 && !strings.Contains(body, "API server") {
			t.Errorf("503 body %q does not say why", body)
		}
	}
	r.expect(t, "strict: client cert, API server down", r.client(certReader, nil), strict.url+"/metrics", "", 503)
	r.expect(t, "strict: no token, API server down", cl, strict.url+"/metrics", "", 401)
	r.expect(t, "strict: /healthz, API server down", cl, strict.url+"/healthz", "", 200)
	r.expect(t, "lenient: API server down, stale answer used", cl, lenient.url+"/metrics", r.reader.Token, 200)
	r.expect(t, "lenient: stranger, API server down (stale denial)", cl, lenient.url+"/metrics", r.stranger.Token, 403)
	r.expect(t, "lenient: unseen token, API server down", cl, lenient.url+"/metrics", r.reader.Token+"x", 503)

	r.c.StartAPIServer(t)
	stopped = false
	took := cluster.Eventually(t, 60*time.Second, 200*time.Millisecond, "strict exporter answers again", func() (bool, error) {
		st, _, _, err := get(cl, strict.url+"/metrics", r.reader.Token)
		return st == 200, err
	})
	r.expect(t, fmt.Sprintf("strict: API server back (after %v)", took.Round(100*time.Millisecond)),
		cl, strict.url+"/metrics", r.reader.Token, 200)
	if n := r.telemetry(t, lenient).Sum("crd_state_metrics_auth_cache_lookups_total", "result", "stale"); n < 2 {
		t.Errorf("lenient exporter: %v stale answers counted, want at least 2", n)
	}
	if n := r.telemetry(t, strict).Sum("crd_state_metrics_authn_total", "result", "error"); n < 3 {
		t.Errorf("strict exporter: %v authn errors counted, want at least 3", n)
	}
}

// secretDir lays out certificates like a mounted Secret: tls.crt -> ..data/tls.crt,
// ..data -> ..<version>; install swaps ..data in one rename.
type secretDir struct {
	dir string
	n   int
}

func (s *secretDir) install(t *testing.T, cert, key []byte) {
	t.Helper()
	s.n++
	v := fmt.Sprintf("..v%d", s.n)
	if err := os.Mkdir(filepath.Join(s.dir, v), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"tls.crt": cert, "tls.key": key} {
		if err := os.WriteFile(filepath.Join(s.dir, v, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(v, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if s.n == 1 {
		for _, name := range []string{"tls.crt", "tls.key"} {
			if err := os.Symlink(filepath.Join("..data", name), filepath.Join(s.dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSecureCertificateRotation: a certificate swapped on disk (the way kubelet
// updates a Secret volume) is served to new connections while a scrape that was
// in progress on an old connection completes there; a broken replacement leaves
// the current certificate in service and is counted.
func TestSecureCertificateRotation(t *testing.T) {
	r := newSecRig(t)
	defer r.report(t)
	sd := &secretDir{dir: t.TempDir()}
	c1, k1 := r.c.IssueCert(t, "crd-state-metrics", nil, true)
	c2, k2 := r.c.IssueCert(t, "crd-state-metrics", nil, true)
	c3, k3 := r.c.IssueCert(t, "crd-state-metrics", nil, true)
	fp1, fp2, fp3 := certFingerprint(t, c1), certFingerprint(t, c2), certFingerprint(t, c3)
	sd.install(t, readFile(t, c1), readFile(t, k1))
	e := r.start(t, filepath.Join(sd.dir, "tls.crt"), filepath.Join(sd.dir, "tls.key"))
	if got, err := r.servedFingerprint(e.Port); err != nil || got != fp1 {
		t.Fatalf("served %s (%v), want the first certificate %s", got, err, fp1)
	}

	// A scrape in progress: the connection is up and half the request is sent.
	old, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.Port)), &tls.Config{RootCAs: r.ca})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got := fingerprint(old.ConnectionState().PeerCertificates[0].Raw); got != fp1 {
		t.Fatalf("old connection: %s, want %s", got, fp1)
	}
	if _, err := io.WriteString(old, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	sd.install(t, readFile(t, c2), readFile(t, k2))
	took := cluster.Eventually(t, 10*time.Second, 100*time.Millisecond, "new connections get the new certificate", func() (bool, error) {
		got, err := r.servedFingerprint(e.Port)
		return got == fp2, err
	})
	r.observed = append(r.observed, fmt.Sprintf("%-58s -> after %v", "new certificate served to new connections",
		took.Round(100*time.Millisecond)))

	// The rest of the request on the old connection, and a second one there.
	if _, err := io.WriteString(old, "Authorization: Bearer "+r.reader.Token+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(old)
	for i, what := range []string{"scrape in progress on the old connection", "next scrape on the old connection"} {
		if i == 1 {
			fmt.Fprintf(old, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", r.reader.Token)
		}
		_ = old.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		r.observed = append(r.observed, fmt.Sprintf("%-58s -> %d (%d bytes, %v after the swap)", what,
			resp.StatusCode, len(body), time.Since(t0).Round(100*time.Millisecond)))
		if resp.StatusCode != 200 || !strings.Contains(string(body), "gizmo_info{") {
			t.Errorf("%s: HTTP %d %.200q", what, resp.StatusCode, body)
		}
	}
	if got := fingerprint(old.ConnectionState().PeerCertificates[0].Raw); got != fp1 {
		t.Errorf("old connection now shows %s, want still %s", got, fp1)
	}

	// A broken replacement: a certificate without its key.
	sd.install(t, readFile(t, c3), readFile(t, k1))
	cluster.Eventually(t, 10*time.Second, 100*time.Millisecond, "the bad pair is counted", func() (bool, error) {
		return r.telemetry(t, e).Sum("crd_state_metrics_tls_reloads_total", "result", "error") >= 1, nil
	})
	if got, err := r.servedFingerprint(e.Port); err != nil || got != fp2 {
		t.Errorf("after a bad pair: served %s (%v), want still %s", got, err, fp2)
	}
	r.expect(t, "scrape while a bad pair is on disk", r.client(nil, nil), e.url+"/metrics", r.reader.Token, 200)
	if !strings.Contains(e.Logs(), "do not load, still serving the previous certificate") {
		t.Error("the bad pair is not logged")
	}
	// Mended.
	sd.install(t, readFile(t, c3), readFile(t, k3))
	cluster.Eventually(t, 10*time.Second, 100*time.Millisecond, "the mended pair is served", func() (bool, error) {
		got, err := r.servedFingerprint(e.Port)
		return got == fp3, err
	})
	ss := r.telemetry(t, e)
	t.Logf("tls telemetry:\n%s", ss.Grep("crd_state_metrics_tls"))
	if n := ss.Sum("crd_state_metrics_tls_reloads_total", "result", "success"); n != 2 {
		t.Errorf("successful reloads: %v, want 2", n)
	}
}

// TestSecureTLSProtocol: TLS 1.2 and 1.3 only, HTTP/1.1 only, no clear text.
func TestSecureTLSProtocol(t *testing.T) {
	r := newSecRig(t)
	defer r.report(t)
	e := r.start(t, "", "")
	versions := func(min, max uint16) func(*tls.Config) {
		return func(c *tls.Config) { c.MinVersion, c.MaxVersion = min, max }
	}
	r.expect(t, "TLS 1.3", r.client(nil, versions(tls.VersionTLS13, tls.VersionTLS13)), e.url+"/healthz", "", 200)
	r.expect(t, "TLS 1.2", r.client(nil, versions(tls.VersionTLS12, tls.VersionTLS12)), e.url+"/healthz", "", 200)
	r.expect(t, "TLS 1.1 (refused in the handshake)", r.client(nil, versions(tls.VersionTLS11, tls.VersionTLS11)),
		e.url+"/healthz", "", 0)
	_, _, _, err := get(r.client(nil, versions(tls.VersionTLS10, tls.VersionTLS11)), e.url+"/healthz", "")
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.0/1.1 client: %v, want a protocol version alert from the server", err)
	}
	// Offered h2 and http/1.1, the exporter picks http/1.1.
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: r.ca}, ForceAttemptHTTP2: true}}
	_, _, resp, err := get(h2, e.url+"/healthz", "")
	if err != nil {
		t.Fatal(err)
	}
	r.observed = append(r.observed, fmt.Sprintf("%-58s -> %d %s (ALPN %q)", "client offering h2 and http/1.1",
		resp.StatusCode, resp.Proto, resp.TLS.NegotiatedProtocol))
	if resp.Proto != "HTTP/1.1" || resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Errorf("protocol %s, ALPN %q: want HTTP/1.1 only", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
	// An h2-only client gets no protocol and cannot speak HTTP/2 here.
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.Port)),
		&tls.Config{RootCAs: r.ca, NextProtos: []string{"h2"}})
	if err == nil {
		if p := conn.ConnectionState().NegotiatedProtocol; p != "" {
			t.Errorf("h2-only client negotiated %q", p)
		}
		conn.Close()
	}
	// Clear text on the TLS port gets no HTTP answer at all.
	plain := &http.Client{Timeout: 10 * time.Second}
	st, _, _, err := get(plain, fmt.Sprintf("http://127.0.0.1:%d/healthz", e.Port), "")
	r.observed = append(r.observed, fmt.Sprintf("%-58s -> %d (%v)", "clear-text HTTP on the TLS port", st, err))
	if err == nil {
		t.Errorf("clear text answered HTTP %d", st)
	}
}

// TestSecurePrometheus: a real Prometheus scrapes both ports over TLS with a
// bearer token file, verifying the certificate against the cluster CA; its
// targets are up and the gizmo series is queryable. A job with a token that is
// not allowed shows as down with 403.
func TestSecurePrometheus(t *testing.T) {
	r := newSecRig(t)
	defer r.report(t)
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not found (apt-get install prometheus; scripts/e2e does): %v", err)
	}
	e := r.start(t, "", "")
	dir := t.TempDir()
	job := func(name string, port int, tokenFile string) string {
		return fmt.Sprintf(`  - job_name: %s
    scheme: https
    tls_config:
      ca_file: %s
    authorization:
      type: Bearer
      credentials_file: %s
    static_configs:
      - targets: ["127.0.0.1:%d"]
`, name, r.c.CAFile, tokenFile, port)
	}
	cfg := "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n" +
		job("csm", e.Port, r.reader.TokenFile) + job("csm-telemetry", e.TelemetryPort, r.reader.TokenFile) +
		job("csm-stranger", e.Port, r.stranger.TokenFile)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := exporter.FreePort(t)
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(prom, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus log:\n%s", exporter.Redact(string(b)))
		}
	}()
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/", port)

	type target struct {
		Labels    map[string]string `json:"labels"`
		Health    string            `json:"health"`
		LastError string            `json:"lastError"`
		ScrapeURL string            `json:"scrapeUrl"`
	}
	var targets []target
	took := cluster.Eventually(t, 60*time.Second, 500*time.Millisecond, "Prometheus targets scraped", func() (bool, error) {
		var out struct {
			Data struct {
				ActiveTargets []target `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(api+"targets", &out); err != nil {
			return false, err
		}
		targets = out.Data.ActiveTargets
		health := map[string]string{}
		for _, tg := range targets {
			health[tg.Labels["job"]] = tg.Health
		}
		return health["csm"] == "up" && health["csm-telemetry"] == "up" && health["csm-stranger"] == "down",
			fmt.Errorf("targets %v", health)
	})
	for _, tg := range targets {
		r.observed = append(r.observed, fmt.Sprintf("%-58s -> %s %s", "Prometheus job "+tg.Labels["job"]+" "+tg.ScrapeURL,
			tg.Health, tg.LastError))
	}
	t.Logf("targets settled after %v", took.Round(100*time.Millisecond))
	for _, tg := range targets {
		if tg.Labels["job"] == "csm-stranger" && !strings.Contains(tg.LastError, "403") {
			t.Errorf("stranger job: last error %q, want a 403", tg.LastError)
		}
	}
	var q struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	cluster.Eventually(t, 20*time.Second, 500*time.Millisecond, "gizmo_info queryable", func() (bool, error) {
		if err := getJSON(api+"query?query=gizmo_info%7Bjob%3D%22csm%22%7D", &q); err != nil {
			return false, err
		}
		return len(q.Data.Result) == 1 && q.Data.Result[0].Metric["gizmo"] == "g1", fmt.Errorf("result %+v", q.Data.Result)
	})
	assertNoSecrets(t, e, r.reader.Token, r.stranger.Token)
}

func getJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
