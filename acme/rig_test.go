package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// event is one OnChange call.
type event struct{ kind, name string }

// rig is a Manager with real listeners on 127.0.0.1: HTTP (challenges),
// HTTPS (TLSConfig("h2","http/1.1")) and a mail-style implicit TLS port
// (TLSConfig()) that sends a banner after the handshake.
type rig struct {
	m                   *Manager
	st                  *store.Store
	httpLn, httpsLn, ml net.Listener
	events              chan event
	seen                map[event]bool // events wait has taken off the channel
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("ACME_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// newListeners opens the rig's three listeners before the Manager exists,
// so Pebble can be told the challenge ports.
func newListeners(t *testing.T) *rig {
	return &rig{httpLn: listen(t), httpsLn: listen(t), ml: listen(t), events: make(chan event, 100)}
}

// start builds the Manager on st with cfg, serves the listeners, tells it
// which challenge listeners exist (http, https) and starts it.
func (r *rig) start(t *testing.T, cfg Config, st *store.Store, useHTTP, useHTTPS bool) {
	t.Helper()
	r.st = st
	cfg.Logger = testLogger(t)
	cfg.OnChange = func(kind, name string) {
		select {
		case r.events <- event{kind, name}:
		default:
		}
	}
	m, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	hs := &http.Server{Handler: m.HTTPChallengeHandler(http.NotFoundHandler()), ErrorLog: nil}
	go hs.Serve(r.httpLn)
	t.Cleanup(func() { hs.Close() })
	ws := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "web") })}
	ws.ErrorLog = nil
	go ws.Serve(tls.NewListener(r.httpsLn, m.TLSConfig("h2", "http/1.1")))
	t.Cleanup(func() { ws.Close() })
	go serveMail(tls.NewListener(r.ml, m.TLSConfig()))
	if useHTTP {
		m.Listening("http", r.httpLn.Addr())
	}
	if useHTTPS {
		m.Listening("https", r.httpsLn.Addr())
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
}

// serveMail is an implicit-TLS mail port: handshake, banner, close.
func serveMail(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if err := c.(*tls.Conn).Handshake(); err != nil {
				return
			}
			io.WriteString(c, "220 ready\r\n")
		}()
	}
}

// wait returns once an event of kind for name has happened (events seen
// while waiting for another are remembered), or fails the test.
func (r *rig) wait(t *testing.T, kind, name string, d time.Duration) {
	t.Helper()
	if r.seen == nil {
		r.seen = map[event]bool{}
	}
	want := event{kind, name}
	deadline := time.After(d)
	for !r.seen[want] {
		select {
		case e := <-r.events:
			r.seen[e] = true
		case <-deadline:
			t.Fatalf("no %q event for %s within %v; status: %+v", kind, name, d, r.m.Status())
		}
	}
}

// handshake connects to addr with SNI sni (none when ""), verifying the
// chain against roots for name when roots is set, and returns the leaf.
func handshake(addr, sni string, alpn []string, roots *x509.CertPool, name string) (*x509.Certificate, error) {
	cfg := &tls.Config{ServerName: sni, NextProtos: alpn, InsecureSkipVerify: true}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cs := c.ConnectionState()
	leaf := cs.PeerCertificates[0]
	if roots != nil {
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
			return leaf, fmt.Errorf("chain for %s does not verify: %w", name, err)
		}
	}
	return leaf, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return c != nil && len(c.Subject.Organization) > 0 && c.Subject.Organization[0] == "authsmtp self-signed"
}

func contains(s, sub string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(sub)) }
