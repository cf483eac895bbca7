package serve

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestWebListeners checks the listeners themselves: HTTPS speaks HTTP/2
// with the shared certificate and answers /healthz; plain HTTP redirects
// to the HTTPS port; the mail ports never offer http/1.1 (ALPACA).
func TestWebListeners(t *testing.T) {
	ts := startTestServer(t, tlsTestConfig(t, "localhost"), nil)
	httpsAddr := ts.addr(t, "https")
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("https://" + httpsAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" || resp.ProtoMajor != 2 {
		t.Fatalf("healthz: %d %q over %s", resp.StatusCode, body, resp.Proto)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts == "" {
		t.Error("no HSTS on HTTPS")
	}
	resp, err = c.Get("http://" + ts.addr(t, "http") + "/admin?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := strings.Cut(httpsAddr, ":")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://127.0.0.1:"+port+"/admin?x=1" {
		t.Fatalf("http redirect: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The web listener offers h2/http1.1; a mail port must refuse http/1.1.
	conn, err := tls.Dial("tcp", ts.addr(t, "submissions"), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err == nil {
		proto := conn.ConnectionState().NegotiatedProtocol
		conn.Close()
		if proto == "http/1.1" {
			t.Fatal("the submissions port negotiated http/1.1")
		}
	}
}
