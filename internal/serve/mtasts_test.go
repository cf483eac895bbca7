package serve

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/smtp/mtasts"
)

// TestMTASTSPolicyServed fetches https://mta-sts.<domain>/.well-known/
// mta-sts.txt from the real HTTPS listener (the Host header and SNI name
// the domain), parses it strictly, and checks that the id the DNS page
// and `domain dns` publish is the policy's and changes with the mode.
func TestMTASTSPolicyServed(t *testing.T) {
	ts := startTestServer(t, tlsTestConfig(t, "mail.sts.test"), nil)
	if _, err := ts.srv.st.AddDomain("sts.test"); err != nil {
		t.Fatal(err)
	}
	httpsAddr := ts.addr(t, "https")
	fetch := func(host string) (int, string) {
		t.Helper()
		tr := &http.Transport{
			// The self-signed certificate names the hostname only; the
			// ACME test covers a certificate for mta-sts.<domain>.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: host},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
			},
		}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get("https://" + host + mtaSTSPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	publishedID := func() string {
		t.Helper()
		recs, err := ts.srv.webDNS(context.Background(), "sts.test", false)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Name == "_mta-sts.sts.test" {
				id, ok := strings.CutPrefix(r.Value, "v=STSv1; id=")
				if !ok {
					t.Fatalf("_mta-sts record %q", r.Value)
				}
				return id
			}
		}
		t.Fatal("no _mta-sts record")
		return ""
	}
	idOf := func(body string) string {
		sum := sha256.Sum256([]byte(body))
		return hex.EncodeToString(sum[:10])
	}

	code, body := fetch("mta-sts.sts.test")
	p, err := mtasts.Parse(body)
	if code != 200 || err != nil {
		t.Fatalf("GET: %d %v\n%s", code, err, body)
	}
	if p.Mode != mtasts.ModeTesting || len(p.MX) != 1 || p.MX[0] != "mail.sts.test" || p.MaxAge != 86400 {
		t.Fatalf("default policy %+v", p)
	}
	testingID := publishedID()
	if idOf(body) != testingID {
		t.Fatalf("published id %s is not the served policy's %s", testingID, idOf(body))
	}

	if err := ts.srv.st.SetMTASTSMode("sts.test", "enforce"); err != nil {
		t.Fatal(err)
	}
	code, body = fetch("MTA-STS.sts.test")
	if p, err = mtasts.Parse(body); code != 200 || err != nil || p.Mode != mtasts.ModeEnforce || p.MaxAge != 604800 {
		t.Fatalf("after enforce: %d %+v %v", code, p, err)
	}
	if id := publishedID(); id == testingID || id != idOf(body) {
		t.Fatalf("id after enforce %s (testing %s, served %s)", id, testingID, idOf(body))
	}

	for _, host := range []string{"mta-sts.other.test", "mail.sts.test", "mta-sts.", "sts.test"} {
		if code, body := fetch(host); code != http.StatusNotFound || strings.Contains(body, "STSv1") {
			t.Errorf("%s: %d %q, want 404", host, code, body)
		}
	}
}
