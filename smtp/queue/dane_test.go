package queue

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/smtp/dane"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/store"
)

// daneEnv is a destination remote.test whose MX mx.remote.test presents a
// certificate issued by a private CA; the test DNS server acts as a
// validating resolver (AD bit) when ad is set, and the runner trusts it
// when dnssec is set.
type daneEnv struct {
	*env
	ca   *mailtest.CA
	cert tls.Certificate
}

func newDANEEnv(t *testing.T, ad, dnssec bool) *daneEnv {
	t.Helper()
	e := newEnv(t)
	e.dns.SetAD(ad)
	e.res.DNSSEC = dnssec
	ca := mailtest.NewCA(t, "Remote TA")
	cert := ca.Leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.remote.test")
	return &daneEnv{env: e, ca: ca, cert: cert}
}

func (e *daneEnv) tlsa(t *testing.T, recs ...dnsx.TLSA) {
	t.Helper()
	for _, r := range recs {
		e.dns.Add(t, "_25._tcp.mx.remote.test. 60 IN TLSA "+r.String())
	}
}

// send queues one message to bob@remote.test through a runner delivering
// to rcv, and returns its queue id.
func (e *daneEnv) send(t *testing.T, rcv *mailtest.Receiver, mod func(*Config)) string {
	t.Helper()
	e.runner(t, rcv.Port, func(c *Config) {
		c.Schedule = []time.Duration{time.Hour}
		if mod != nil {
			mod(c)
		}
	})
	acc, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "dane")})
	if err != nil {
		t.Fatal(err)
	}
	return acc.QueueID
}

// delivered waits for the message to leave the queue delivered.
func delivered(t *testing.T, e *daneEnv, id string, rcv *mailtest.Receiver, wantTLS bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, err := e.st.GetQueue(id)
		if err != nil {
			break // delivered entries leave the queue
		}
		if len(q.Attempts) > 0 {
			t.Fatalf("not delivered: %+v", q.Attempts)
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery attempt")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := rcv.Messages(); len(m) != 1 || m[0].TLS != wantTLS {
		t.Fatalf("received %+v, want one message (TLS %v)", m, wantTLS)
	}
}

// deferred waits for the first attempt and checks it failed temporarily
// saying why.
func deferred(t *testing.T, e *daneEnv, id string, rcv *mailtest.Receiver, why ...string) {
	t.Helper()
	q := waitAttempt(t, e.st, id)
	if q.Rcpts[0].Status != store.RcptPending {
		t.Fatalf("status %s, want pending: %+v", q.Rcpts[0].Status, q.Attempts)
	}
	reply := q.Attempts[0].Reply
	t.Logf("timeline: %s", reply)
	if !strings.HasPrefix(reply, "451 ") {
		t.Errorf("timeline reply %q, want a 451 temporary failure", reply)
	}
	for _, w := range why {
		if !strings.Contains(reply, w) {
			t.Errorf("timeline reply %q does not say %q", reply, w)
		}
	}
	if n := len(rcv.Messages()); n != 0 {
		t.Errorf("%d messages delivered despite DANE", n)
	}
}

func TestDANEMatchDelivers(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  func(e *daneEnv) dnsx.TLSA
	}{
		{"DANE-EE SPKI SHA-256", func(e *daneEnv) dnsx.TLSA { return dane.Record(3, 1, 1, e.cert.Leaf) }},
		{"DANE-EE cert SHA-512", func(e *daneEnv) dnsx.TLSA { return dane.Record(3, 0, 2, e.cert.Leaf) }},
		{"DANE-TA cert SHA-256", func(e *daneEnv) dnsx.TLSA { return dane.Record(2, 0, 1, e.ca.Cert) }},
		{"DANE-TA SPKI full", func(e *daneEnv) dnsx.TLSA { return dane.Record(2, 1, 0, e.ca.Cert) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDANEEnv(t, true, true)
			e.tlsa(t, tc.rec(e))
			rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
			delivered(t, e, e.send(t, rcv, nil), rcv, true)
		})
	}
}

func TestDANEMismatchDefers(t *testing.T) {
	e := newDANEEnv(t, true, true)
	other := mailtest.NewCA(t, "Other").Leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.remote.test")
	e.tlsa(t, dane.Record(3, 1, 1, other.Leaf))
	rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
	deferred(t, e, e.send(t, rcv, nil), rcv, "DANE", "matches none of its 1 TLSA records", "mx.remote.test")
}

