package queue

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/store"
)

type env struct {
	st  *store.Store
	dns *mailtest.DNS
	res *dnsx.Resolver
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.AddDomain("a.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddUser("alice@a.test", "pw-alice-123"); err != nil {
		t.Fatal(err)
	}
	d := mailtest.StartDNS(t)
	d.Add(t, "remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.1")
	res, err := dnsx.New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	res.Timeout = 5 * time.Second
	return &env{st: st, dns: d, res: res}
}

func (e *env) runner(t testing.TB, port int, mod func(*Config)) *Runner {
	t.Helper()
	cfg := Config{Store: e.st, Resolver: e.res, Hostname: "a-mx.a.test", Port: port,
		Schedule: []time.Duration{30 * time.Millisecond}, MaxAge: time.Hour, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stopping runner: %v", err)
		}
	})
	return r
}

func msg(from, to, subject string) []byte {
	return []byte(fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%d@a.test>\r\n\r\nHello.\r\n.leading dot\r\n", from, to, subject, time.Now().UnixNano()))
}

// waitQueueEmpty waits until the queue has no entry left, watching the
// store; it fails the test after the deadline.
func waitQueueEmpty(t testing.TB, st *store.Store, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		q, err := st.ListQueue()
		if err != nil {
			t.Fatal(err)
		}
		if len(q) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty after %s: %+v", d, q)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func inbox(t *testing.T, st *store.Store, user string) [][]byte {
	t.Helper()
	msgs, err := st.ListMessages(user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := st.Body(m.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func waitEvent(t *testing.T, ch <-chan store.Event, mailbox string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Kind == store.EventNew && ev.Mailbox == mailbox {
				return
			}
		case <-timeout:
			t.Fatalf("no new message in %s", mailbox)
		}
	}
}

func TestRetryThenDeliverOnce(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil)
	rcv.OnData = func(n int, _ *mailtest.Received) error {
		if n == 1 {
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}
	e.runner(t, rcv.Port, nil)
	acc, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "retry")})
	if err != nil {
		t.Fatal(err)
	}
	// Watch the timeline while it runs.
	var sawTemp bool
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, err := e.st.GetQueue(acc.QueueID)
		if err != nil {
			break // finished and removed
		}
		for _, a := range q.Attempts {
			if strings.Contains(a.Reply, "451") {
				sawTemp = true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %+v", q)
		}
		time.Sleep(5 * time.Millisecond)
	}
	msgs := rcv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("delivered %d times, want once", len(msgs))
	}
	if _, _, datas := rcv.Stats(); datas != 2 {
		t.Errorf("DATA commands = %d, want 2 (451 then 250)", datas)
	}
	if !sawTemp {
		t.Errorf("the timeline never showed the 451")
	}
	if !strings.Contains(string(msgs[0].Data), "\r\n.leading dot\r\n") {
		t.Errorf("body not transparent (dot-stuffing): %q", msgs[0].Data)
	}
	if msgs[0].From != "alice@a.test" || len(msgs[0].Rcpts) != 1 || msgs[0].Rcpts[0] != "bob@remote.test" {
		t.Errorf("envelope = %+v", msgs[0])
	}
	if len(inbox(t, e.st, "alice@a.test")) != 0 {
		t.Errorf("a DSN was sent for a delivered message")
	}
}

