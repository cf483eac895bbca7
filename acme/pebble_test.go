package acme

import (
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

func TestMain(m *testing.M) {
	// Pebble reads these when built: no random validation sleeps, no
	// rejected nonces, and every order validates afresh (no authz reuse),
	// so each test sees the challenge it asks for.
	os.Setenv("PEBBLE_VA_NOSLEEP", "1")
	os.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	os.Setenv("PEBBLE_AUTHZREUSE", "0")
	os.Exit(m.Run())
}

// pebble is a real ACME server (letsencrypt/pebble) running in the test
// process. Its validation authority resolves every name to 127.0.0.1
// through a tiny DNS server and connects to the given HTTP-01 and
// TLS-ALPN-01 ports.
type pebble struct {
	URL    string         // directory URL
	TLS    *x509.CertPool // trusts the ACME server's own HTTPS
	Roots  *x509.CertPool // trusts certificates it issues
	Root   *x509.Certificate
	orders atomic.Int64 // new-order requests seen
}

// startPebble starts Pebble issuing certificates valid for validitySec
// seconds (0: Pebble's default), validating on httpPort and tlsPort.
func startPebble(t *testing.T, httpPort, tlsPort int, validitySec uint64) *pebble {
	t.Helper()
	logger := log.New(io.Discard, "", 0)
	if os.Getenv("PEBBLE_DEBUG") != "" {
		logger = log.New(os.Stderr, "pebble ", log.Lmicroseconds)
	}
	dnsAddr := startDNS(t)
	mem := db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: validitySec}}
	cai := ca.New(logger, mem, "", "ecdsa", 0, 1, profiles)
	vai := va.New(logger, httpPort, tlsPort, false, dnsAddr, mem)
	wfei := wfe.New(logger, mem, vai, cai, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	p := &pebble{}
	h := wfei.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/order-plz") {
			p.orders.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL + wfe.DirectoryPath
	p.TLS = x509.NewCertPool()
	p.TLS.AddCert(srv.Certificate())
	p.Root = cai.GetRootCert(0).Cert
	p.Roots = x509.NewCertPool()
	p.Roots.AddCert(p.Root)
	return p
}

// startDNS answers every A question with 127.0.0.1 (over TCP, as Pebble
// asks) and every other question with no records.
func startDNS(t *testing.T) string {
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