func TestDANETAWrongNameDefers(t *testing.T) {
	e := newDANEEnv(t, true, true)
	e.cert = e.ca.Leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.elsewhere.test")
	e.tlsa(t, dane.Record(2, 0, 1, e.ca.Cert))
	rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
	deferred(t, e, e.send(t, rcv, nil), rcv, "DANE", "not valid for")
}

func TestDANENoSTARTTLSDefers(t *testing.T) {
	e := newDANEEnv(t, true, true)
	e.tlsa(t, dane.Record(3, 1, 1, e.cert.Leaf))
	rcv := mailtest.StartReceiver(t, nil)
	deferred(t, e, e.send(t, rcv, nil), rcv, "DANE", "offers no STARTTLS")
}

// Without the AD bit the TLSA records prove nothing: delivery is
// opportunistic, and the mismatching certificate does not matter.
func TestDANEInsecureAnswerIsOpportunistic(t *testing.T) {
	e := newDANEEnv(t, false, true)
	other := mailtest.NewCA(t, "Other").Leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.remote.test")
	e.tlsa(t, dane.Record(3, 1, 1, other.Leaf))
	rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
	delivered(t, e, e.send(t, rcv, nil), rcv, true)
}

// Without --dnssec the resolver is not trusted: its AD bit is ignored.
func TestDANEWithoutDNSSECSwitchIgnoresAD(t *testing.T) {
	e := newDANEEnv(t, true, false)
	e.tlsa(t, dane.Record(3, 1, 1, e.cert.Leaf))
	plain := mailtest.StartReceiver(t, nil)
	delivered(t, e, e.send(t, plain, nil), plain, false)
}

// TLSA records that are all unusable (PKIX usages) still make TLS
// mandatory, unauthenticated (RFC 7672 §2.2).
func TestDANEUnusableRecords(t *testing.T) {
	t.Run("TLS offered", func(t *testing.T) {
		e := newDANEEnv(t, true, true)
		e.tlsa(t, dane.Record(1, 1, 1, e.ca.Cert), dane.Record(0, 0, 1, e.ca.Cert))
		rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
		delivered(t, e, e.send(t, rcv, nil), rcv, true)
	})
	t.Run("no STARTTLS", func(t *testing.T) {
		e := newDANEEnv(t, true, true)
		e.tlsa(t, dane.Record(1, 1, 1, e.ca.Cert))
		rcv := mailtest.StartReceiver(t, nil)
		deferred(t, e, e.send(t, rcv, nil), rcv, "offers no STARTTLS")
	})
}

// DANE takes precedence over MTA-STS (RFC 8461 §2): an enforce policy
// whose WebPKI check would fail does not stop a DANE-authenticated host.
func TestDANEOverridesMTASTS(t *testing.T) {
	e := newDANEEnv(t, true, true)
	port, _, pool := stsEnv(t, e.env, enforce)
	e.tlsa(t, dane.Record(3, 1, 1, e.cert.Leaf))
	rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
	delivered(t, e, e.send(t, rcv, func(c *Config) { c.RootCAs = pool; c.STSPort = port }), rcv, true)
}

// A validating resolver failing the TLSA lookup defers the mail rather
// than downgrading to plain delivery.
func TestDANELookupFailureDefers(t *testing.T) {
	e := newDANEEnv(t, true, true)
	e.res.Timeout = 300 * time.Millisecond
	e.dns.Hang("_25._tcp.mx.remote.test")
	rcv := mailtest.StartReceiver(t, nil)
	q := waitAttempt(t, e.st, e.send(t, rcv, nil))
	if q.Rcpts[0].Status != store.RcptPending || !strings.Contains(q.Attempts[0].Reply, "TLSA lookup") {
		t.Fatalf("attempt %+v, want a temporary TLSA lookup failure", q.Attempts)
	}
	if len(rcv.Messages()) != 0 {
		t.Fatal("delivered although the TLSA lookup failed")
	}
}