func TestPermanentFailureOneRecipientDSN(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil)
	rcv.OnRcpt = func(to string) error {
		if strings.HasPrefix(to, "bad@") {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}
	e.runner(t, rcv.Port, nil)
	ch, cancel := e.st.Events.Subscribe("alice@a.test")
	defer cancel()
	body := msg("alice@a.test", "good@remote.test", "partial")
	if _, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"good@remote.test", "bad@remote.test"}, Body: body}); err != nil {
		t.Fatal(err)
	}
	waitQueueEmpty(t, e.st, 10*time.Second)
	waitEvent(t, ch, "INBOX")
	msgs := rcv.Messages()
	if len(msgs) != 1 || len(msgs[0].Rcpts) != 1 || msgs[0].Rcpts[0] != "good@remote.test" {
		t.Fatalf("delivered = %+v, want one message to good@ only", msgs)
	}
	dsns := inbox(t, e.st, "alice@a.test")
	if len(dsns) != 1 {
		t.Fatalf("DSNs in the sender's INBOX = %d, want 1", len(dsns))
	}
	d := string(dsns[0])
	for _, want := range []string{"multipart/report; report-type=delivery-status", "Final-Recipient: rfc822; bad@remote.test",
		"Status: 5.1.1", "Action: failed", "text/rfc822-headers", "Subject: partial", "Diagnostic-Code: smtp; 550"} {
		if !strings.Contains(d, want) {
			t.Errorf("DSN lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "good@remote.test") && strings.Contains(d, "Final-Recipient: rfc822; good@") {
		t.Errorf("DSN names the delivered recipient:\n%s", d)
	}
}

func TestUnreachableRetriedThenExpires(t *testing.T) {
	e := newEnv(t)
	// A port with nothing listening: connection refused.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e.runner(t, port, func(c *Config) {
		c.Schedule = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond}
		c.MaxAge = 300 * time.Millisecond
	})
	ch, cancel := e.st.Events.Subscribe("alice@a.test")
	defer cancel()
	start := time.Now()
	acc, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "unreachable")})
	if err != nil {
		t.Fatal(err)
	}
	maxAttempts := 0
	for {
		q, err := e.st.GetQueue(acc.QueueID)
		if err != nil {
			break
		}
		maxAttempts = max(maxAttempts, len(q.Attempts))
		if time.Since(start) > 10*time.Second {
			t.Fatalf("never expired: %+v", q)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Errorf("gave up after %s, before the max age", time.Since(start))
	}
	waitEvent(t, ch, "INBOX")
	if maxAttempts < 2 {
		t.Errorf("saw %d attempts, want retries", maxAttempts)
	}
	dsns := inbox(t, e.st, "alice@a.test")
	if len(dsns) != 1 {
		t.Fatalf("DSNs = %d, want 1", len(dsns))
	}
	if d := string(dsns[0]); !strings.Contains(d, "Status: 4.4.7") || !strings.Contains(d, "bob@remote.test") {
		t.Errorf("expiry DSN:\n%s", d)
	}
}

func TestNoDSNForDSNOrNullSender(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil)
	rcv.OnRcpt = func(string) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no"}
	}
	r := e.runner(t, rcv.Port, nil)
	e.st.Accept(&store.Incoming{From: "alice@a.test", DSN: true, Remote: []string{"x@remote.test"}, Body: msg("MAILER-DAEMON@a.test", "x@remote.test", "a bounce")})
	e.st.Accept(&store.Incoming{From: "", Remote: []string{"y@remote.test"}, Body: msg("MAILER-DAEMON@a.test", "y@remote.test", "null sender")})
	waitQueueEmpty(t, e.st, 10*time.Second)
	r.Stop(context.Background()) // lets any bounce finish before we look
	if n := len(inbox(t, e.st, "alice@a.test")); n != 0 {
		t.Errorf("%d DSNs for a DSN / null sender", n)
	}
}

func TestRemoteSenderBouncesThroughQueue(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil)
	rcv.OnRcpt = func(to string) error {
		if to == "gone@remote.test" {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "gone"}
		}
		return nil
	}
	e.runner(t, rcv.Port, nil)
	// Forwarded mail from an outside sender: the DSN goes back by SMTP.
	e.st.Accept(&store.Incoming{From: "sender@remote.test", Remote: []string{"gone@remote.test"}, Body: msg("sender@remote.test", "gone@remote.test", "fwd")})
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got *mailtest.Received
		for _, m := range rcv.Messages() {
			if m.Rcpts[0] == "sender@remote.test" {
				got = &m
			}
		}
		if got != nil {
			if got.From != "" || !strings.Contains(string(got.Data), "report-type=delivery-status") {
				t.Errorf("bounce envelope from %q, data:\n%s", got.From, got.Data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no DSN delivered to the outside sender")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCapturedNeverLeaves(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil)
	e.runner(t, rcv.Port, func(c *Config) { c.NoDelivery = true })
	// Mail queued for delivery (a forward, a DSN) stays put in capture mode.
	stay, _ := e.st.Accept(&store.Incoming{From: "", DSN: true, Remote: []string{"x@remote.test"}, Body: msg("MAILER-DAEMON@a.test", "x@remote.test", "dsn")})
	ch, cancel := e.st.Events.Subscribe("alice@a.test")
	defer cancel()
	acc, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Login: "alice@a.test", Captured: true,
		Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "captured")})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ch, "Captured")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if q, _ := e.st.GetQueue(acc.QueueID); q.Filed || time.Now().After(deadline) {
			break
		}
	}
	msgs, err := e.st.ListMessages("alice@a.test", "Captured")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Captured folder: %d messages, %v", len(msgs), err)
	}
	q, err := e.st.GetQueue(acc.QueueID)
	if err != nil || !q.Captured || !q.Filed || len(q.Attempts) != 0 {
		t.Errorf("captured entry = %+v, %v", q, err)
	}
	if q, err := e.st.GetQueue(stay.QueueID); err != nil || len(q.Attempts) != 0 {
		t.Errorf("capture mode tried a delivery: %+v, %v", q, err)
	}
	if c, _, _ := rcv.Stats(); c != 0 {
		t.Errorf("captured mail connected out %d times", c)
	}
	caps, _ := e.st.ListCaptured("alice@a.test")
	if len(caps) != 1 {
		t.Errorf("ListCaptured = %d", len(caps))
	}
	if n, _ := e.st.ClearCaptured(""); n != 1 {
		t.Errorf("ClearCaptured removed %d", n)
	}
}

