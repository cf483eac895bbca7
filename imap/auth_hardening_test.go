package imap

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// Regression tests of the Authentication section of issue 10, through the
// real IMAP server.

// dialRawFrom is dialRaw over implicit TLS from a loopback source address.
func (ts *testServer) dialRawFrom(t *testing.T, src string) *rawConn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := tls.DialWithDialer(d, "tcp", ts.tls, ts.clientTLS)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	if g := r.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return r
}

// loginAs sends LOGIN and returns the tagged answer.
func (r *rawConn) loginAs(login, pw string) string {
	r.t.Helper()
	r.send(fmt.Sprintf("L LOGIN %q %q\r\n", login, pw))
	l := r.until("L")
	return l[len(l)-1]
}

// expectBye reads the server's BYE and then the end of the connection.
func (r *rawConn) expectBye() {
	r.t.Helper()
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		r.t.Fatalf("want BYE, got %q", l)
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := r.br.ReadString('\n'); err == nil {
		r.t.Fatalf("connection open after BYE: read %q", l)
	}
}

// TestRevokedIMAPSession (issue 10 item 5): a session opened before a
// password change or the user's removal gets BYE at its next command, and
// at once while in IDLE.
func TestRevokedIMAPSession(t *testing.T) {
	ts := newTestServer(t)
	pw := testPassword
	next := func() string { pw += "x"; return pw }
	t.Run("password change, next command", func(t *testing.T) {
		r := ts.dialRawFrom(t, "127.0.0.2")
		if got := r.loginAs(testUser, pw); !strings.HasPrefix(got, "L OK") {
			t.Fatalf("login: %q", got)
		}
		r.send("S SELECT INBOX\r\n")
		r.until("S")
		if err := ts.st.SetUserPassword(testUser, next()); err != nil {
			t.Fatal(err)
		}
		r.send("N NOOP\r\n")
		r.expectBye()
	})
	t.Run("password change during IDLE", func(t *testing.T) {
		r := ts.dialRawFrom(t, "127.0.0.2")
		if got := r.loginAs(testUser, pw); !strings.HasPrefix(got, "L OK") {
			t.Fatalf("login: %q", got)
		}
		r.send("S SELECT INBOX\r\n")
		r.until("S")
		r.send("I IDLE\r\n")
		if l := r.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("IDLE: %q", l)
		}
		if err := ts.st.SetUserPassword(testUser, next()); err != nil {
			t.Fatal(err)
		}
		r.expectBye() // without sending DONE
	})
	t.Run("user removal", func(t *testing.T) {
		if err := ts.st.SetUserPassword(testUser, testPassword); err != nil {
			t.Fatal(err)
		}
		r := ts.dialRawFrom(t, "127.0.0.2")
		if got := r.loginAs(testUser, testPassword); !strings.HasPrefix(got, "L OK") {
			t.Fatalf("login: %q", got)
		}
		if err := ts.st.RemoveUser(testUser); err != nil {
			t.Fatal(err)
		}
		r.send("X LIST \"\" *\r\n")
		r.expectBye()
	})
}

// TestNoPasswordOracleIMAP (item 6): a domain or admin login gets the same
// answer with the right and a wrong password.
func TestNoPasswordOracleIMAP(t *testing.T) {
	ts := newTestServer(t)
	if err := ts.st.SetAdminPassword("Adm-pass-w2E!r"); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{testDomain, testDomPW}, {"WWW." + testDomain, testDomPW}, {"admin", "Adm-pass-w2E!r"}} {
		right := ts.dialRawFrom(t, "127.0.0.3").loginAs(c[0], c[1])
		wrong := ts.dialRawFrom(t, "127.0.0.3").loginAs(c[0], "not-the-password")
		want := "L NO [AUTHENTICATIONFAILED] invalid login or password; a domain login has no mailbox, log in with an email address"
		if right != want || wrong != want {
			t.Errorf("%s: right password %q, wrong %q; want both %q", c[0], right, wrong, want)
		}
	}
}

// TestThrottleSharedAndCanonicalIMAP (item 4): guesses against one
// spelling block every spelling, from another address too.
func TestThrottleSharedAndCanonicalIMAP(t *testing.T) {
	ts := newTestServer(t)
	ts.st.Throttle.SetConfig(store.ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, BlockAfter: 3})
	for i := 0; i < 3; i++ {
		if got := ts.dialRawFrom(t, "127.0.0.4").loginAs(testUser, "wrong"); !strings.HasPrefix(got, "L NO [AUTHENTICATIONFAILED]") {
			t.Fatalf("guess %d: %q", i, got)
		}
	}
	for i, l := range []string{"ALICE@imap.test", "alice@IMAP.TEST", "<alice@imap.test>", `"alice"@imap.test`} {
		src := fmt.Sprintf("127.0.0.%d", 20+i)
		if got := ts.dialRawFrom(t, src).loginAs(l, testPassword); !strings.HasPrefix(got, "L NO [UNAVAILABLE]") {
			t.Errorf("%q from %s after alice was blocked: %q", l, src, got)
		}
	}
}

// TestNoUnicodeCaseFoldingIMAP (item 8): ALİCE (U+0130) is not alice.
func TestNoUnicodeCaseFoldingIMAP(t *testing.T) {
	ts := newTestServer(t)
	if got := ts.dialRawFrom(t, "127.0.0.5").loginAs("ALİCE@imap.test", testPassword); !strings.HasPrefix(got, "L NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("ALİCE logged in as alice: %q", got)
	}
	if got := ts.dialRawFrom(t, "127.0.0.5").loginAs("ALICE@imap.test", testPassword); !strings.HasPrefix(got, "L OK") {
		t.Fatalf("ASCII case: %q", got)
	}
}
