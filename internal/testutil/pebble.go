package testutil

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// Pebble is a real ACME server (letsencrypt/pebble) in the test process.
// Its validation authority resolves every name to 127.0.0.1 through a
// tiny DNS server and validates HTTP-01 and TLS-ALPN-01 on the ports
// given to Validate. Until then requests wait, so a server under test may
// start ordering before its listener ports are known.
type Pebble struct {
	URL    string         // ACME directory URL
	TLS    *x509.CertPool // trusts the ACME server's own HTTPS
	TLSPEM []byte         // the same certificate, PEM (for --acme-ca-root)
	Roots  *x509.CertPool // trusts what it issues (after Validate)
	Root   *x509.Certificate
	Orders atomic.Int64 // new-order requests seen
	// EAB, if set before Validate, makes external account binding
	// required with these key id → base64url HMAC keys.
	EAB map[string]string

	t        testing.TB
	validity uint64
	handler  atomic.Pointer[http.Handler]
	ready    chan struct{}
	once     sync.Once
}

// StartPebble starts Pebble issuing certificates valid for validitySec
// seconds (0: Pebble's default of 90 days). Call Validate to let it work.
func StartPebble(t testing.TB, validitySec uint64) *Pebble {
	t.Helper()
	// Pebble reads these when built: no random validation sleeps, no
	// rejected nonces, and every order validates afresh (no authz reuse).
	os.Setenv("PEBBLE_VA_NOSLEEP", "1")
	os.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	os.Setenv("PEBBLE_AUTHZREUSE", "0")
	p := &Pebble{t: t, validity: validitySec, ready: make(chan struct{})}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-p.ready:
		case <-r.Context().Done():
			return
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/order-plz") {
			p.Orders.Add(1)
		}
		(*p.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		p.once.Do(func() { close(p.ready) }) // release waiting requests
		srv.Close()
	})
	p.URL = srv.URL + wfe.DirectoryPath
	p.TLS = x509.NewCertPool()
	p.TLS.AddCert(srv.Certificate())
	p.TLSPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return p
}

// StartPebbleFor is StartPebble then Validate.
func StartPebbleFor(t testing.TB, httpPort, tlsPort int, validitySec uint64) *Pebble {
	p := StartPebble(t, validitySec)
	p.Validate(httpPort, tlsPort)
	return p
}

// Validate builds Pebble's CA with HTTP-01 checked on httpPort and
// TLS-ALPN-01 on tlsPort of 127.0.0.1, and releases waiting requests.
func (p *Pebble) Validate(httpPort, tlsPort int) {
	p.t.Helper()
	logger := log.New(io.Discard, "", 0)
	if os.Getenv("PEBBLE_DEBUG") != "" {
		logger = log.New(os.Stderr, "pebble ", log.Lmicroseconds)
	}
	mem := db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: p.validity}}
	cai := ca.New(logger, mem, "", "ecdsa", 0, 1, profiles)
	vai := va.New(logger, httpPort, tlsPort, false, startDNS(p.t), mem)
	for kid, key := range p.EAB {
		if err := mem.AddExternalAccountKeyByID(kid, key); err != nil {
			p.t.Fatal(err)
		}
	}
	wfei := wfe.New(logger, mem, vai, cai, []string{"pebble.letsencrypt.org"}, false, len(p.EAB) > 0, 0, 0)
	h := wfei.Handler()
	p.Root = cai.GetRootCert(0).Cert
	p.Roots = x509.NewCertPool()
	p.Roots.AddCert(p.Root)
	p.handler.Store(&h)
	p.once.Do(func() { close(p.ready) })
}

// ClosedPort is a port of 127.0.0.1 on which nothing listens.
func ClosedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

// startDNS answers every A question with 127.0.0.1 (over TCP, as Pebble
// asks) and every other question with no records.
func startDNS(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}