func TestBatchingAndPerDestinationLimit(t *testing.T) {
	e := newEnv(t)
	tlsConf, _ := mailtest.SelfSigned(t, "mx.remote.test")
	rcv := mailtest.StartReceiver(t, tlsConf)
	const n = 30
	// A burst already queued (as after a restart or an outage).
	for i := 0; i < n; i++ {
		if _, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{fmt.Sprintf("u%d@remote.test", i)}, Body: msg("alice@a.test", "x@remote.test", "batch")}); err != nil {
			t.Fatal(err)
		}
	}
	e.runner(t, rcv.Port, func(c *Config) { c.PerDest = 2; c.Batch = 10 })
	waitQueueEmpty(t, e.st, 20*time.Second)
	msgs := rcv.Messages()
	if len(msgs) != n {
		t.Fatalf("delivered %d, want %d", len(msgs), n)
	}
	conns, maxConc, _ := rcv.Stats()
	if maxConc > 2 {
		t.Errorf("%d connections at once to one destination, limit 2", maxConc)
	}
	if conns > 4 {
		t.Errorf("%d connections for %d messages: want a few reused ones", conns, n)
	}
	for _, m := range msgs {
		if !m.TLS {
			t.Errorf("STARTTLS was offered but not used")
			break
		}
	}
}

func TestRelayWithAuth(t *testing.T) {
	e := newEnv(t)
	tlsConf, pool := mailtest.SelfSigned(t, "relay.test")
	rcv := mailtest.StartReceiver(t, tlsConf)
	rcv.AuthUser, rcv.AuthPass = "relayuser", "relaypass"
	e.runner(t, 0, func(c *Config) {
		c.Relay = fmt.Sprintf("127.0.0.1:%d", rcv.Port)
		c.RelayUser, c.RelayPassword = "relayuser", "relaypass"
		c.RelayTLS = &tls.Config{RootCAs: pool, ServerName: "relay.test"}
	})
	// nowhere.test has no DNS at all: the relay takes it anyway.
	e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"x@nowhere.test", "y@remote.test"}, Body: msg("alice@a.test", "x@nowhere.test", "relay")})
	waitQueueEmpty(t, e.st, 10*time.Second)
	msgs := rcv.Messages()
	if len(msgs) != 1 || msgs[0].Auth != "relayuser" || !msgs[0].TLS || len(msgs[0].Rcpts) != 2 {
		t.Fatalf("relay got %+v", msgs)
	}
}

func TestRelayRefusesPasswordWithoutTLS(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil) // no STARTTLS
	rcv.AuthUser, rcv.AuthPass = "relayuser", "relaypass"
	e.runner(t, 0, func(c *Config) {
		c.Relay = fmt.Sprintf("127.0.0.1:%d", rcv.Port)
		c.RelayUser, c.RelayPassword = "relayuser", "relaypass"
		c.Schedule = []time.Duration{time.Hour}
	})
	acc, _ := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"y@remote.test"}, Body: msg("alice@a.test", "y@remote.test", "relay")})
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, err := e.st.GetQueue(acc.QueueID)
		if err != nil {
			t.Fatal(err)
		}
		if len(q.Attempts) > 0 {
			if !strings.Contains(q.Attempts[0].Reply, "no TLS") || q.Rcpts[0].Status != store.RcptPending {
				t.Errorf("attempt = %+v", q.Attempts[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempt recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(rcv.Messages()) != 0 {
		t.Error("sent through a relay without TLS")
	}
}

func TestNoSuchDomainFailsAtOnce(t *testing.T) {
	e := newEnv(t)
	e.runner(t, 1, nil)
	ch, cancel := e.st.Events.Subscribe("alice@a.test")
	defer cancel()
	e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"x@nxdomain.test"}, Body: msg("alice@a.test", "x@nxdomain.test", "nx")})
	waitQueueEmpty(t, e.st, 10*time.Second)
	waitEvent(t, ch, "INBOX")
	dsns := inbox(t, e.st, "alice@a.test")
	if len(dsns) != 1 || !strings.Contains(string(dsns[0]), "Status: 5.1.2") {
		t.Fatalf("want one 5.1.2 DSN, got %d", len(dsns))
	}
}

func TestParseSchedule(t *testing.T) {
	s, err := ParseSchedule("1m, 5m,1h")
	if err != nil || len(s) != 3 || s[2] != time.Hour {
		t.Fatalf("ParseSchedule = %v, %v", s, err)
	}
	for _, bad := range []string{"", "x", "1m,-5s", "0s"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}
