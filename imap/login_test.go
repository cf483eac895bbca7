package imap

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/authsmtp/authsmtp/store"
)

func TestLoginRules(t *testing.T) {
	ts := newTestServer(t)

	t.Run("domain login has no mailbox", func(t *testing.T) {
		c, err := imapclient.DialTLS(ts.tls, &imapclient.Options{TLSConfig: ts.clientTLS})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Login(testDomain, testDomPW).Wait()
		if imapCode(err) != goimap.ResponseCodeAuthenticationFailed || !strings.Contains(err.Error(), "a domain login has no mailbox, log in with an email address") {
			t.Fatalf("domain login: %v", err)
		}
	})

	t.Run("wrong password and unknown user", func(t *testing.T) {
		for _, l := range [][2]string{{testUser, "wrong"}, {"nobody@imap.test", testPassword}, {"admin", "x"}} {
			c, err := imapclient.DialTLS(ts.tls, &imapclient.Options{TLSConfig: ts.clientTLS})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Login(l[0], l[1]).Wait()
			c.Close()
			if imapCode(err) != goimap.ResponseCodeAuthenticationFailed {
				t.Fatalf("login %s: %v", l[0], err)
			}
		}
		if n := len(ts.st.Throttle.Recent()); n < 3 {
			t.Fatalf("throttle saw %d failures, want 3", n)
		}
	})

	t.Run("no login before TLS", func(t *testing.T) {
		r := dialRaw(t, ts.plain, nil)
		r.send("C CAPABILITY\r\n")
		caps := strings.Join(r.until("C"), " ")
		if !strings.Contains(caps, "LOGINDISABLED") || !strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "AUTH=PLAIN") {
			t.Fatalf("capabilities before TLS: %s", caps)
		}
		r.send("L LOGIN " + testUser + " " + testPassword + "\r\n")
		if l := r.until("L"); !strings.HasPrefix(l[len(l)-1], "L NO [PRIVACYREQUIRED]") {
			t.Fatalf("LOGIN before TLS: %q", l)
		}
		r.send("A AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+testUser+"\x00"+testPassword)) + "\r\n")
		if l := r.until("A"); !strings.HasPrefix(l[len(l)-1], "A NO [PRIVACYREQUIRED]") {
			t.Fatalf("AUTHENTICATE before TLS: %q", l)
		}
		// After STARTTLS the same login works.
		c, err := imapclient.DialStartTLS(ts.plain, &imapclient.Options{TLSConfig: ts.clientTLS})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(testUser, testPassword).Wait(); err != nil {
			t.Fatalf("login after STARTTLS: %v", err)
		}
	})

	t.Run("AUTHENTICATE PLAIN", func(t *testing.T) {
		c, err := imapclient.DialTLS(ts.tls, &imapclient.Options{TLSConfig: ts.clientTLS})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Authenticate(sasl.NewPlainClient("", testUser, testPassword)); err != nil {
			t.Fatalf("AUTHENTICATE PLAIN: %v", err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		// An authorization identity of someone else is refused.
		c2, _ := imapclient.DialTLS(ts.tls, &imapclient.Options{TLSConfig: ts.clientTLS})
		defer c2.Close()
		if err := c2.Authenticate(sasl.NewPlainClient("bob@imap.test", testUser, testPassword)); err == nil {
			t.Fatal("authzid of another user accepted")
		}
	})
}

func TestTLSBadInput(t *testing.T) {
	ts := newTestServer(t)

	t.Run("STARTTLS with pipelined LOGIN", func(t *testing.T) {
		r := dialRaw(t, ts.plain, nil)
		// One packet: the LOGIN after STARTTLS is plaintext and must never
		// run (a wrong password would show up in the throttle if it did).
		r.send("S STARTTLS\r\nL LOGIN " + testUser + " wrong-password\r\n")
		if l := r.until("S"); !strings.HasPrefix(l[len(l)-1], "S OK") {
			t.Fatalf("STARTTLS: %q", l)
		}
		// The plaintext after STARTTLS was dropped unread: the handshake
		// works and the session is still not logged in.
		tc := tls.Client(r.c, ts.clientTLS)
		if err := tc.Handshake(); err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		tr := &rawConn{t: t, c: tc, br: bufio.NewReader(tc)}
		tr.send("X SELECT INBOX\r\n")
		if l := tr.until("X"); !strings.HasPrefix(l[len(l)-1], "X BAD") {
			t.Fatalf("SELECT after STARTTLS: %q", l)
		}
		if n := len(ts.st.Throttle.Recent()); n != 0 {
			t.Fatalf("the pipelined LOGIN ran (%d failures)", n)
		}
		tr.send("C CAPABILITY\r\n")
		if caps := strings.Join(tr.until("C"), " "); !strings.Contains(caps, "AUTH=PLAIN") || strings.Contains(caps, "STARTTLS") {
			t.Fatalf("capabilities after STARTTLS: %s", caps)
		}
	})

	t.Run("plaintext to the TLS port", func(t *testing.T) {
		c, err := net.Dial("tcp", ts.tls)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("a CAPABILITY\r\n"))
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		if strings.Contains(string(buf[:n]), "OK") {
			t.Fatalf("banner over plaintext: %q", buf[:n])
		}
	})

	t.Run("ALPN http/1.1 refused", func(t *testing.T) {
		cfg := ts.clientTLS.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		if c, err := tls.Dial("tcp", ts.tls, cfg); err == nil {
			c.Close()
			t.Fatal("handshake with ALPN http/1.1 succeeded")
		}
		cfg.NextProtos = []string{"imap"}
		c, err := tls.Dial("tcp", ts.tls, cfg)
		if err != nil {
			t.Fatalf("ALPN imap: %v", err)
		}
		c.Close()
	})
}

// TestLoginLiterals: clients send passwords with special characters as
// literals (synchronising, or LITERAL- non-synchronising up to 4096).
func TestLoginLiterals(t *testing.T) {
	ts := newTestServer(t)
	const odd = "p\"a ss\\{w}rd"
	if err := ts.st.SetUserPassword(testUser, odd); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.send("a LOGIN {15}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("literal user name: %q", l)
	}
	r.send(testUser + fmt.Sprintf(" {%d}\r\n", len(odd)))
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("literal password: %q", l)
	}
	r.send(odd + "\r\n")
	if l := r.until("a"); !strings.HasPrefix(l[len(l)-1], "a OK") {
		t.Fatalf("LOGIN with literals: %q", l)
	}
	r2 := dialRaw(t, ts.tls, ts.clientTLS)
	r2.send(fmt.Sprintf("b LOGIN %s {%d+}\r\n%s\r\n", testUser, len(odd), odd))
	if l := r2.until("b"); !strings.HasPrefix(l[len(l)-1], "b OK") {
		t.Fatalf("LOGIN with a non-synchronising literal: %q", l)
	}
	// A quoted password with escapes works too.
	r3 := dialRaw(t, ts.tls, ts.clientTLS)
	r3.send(`c LOGIN "` + testUser + `" "p\"a ss\\{w}rd"` + "\r\n")
	if l := r3.until("c"); !strings.HasPrefix(l[len(l)-1], "c OK") {
		t.Fatalf("LOGIN with a quoted password: %q", l)
	}
	// A non-synchronising literal over the limit ends the connection.
	r4 := dialRaw(t, ts.tls, ts.clientTLS)
	// (written in the background: the server may close before it is all
	// sent, which is the point)
	go r4.c.Write([]byte("d LOGIN x {5000+}\r\n" + strings.Repeat("y", 5000) + "\r\n"))
	if l := r4.line(); !strings.HasPrefix(l, "d BAD") {
		t.Fatalf("big non-synchronising literal: %q", l)
	}
	if l := r4.line(); l != "" {
		t.Fatalf("connection still open: %q", l)
	}
}

