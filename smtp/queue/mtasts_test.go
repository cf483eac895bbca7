package queue

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store"
)

// stsEnv serves an MTA-STS policy for remote.test and returns the port
// and the roots that trust both the policy server and the MX.
func stsEnv(t *testing.T, e *env, policy string) (int, *tls.Config, *x509.CertPool) {
	t.Helper()
	tlsConf, pool := mailtest.SelfSigned(t, "mx.remote.test", "mta-sts.remote.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "mta-sts.remote.test" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(policy))
	}))
	srv.TLS = tlsConf
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.dns.AddTXT("_mta-sts.remote.test", "v=STSv1; id=20261127")
	e.dns.Add(t, "mta-sts.remote.test. 60 IN A 127.0.0.1")
	return srv.Listener.Addr().(*net.TCPAddr).Port, tlsConf, pool
}

const enforce = "version: STSv1\nmode: enforce\nmx: *.remote.test\nmax_age: 86400\n"

func TestMTASTSEnforceUsesVerifiedTLS(t *testing.T) {
	e := newEnv(t)
	port, tlsConf, pool := stsEnv(t, e, enforce)
	good := mailtest.StartReceiver(t, tlsConf)
	e.runner(t, good.Port, func(c *Config) { c.RootCAs = pool; c.STSPort = port })
	e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "sts")})
	waitQueueEmpty(t, e.st, 10*time.Second)
	if m := good.Messages(); len(m) != 1 || !m[0].TLS {
		t.Fatalf("delivered %+v, want one message over TLS", m)
	}
}

func TestMTASTSEnforceRefusesPlaintextAndBadCerts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *mailtest.Receiver
	}{
		{"no STARTTLS", func(t *testing.T) *mailtest.Receiver { return mailtest.StartReceiver(t, nil) }},
		{"untrusted certificate", func(t *testing.T) *mailtest.Receiver {
			other, _ := mailtest.SelfSigned(t, "mx.remote.test")
			return mailtest.StartReceiver(t, other)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			port, _, pool := stsEnv(t, e, enforce)
			rcv := tc.start(t)
			e.runner(t, rcv.Port, func(c *Config) { c.RootCAs = pool; c.STSPort = port; c.Schedule = []time.Duration{time.Hour} })
			acc, _ := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "sts")})
			q := waitAttempt(t, e.st, acc.QueueID)
			if q.Rcpts[0].Status != store.RcptPending || !strings.Contains(q.Attempts[0].Reply, "TLS") {
				t.Errorf("attempt = %+v, want a temporary TLS failure", q.Attempts[0])
			}
			if len(rcv.Messages()) != 0 {
				t.Error("delivered without verified TLS under an enforce policy")
			}
		})
	}
}

func TestMTASTSPolicyExcludesMX(t *testing.T) {
	e := newEnv(t)
	port, tlsConf, pool := stsEnv(t, e, "version: STSv1\nmode: enforce\nmx: mail.elsewhere.test\nmax_age: 86400\n")
	rcv := mailtest.StartReceiver(t, tlsConf)
	e.runner(t, rcv.Port, func(c *Config) { c.RootCAs = pool; c.STSPort = port; c.Schedule = []time.Duration{time.Hour} })
	acc, _ := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "sts")})
	q := waitAttempt(t, e.st, acc.QueueID)
	if !strings.Contains(q.Attempts[0].Reply, "MTA-STS") || len(rcv.Messages()) != 0 {
		t.Errorf("attempt = %+v", q.Attempts[0])
	}
}

// The queue reads other domains' policies with the strict parser: a
// policy the lenient reader used to take (a line without a colon, a
// repeated mode) is not applied, and delivery falls back to opportunistic
// TLS (RFC 8461 §5) — here to a server whose certificate no one trusts.
func TestMTASTSInvalidPolicyIgnored(t *testing.T) {
	for _, bad := range []string{
		"version: STSv1\nmode: enforce\ngarbage\nmx: *.remote.test\nmax_age: 86400\n",
		"version: STSv1\nmode: enforce\nmode: testing\nmx: *.remote.test\nmax_age: 86400\n",
		"mode: enforce\nversion: STSv1\nmx: *.remote.test\nmax_age: 86400\n",
	} {
		e := newEnv(t)
		port, _, pool := stsEnv(t, e, bad)
		other, _ := mailtest.SelfSigned(t, "mx.remote.test")
		rcv := mailtest.StartReceiver(t, other)
		e.runner(t, rcv.Port, func(c *Config) { c.RootCAs = pool; c.STSPort = port })
		e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "sts")})
		waitQueueEmpty(t, e.st, 10*time.Second)
		if len(rcv.Messages()) != 1 {
			t.Fatalf("policy %q: not delivered opportunistically", bad)
		}
	}
}

func waitAttempt(t *testing.T, st *store.Store, id string) store.QueueEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, err := st.GetQueue(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(q.Attempts) > 0 {
			return q
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempt recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
