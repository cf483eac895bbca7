package serve

import (
	"testing"

	"github.com/authsmtp/authsmtp/internal/config"
)

// TestTLSReportsAndDNSSECWiring: TLS reports are counted only when mail
// really leaves (not in capture/demo mode), and AUTHSMTP_DNSSEC reaches
// the one resolver the queue's DANE lookups use.
func TestTLSReportsAndDNSSECWiring(t *testing.T) {
	capture := startTestServer(t, tlsTestConfig(t, "mail.cap.test"), nil)
	if capture.srv.tlsReports != nil {
		t.Error("capture mode counts TLS results for reports")
	}
	if capture.srv.resolver == nil || capture.srv.resolver.DNSSEC {
		t.Error("the resolver trusts AD bits without --dnssec")
	}

	t.Setenv("AUTHSMTP_DNSSEC", "true")
	cfg := config.Default()
	if _, err := cfg.Parse("serve", []string{"--data", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if !cfg.DNSSEC {
		t.Fatal("AUTHSMTP_DNSSEC=true did not set --dnssec")
	}
	live := tlsTestConfig(t, "mail.live.test")
	live.Capture = false
	live.DNSSEC = cfg.DNSSEC
	ts := startTestServer(t, live, nil)
	if ts.srv.tlsReports == nil {
		t.Error("no TLS report counting while delivering")
	}
	if !ts.srv.resolver.DNSSEC {
		t.Error("--dnssec did not reach the resolver")
	}
}