// An MX host that is a CNAME alias: with the chain secure, the TLSA base
// domain is the chain's end, the original name is tried when the end has
// no records (RFC 7672 §2.2.2), and a DANE-TA certificate may be valid
// for the base domain alone (§3.2.2).
func TestDANECNAMEFollowed(t *testing.T) {
	alias := func(t *testing.T) *daneEnv {
		e := newDANEEnv(t, true, true)
		e.dns.Remove("mx.remote.test")
		e.dns.Add(t, "mx.remote.test. 60 IN CNAME mx.hosting.test.", "mx.hosting.test. 60 IN A 127.0.0.1")
		return e
	}
	other := mailtest.NewCA(t, "Other").Leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.hosting.test")
	t.Run("records at the target decide", func(t *testing.T) {
		e := alias(t)
		e.dns.Add(t, "_25._tcp.mx.hosting.test. 60 IN TLSA "+dane.Record(3, 1, 1, other.Leaf).String())
		rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
		deferred(t, e, e.send(t, rcv, nil), rcv, "DANE", "matches none of its 1 TLSA records", "mx.hosting.test")
	})
	t.Run("DANE-TA named for the target", func(t *testing.T) {
		e := alias(t)
		e.cert = e.ca.Leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.hosting.test")
		e.dns.Add(t, "_25._tcp.mx.hosting.test. 60 IN TLSA "+dane.Record(2, 0, 1, e.ca.Cert).String())
		rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
		delivered(t, e, e.send(t, rcv, nil), rcv, true)
	})
	t.Run("no records at the target: the original name's", func(t *testing.T) {
		e := alias(t)
		e.tlsa(t, dane.Record(3, 1, 1, other.Leaf))
		rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
		deferred(t, e, e.send(t, rcv, nil), rcv, "DANE", "matches none")
	})
	t.Run("insecure chain: no DANE", func(t *testing.T) {
		e := alias(t)
		e.dns.SetAD(false)
		e.dns.Add(t, "_25._tcp.mx.hosting.test. 60 IN TLSA "+dane.Record(3, 1, 1, other.Leaf).String())
		rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
		delivered(t, e, e.send(t, rcv, nil), rcv, true)
	})
}

// The TLSRPT result types of DANE (RFC 8460 §4.3.2.1): tlsa-invalid when
// the authenticated TLSA RRset has no usable record (delivery goes on,
// encrypted), dane-required when a destination in Config.DANERequired
// has an MX host without authenticated TLSA records (not used).
func TestDANEResultTypes(t *testing.T) {
	lastResult := func(t *testing.T, got *tlsResults) store.TLSResult {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(got.get()) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no TLS result")
			}
			time.Sleep(10 * time.Millisecond)
		}
		all := got.get()
		return all[len(all)-1]
	}
	t.Run("tlsa-invalid", func(t *testing.T) {
		e := newDANEEnv(t, true, true)
		e.tlsa(t, dane.Record(1, 1, 1, e.ca.Cert))
		rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
		var got tlsResults
		delivered(t, e, e.send(t, rcv, func(c *Config) { c.TLSResults = got.add }), rcv, true)
		if r := lastResult(t, &got); r.PolicyType != "tlsa" || r.Result != "tlsa-invalid" || r.MXHost != "mx.remote.test" {
			t.Errorf("result %+v, want tlsa-invalid under tlsa", r)
		}
	})
	t.Run("dane-required", func(t *testing.T) {
		e := newDANEEnv(t, true, true)
		rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
		var got tlsResults
		id := e.send(t, rcv, func(c *Config) { c.TLSResults, c.DANERequired = got.add, []string{"Remote.test"} })
		deferred(t, e, id, rcv, "DANE is required for remote.test", "mx.remote.test")
		if r := lastResult(t, &got); r.PolicyType != "tlsa" || r.Result != "dane-required" || r.MXHost != "mx.remote.test" {
			t.Errorf("result %+v, want dane-required under tlsa", r)
		}
	})
	t.Run("dane-required met", func(t *testing.T) {
		e := newDANEEnv(t, true, true)
		e.tlsa(t, dane.Record(3, 1, 1, e.cert.Leaf))
		rcv := mailtest.StartReceiver(t, &tls.Config{Certificates: []tls.Certificate{e.cert}})
		var got tlsResults
		delivered(t, e, e.send(t, rcv, func(c *Config) { c.TLSResults, c.DANERequired = got.add, []string{"remote.test"} }), rcv, true)
		if r := lastResult(t, &got); r.PolicyType != "tlsa" || r.Result != "" {
			t.Errorf("result %+v, want a tlsa success", r)
		}
	})
}