// TestLoginThrottle: failed IMAP logins go through the one throttle SMTP
// and the web share; once it blocks, even the right password is refused
// for a while (NO [UNAVAILABLE]), and other addresses are unaffected.
func TestLoginThrottle(t *testing.T) {
	ts := newTestServer(t)
	ts.st.Throttle.SetConfig(store.ThrottleConfig{FreeFailures: 1, BlockAfter: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, BlockFor: time.Hour})
	r := dialRaw(t, ts.tls, ts.clientTLS)
	for i := 0; i < 3; i++ {
		r.send(fmt.Sprintf("f%d LOGIN %s wrong\r\n", i, testUser))
		if l := r.until(fmt.Sprintf("f%d", i)); !strings.Contains(l[len(l)-1], "NO [AUTHENTICATIONFAILED]") {
			t.Fatalf("failure %d: %q", i, l)
		}
	}
	r.send("g LOGIN " + testUser + " " + testPassword + "\r\n")
	if l := r.until("g"); !strings.Contains(l[len(l)-1], "NO [UNAVAILABLE]") {
		t.Fatalf("right password while blocked: %q", l)
	}
	if blocked, _ := ts.st.Throttle.Check("127.0.0.1", testUser); !blocked {
		t.Fatal("the shared throttle does not block")
	}
	found := false
	for _, f := range ts.st.Throttle.Recent() {
		found = found || (f.Protocol == "imap" && f.Login == testUser)
	}
	if !found {
		t.Fatal("failures not recorded as imap")
	}
}
