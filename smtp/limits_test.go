package smtp

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/store"
)

// TestSendCaps: over a login's cap the reply is 451 4.7.1 naming the limit
// and when it resets; a domain login has its own counter.
func TestSendCaps(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.st.UpdateUser("john@doe.com", func(u *store.User) error { u.Limits.PerHour = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := e.send(t, "john@doe.com", userPW, "john@doe.com", []string{"jane@doe.com"}, msg("From: john@doe.com")); err != nil {
			t.Fatal(err)
		}
	}
	err := e.send(t, "john@doe.com", userPW, "john@doe.com", []string{"jane@doe.com"}, msg("From: john@doe.com"))
	wantCode(t, err, "451 4.7.1", "john@doe.com", "2 messages per hour", "resets at")
	// The domain login is counted on its own.
	if err := e.send(t, "doe.com", domPW, "john@doe.com", []string{"jane@doe.com"}, msg("From: john@doe.com")); err != nil {
		t.Fatalf("domain login after user cap: %v", err)
	}
	if err := e.st.UpdateDomain("doe.com", func(d *store.Domain) error { d.Limits.RcptsPerDay = 3; return nil }); err != nil {
		t.Fatal(err)
	}
	err = e.send(t, "doe.com", domPW, "john@doe.com", []string{"jane@doe.com", "a@remote.example", "b@remote.example"}, msg("From: john@doe.com"))
	wantCode(t, err, "451 4.7.1", "recipients per day")
}

// TestQuota: a full mailbox is refused at RCPT when SIZE says so, and at
// the end of DATA otherwise (552 5.2.2).
func TestQuota(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.st.UpdateUser("jane@doe.com", func(u *store.User) error { u.Quota = 2000; return nil }); err != nil {
		t.Fatal(err)
	}
	c, err := e.dial(t, "john@doe.com", userPW)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("john@doe.com", &gosmtp.MailOptions{Size: 5000}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("jane@doe.com", nil), "552 5.2.2", "jane@doe.com")
	c.Reset()
	big := msg("From: john@doe.com") + strings.Repeat("0123456789", 300) + "\r\n"
	err = e.send(t, "john@doe.com", userPW, "john@doe.com", []string{"jane@doe.com"}, big)
	wantCode(t, err, "552 5.2.2")
	if n := len(e.inbox(t, "jane@doe.com")); n != 0 {
		t.Fatalf("stored %d over quota", n)
	}
}

// TestConnsPerIP: the connection over the limit gets 421 and a slot comes
// back when a connection ends.
func TestConnsPerIP(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConnsPerIP = 2 })
	a := dialRaw(t, e.sub)
	dialRaw(t, e.sub)
	over := rawNoBanner(t, e.sub)
	if got := over.reply(); !strings.HasPrefix(got, "421 4.7.0") {
		t.Fatalf("third connection: %q", got)
	}
	a.cmd("QUIT", "221")
	io.Copy(io.Discard, a.conn) // closed by the server: the slot is free
	dialRaw(t, e.sub).cmd("NOOP", "250")
}

// TestSizeAdvertised: EHLO carries SIZE and the recipient limit.
func TestSizeAdvertised(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSize = 1234567; c.MaxRecipients = 7 })
	r := dialRaw(t, e.sub)
	ehlo := r.cmd("EHLO client.test", "250")
	if !strings.Contains(ehlo, "SIZE 1234567") || !strings.Contains(ehlo, "RCPTMAX=7") {
		t.Fatalf("EHLO: %q", ehlo)
	}
}

// TestTimeouts: an idle client is dropped after the command timeout; a
// client that stalls in DATA is dropped after the data timeout and
// nothing is stored.
func TestTimeouts(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CmdTimeout = time.Second; c.DataTimeout = 1500 * time.Millisecond })
	idle := dialRaw(t, e.sub)
	if got := idle.reply(); !strings.HasPrefix(got, "421") {
		t.Fatalf("idle client got %q", got)
	}
	r := e.authed(t, "john@doe.com", userPW)
	r.cmd("MAIL FROM:<john@doe.com>", "250")
	r.cmd("RCPT TO:<jane@doe.com>", "250")
	r.cmd("DATA", "354")
	start := time.Now()
	r.send("From: john@doe.com\r\n\r\nstalled")
	io.Copy(io.Discard, r.conn) // whatever the server says, it closes
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stalled DATA lasted %v", d)
	}
	if n := len(e.inbox(t, "jane@doe.com")); n != 0 {
		t.Fatalf("stored %d", n)
	}
}

// TestShutdown: idle sessions are closed at once; a message being
// received is finished and acknowledged.
func TestShutdown(t *testing.T) {
	e := newEnv(t, nil)
	idle := dialRaw(t, e.sub)
	idle.cmd("EHLO client.test", "250")
	r := e.startData(t, "john@doe.com", userPW)
	r.send("From: john@doe.com\r\nSubject: during shutdown\r\n\r\nfirst half\r\n")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	idle.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, idle.conn); err != nil {
		t.Fatalf("idle session not closed promptly: %v", err)
	}
	r.send("second half\r\n.\r\n")
	r.expect("250")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(e.inbox(t, "jane@doe.com")); n != 1 {
		t.Fatalf("stored %d", n)
	}
}

// TestShutdownDeadline: a transaction that does not finish in time is cut
// when the grace period ends, and nothing of it is stored.
func TestShutdownDeadline(t *testing.T) {
	e := newEnv(t, nil)
	r := e.startData(t, "john@doe.com", userPW)
	r.send("From: john@doe.com\r\n\r\nnever finished\r\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	e.srv.Shutdown(ctx)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, r.conn); err != nil {
		t.Fatalf("connection not closed after the grace period: %v", err)
	}
	if n := len(e.inbox(t, "jane@doe.com")); n != 0 {
		t.Fatalf("stored %d", n)
	}
}

// TestServeAfterClose: a listener whose Serve starts after Close (a
// server stopped while it was still starting) returns at once instead of
// serving, or blocking, for ever. A test cleanup once hung 10 minutes so.
func TestServeAfterClose(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Close()
	for _, serve := range []func(net.Listener) error{e.srv.ServeSubmission, e.srv.ServeSubmissions} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- serve(ln) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve after Close = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			ln.Close()
			t.Fatal("Serve after Close did not return")
		}
	}
}
