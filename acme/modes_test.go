package acme

import (
	"crypto/tls"
	"slices"
	"testing"
)

func TestDefaultMode(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Hostname: "mail.example.com"}, ModeACME},
		{Config{Hostname: "mx1.my-host.de"}, ModeACME},
		{Config{Hostname: "localhost"}, ModeSelfSigned},
		{Config{Hostname: "myhost"}, ModeSelfSigned},
		{Config{Hostname: "mail.example.test"}, ModeSelfSigned},
		{Config{Hostname: "box.local"}, ModeSelfSigned},
		{Config{Hostname: "box.lan"}, ModeSelfSigned},
		{Config{Hostname: "nas.home.arpa"}, ModeSelfSigned},
		{Config{Hostname: "203.0.113.5"}, ModeSelfSigned},
		{Config{Hostname: "10.0.0.1"}, ModeSelfSigned},
		{Config{Hostname: "mail.example.com", CertFile: "/x.pem"}, ModeFiles},
	} {
		if got := defaultMode(tc.cfg); got != tc.want {
			t.Errorf("defaultMode(%q) = %s, want %s", tc.cfg.Hostname, got, tc.want)
		}
	}
}

// TestMailConfigALPN: mail configs refuse web ALPN offers (ALPACA) in
// every mode; the HTTPS config negotiates h2 / http/1.1.
func TestMailConfigALPN(t *testing.T) {
	t.Parallel()
	r := newListeners(t)
	r.start(t, Config{Mode: ModeSelfSigned, Hostname: "alpn.authsmtp.test"}, openStore(t, t.TempDir()), true, true)
	for _, alpn := range [][]string{{"http/1.1"}, {"h2"}, {"acme-tls/1"}, {"imap", "http/1.1"}} {
		if _, err := handshake(r.ml.Addr().String(), "", alpn, nil, ""); err == nil {
			t.Errorf("mail port accepted ALPN %v", alpn)
		}
	}
	if _, err := handshake(r.ml.Addr().String(), "", []string{"imap"}, nil, ""); err != nil {
		t.Errorf("mail port refused a non-web ALPN offer: %v", err)
	}
	c, err := tls.Dial("tcp", r.httpsLn.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("https negotiated %q", p)
	}
	c.Close()
	// Outside acme mode the HTTPS port does not speak acme-tls/1.
	if cfg := r.m.TLSConfig("h2", "http/1.1"); len(cfg.NextProtos) != 2 {
		t.Errorf("https NextProtos = %v", cfg.NextProtos)
	}
}

// TestWantedNames: hosted domains add mail.<d>, autoconfig.<d> and
// mta-sts.<d>, and
// with Let's Encrypt names it would refuse are left out.
func TestWantedNames(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	defer st.Close()
	hosted := func() ([]string, error) { return []string{"Example.COM", "lab.test", "shop.example.org"}, nil }
	m, err := New(Config{Mode: ModeACME, Hostname: "mx.example.com", Domains: true, HostedDomains: hosted, Logger: testLogger(t)}, st)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mx.example.com", "mail.example.com", "autoconfig.example.com", "mta-sts.example.com",
		"mail.shop.example.org", "autoconfig.shop.example.org", "mta-sts.shop.example.org"}
	if got := m.wantedNames(); !slices.Equal(got, want) {
		t.Errorf("with Let's Encrypt: %v, want %v", got, want)
	}
	m2, _ := New(Config{Mode: ModeACME, Hostname: "mx.example.com", CA: "https://ca.lab.test/dir", Domains: true, HostedDomains: hosted, Logger: testLogger(t)}, st)
	if got := m2.wantedNames(); len(got) != 10 || !slices.Contains(got, "mail.lab.test") || !slices.Contains(got, "mta-sts.lab.test") {
		t.Errorf("with a private CA: %v, want lab.test names too", got)
	}
	m3, _ := New(Config{Mode: ModeACME, Hostname: "mx.example.com", HostedDomains: hosted, Logger: testLogger(t)}, st)
	if got := m3.wantedNames(); !slices.Equal(got, []string{"mx.example.com"}) {
		t.Errorf("without --acme-domains: %v", got)
	}
}
