package ship

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"crd-state-metrics/tests/e2e/cluster"
)

// SecureServingFlags are the exporter flags of the secure-serving work (TLS on
// the metrics port, TokenReview/SubjectAccessReview authorization).
var SecureServingFlags = []string{"--tls-cert-file", "--tls-private-key-file", "--client-ca-file", "--auth"}

// Help returns the binary's --help output.
func Help(t testing.TB, bin string) []byte {
	t.Helper()
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", bin, err, out)
	}
	return out
}

// HelpLists reports which of flags a --help output defines: a flag line is
// indented at most 6 spaces ("  -h, --help", "      --port PORT"); help
// text is indented 8, so a mention such as "--auth=none" in a flag's
// description does not count.
func HelpLists(help []byte, flags ...string) map[string]bool {
	got := map[string]bool{}
	for _, f := range flags {
		got[f] = regexp.MustCompile(`(?m)^ {0,6}(-[A-Za-z], )?` + regexp.QuoteMeta(f) + `( |$)`).Match(help)
	}
	return got
}

func flagName(arg string) string {
	name, _, _ := strings.Cut(arg, "=")
	return name
}

// IsSecureServingArg reports whether arg is one of SecureServingFlags.
func IsSecureServingArg(arg string) bool {
	for _, f := range SecureServingFlags {
		if flagName(arg) == f {
			return true
		}
	}
	return false
}

// SecureServingSupported checks that the exporter whose --help output is help
// accepts every secure-serving flag that args (the Deployment's) use, and that
// args use some: the shipped manifests serve /metrics over TLS with authn/authz,
// and a test that quietly fell back to plain HTTP without auth would stop
// testing that. It fails the test otherwise, and returns true.
func SecureServingSupported(t testing.TB, help []byte, args []string) bool {
	t.Helper()
	var used []string
	for _, a := range args {
		if IsSecureServingArg(a) {
			used = append(used, flagName(a))
		}
	}
	if len(used) == 0 {
		t.Fatalf("the Deployment's exporter args use none of the secure-serving flags %v: %v", SecureServingFlags, args)
	}
	have := HelpLists(help, used...)
	var missing []string
	for _, f := range used {
		if !have[f] {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the exporter's --help does not list the secure-serving flags %v that the Deployment uses (%v); "+
			"refusing to fall back to plain HTTP without auth", missing, used)
	}
	return true
}

// LocalArgs adapts a Deployment's (expanded) exporter args to a process on
// this host: the listeners move to 127.0.0.1 and the given ports, paths under
// the keys of remap (container mount paths) are rewritten to the values, and
// with secure false the secure-serving args are left out.
func LocalArgs(args []string, port, telemetryPort int, remap map[string]string, secure bool) []string {
	out := []string{"--host=127.0.0.1", "--telemetry-host=127.0.0.1"}
	for _, a := range args {
		name, val, hasVal := strings.Cut(a, "=")
		switch {
		case name == "--port":
			a = "--port=" + strconv.Itoa(port)
		case name == "--telemetry-port":
			a = "--telemetry-port=" + strconv.Itoa(telemetryPort)
		case name == "--host" || name == "--telemetry-host":
			continue
		case !secure && IsSecureServingArg(a):
			continue
		case hasVal:
			for from, to := range remap {
				if strings.HasPrefix(val, from) {
					a = name + "=" + filepath.Join(to, strings.TrimPrefix(val, from))
				}
			}
		}
		out = append(out, a)
	}
	return out
}

// ReadmeQuery is one query from the README's metering section: a comment line
// and the PromQL under it.
type ReadmeQuery struct{ Comment, Expr string }

// ReadmeQueries returns the queries in the ```promql blocks of README.md.
func ReadmeQueries(t testing.TB) []ReadmeQuery {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cluster.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []ReadmeQuery
	in := false
	comment := ""
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "```promql"):
			in = true
		case in && strings.HasPrefix(line, "```"):
			in = false
		case in && strings.HasPrefix(strings.TrimSpace(line), "#"):
			comment = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		case in && strings.TrimSpace(line) != "":
			out = append(out, ReadmeQuery{Comment: comment, Expr: strings.TrimSpace(line)})
		}
	}
	if len(out) == 0 {
		t.Fatal("README.md has no ```promql block")
	}
	return out
}

// TLSGet fetches url over HTTPS, verifying the server against caFile for
// serverName, with a bearer token unless token is empty.
func TLSGet(caFile, serverName, url, token string) (int, []byte, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return 0, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return 0, nil, fmt.Errorf("no certificates in %s", caFile)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
