package smtp

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
)

// Regression tests of the Authentication section of issue 10, through the
// real submission server: throttle keys, revocation of open sessions, no
// password oracle, the password-check pool, no Unicode case folding.

// authedFrom dials from a loopback source address (every 127/8 address is
// local on Linux), so a test can play several client IPs. It sends EHLO,
// STARTTLS, EHLO and AUTH PLAIN and returns the AUTH reply.
func (e *env) authedFrom(t *testing.T, src, login, pw string) (*raw, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", e.sub)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := &raw{t: t, conn: c, r: bufio.NewReader(c)}
	r.expect("220")
	r.cmd("EHLO client.test", "250")
	r.startTLS(e.client)
	r.cmd("EHLO client.test", "250")
	r.send("AUTH PLAIN " + plain("", login, pw) + "\r\n")
	return r, r.reply()
}

// TestThrottleKeyedByCanonicalLogin (issue 10 item 4a): once a login is
// blocked, no other spelling of it logs in with the right password, from
// another address either.
func TestThrottleKeyedByCanonicalLogin(t *testing.T) {
	e := newEnv(t, nil)
	e.st.Throttle.SetConfig(storeThrottle(3))
	for i := 0; i < 3; i++ {
		if _, got := e.authedFrom(t, "127.0.0.2", "john@doe.com", "wrong"); !strings.HasPrefix(got, "535") {
			t.Fatalf("guess %d: %q", i, got)
		}
	}
	for i, l := range []string{"JOHN@doe.com", "john@DOE.COM", " john@doe.com", "<john@doe.com>", `"john"@doe.com`} {
		src := fmt.Sprintf("127.0.0.%d", 10+i)
		if _, got := e.authedFrom(t, src, l, userPW); !strings.HasPrefix(got, "454 4.7.0") {
			t.Errorf("%q from %s after john@doe.com was blocked: %q, want 454", l, src, got)
		}
	}
}

// TestThrottleSuccessClearsOnlyItsPair (item 4b): guesses against other
// accounts, each three followed by a good login to the attacker's own
// account, still block the address.
func TestThrottleSuccessClearsOnlyItsPair(t *testing.T) {
	e := newEnv(t, nil)
	e.st.Throttle.SetConfig(storeThrottle(10))
	const src = "127.0.0.3"
	blockedAt := 0
	for guess := 1; guess <= 15 && blockedAt == 0; guess++ {
		victim := fmt.Sprintf("victim%d@doe.com", guess) // spread: no login key fills up
		if _, got := e.authedFrom(t, src, victim, "guess"); strings.HasPrefix(got, "454") {
			blockedAt = guess
			break
		}
		if guess%3 == 0 {
			if _, got := e.authedFrom(t, src, "jane@doe.com", "Jan-pass-h3Y!p"); strings.HasPrefix(got, "454") {
				blockedAt = guess
			} else if !strings.HasPrefix(got, "235") {
				t.Fatalf("own login: %q", got)
			}
		}
	}
	if blockedAt == 0 || blockedAt > 11 {
		t.Fatalf("15 guesses around good logins were never blocked (block after 10)")
	}
	// The attacker's own login is refused too now; another address is not.
	if _, got := e.authedFrom(t, src, "jane@doe.com", "Jan-pass-h3Y!p"); !strings.HasPrefix(got, "454") {
		t.Fatalf("blocked address logged in: %q", got)
	}
	if _, got := e.authedFrom(t, "127.0.0.4", "jane@doe.com", "Jan-pass-h3Y!p"); !strings.HasPrefix(got, "235") {
		t.Fatalf("another address: %q", got)
	}
}

// TestRevokedSMTPSession (item 5): a session that logged in before a
// password change, a user removal, a domain removal or its domain's SMTP
// switch turned off gets 421 at its next command, and the connection
// closes.
func TestRevokedSMTPSession(t *testing.T) {
	e := newEnv(t, nil)
	testutil.Domain(t, e.st, "gone.test", domPW, true)
	testutil.User(t, e.st, "ann@other.test", "Ann-pass-k9W!q")
	for _, c := range []struct {
		name, login, pw string
		change          func() error
	}{
		{"password change", "john@doe.com", userPW, func() error { return e.st.SetUserPassword("john@doe.com", "Usr-pass-k9W!q2") }},
		{"domain password change", "doe.com", domPW, func() error { return e.st.SetDomainPassword("doe.com", "domain-secret-2") }},
		{"user removal", "jane@doe.com", "Jan-pass-h3Y!p", func() error { return e.st.RemoveUser("jane@doe.com") }},
		{"domain removal", "gone.test", domPW, func() error { return e.st.RemoveDomain("gone.test") }},
		{"SMTP switch off", "ann@other.test", "Ann-pass-k9W!q", func() error { return e.st.SetDomainSwitch("other.test", "smtp", false) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, got := e.authedFrom(t, "127.0.0.5", c.login, c.pw)
			if !strings.HasPrefix(got, "235") {
				t.Fatalf("login: %q", got)
			}
			// A transaction is open when the change lands.
			from := "john@doe.com"
			if !strings.Contains(c.login, "@") {
				from = "x@" + c.login
			} else {
				from = c.login
			}
			r.cmd("MAIL FROM:<"+from+">", "250")
			if err := c.change(); err != nil {
				t.Fatal(err)
			}
			r.cmd("RCPT TO:<john@doe.com>", "421 4.7.0")
			r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if line, err := r.r.ReadString('\n'); err == nil {
				t.Fatalf("connection still open after 421: read %q", line)
			}
		})
	}
	// A session that logs in after the change works (and a session of
	// another login was never touched).
	r, got := e.authedFrom(t, "127.0.0.5", "john@doe.com", "Usr-pass-k9W!q2")
	if !strings.HasPrefix(got, "235") {
		t.Fatalf("login with the new password: %q", got)
	}
	r.cmd("MAIL FROM:<john@doe.com>", "250")
}

// TestNoPasswordOracleSMTP (item 6): "Authenticated SMTP is not enabled"
// is the answer for a right and a wrong password alike, and an admin
// login gets the same answer as a wrong password.
func TestNoPasswordOracleSMTP(t *testing.T) {
	e := newEnv(t, nil)
	e.st.SetAdminPassword("Adm-pass-w2E!r")
	for _, c := range [][3]string{
		{"off.test", domPW, "535 5.7.8 Authenticated SMTP is not enabled for the domain off.test"},
		{"bob@off.test", userPW, "535 5.7.8 Authenticated SMTP is not enabled for the domain off.test"},
		{"admin", "Adm-pass-w2E!r", "535 5.7.8 Authentication failed: invalid login or password"},
	} {
		_, right := e.authedFrom(t, "127.0.0.6", c[0], c[1])
		_, wrong := e.authedFrom(t, "127.0.0.6", c[0], "not-the-password")
		if !strings.HasPrefix(right, c[2]) || right != wrong {
			t.Errorf("%s: right password %q, wrong password %q; want both %q", c[0], right, wrong, c[2])
		}
	}
}

// TestLoginPoolFavoursCleanAddresses (item 7): 40 concurrent failing
// logins from one address do not push a real login from another address
// to the back of the password-check queue.
func TestLoginPoolFavoursCleanAddresses(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConnsPerIP = 100 })
	// Every guess pays a full argon2 run: no block, a tiny delay.
	e.st.Throttle.SetConfig(store.ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, BlockAfter: 1000})
	const n = 40
	var mu sync.Mutex
	var done []time.Time
	// Connections are set up in parallel without t (no Fatal off the
	// test goroutine): a failed setup arrives as nil.
	ready := make(chan *raw, n)
	for i := 0; i < n; i++ {
		go func() { ready <- e.readyForAuth("127.0.0.7") }()
	}
	var guessers []*raw
	for i := 0; i < n; i++ {
		r := <-ready
		if r == nil {
			t.Fatal("setting up a guessing connection failed")
		}
		t.Cleanup(func() { r.conn.Close() })
		guessers = append(guessers, r)
	}
	// The real login's client is ready too, so only AUTH is timed.
	good := e.readyForAuth("127.0.0.8")
	if good == nil {
		t.Fatal("setting up the real login's connection failed")
	}
	good.t = t
	t.Cleanup(func() { good.conn.Close() })

	start := time.Now()
	var wg sync.WaitGroup
	for i, r := range guessers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := plain("", fmt.Sprintf("nobody%d@doe.com", i), "guess")
			r.conn.Write([]byte("AUTH PLAIN " + resp + "\r\n"))
			r.r.ReadString('\n')
			mu.Lock()
			done = append(done, time.Now())
			mu.Unlock()
		}()
	}
	time.Sleep(20 * time.Millisecond) // the guesses are queued first
	realStart := time.Now()
	good.cmd("AUTH PLAIN "+plain("", "jane@doe.com", "Jan-pass-h3Y!p"), "235")
	realDone := time.Now()
	wg.Wait()
	sort.Slice(done, func(i, j int) bool { return done[i].Before(done[j]) })
	before := sort.Search(len(done), func(i int) bool { return done[i].After(realDone) })
	t.Logf("real login: %v under %d failing logins (all %d done after %v); %d guesses answered before it",
		realDone.Sub(realStart).Round(time.Millisecond), n, n, done[len(done)-1].Sub(start).Round(time.Millisecond), before)
	// The real login waits for the checks already running, not for the
	// queue: a few guesses may finish first, never most of them.
	if before > n/4 {
		t.Fatalf("%d of %d failing logins were checked before the real login", before, n)
	}
}

// readyForAuth dials from src and sends EHLO, STARTTLS, EHLO; nil on any
// failure. It uses no *testing.T, so it may run on any goroutine.
func (e *env) readyForAuth(src string) *raw {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", e.sub)
	if err != nil {
		return nil
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(c)
	step := func(cmd, want string) bool {
		if cmd != "" {
			if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
				return false
			}
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(l, want) {
				return false
			}
			if len(l) < 4 || l[3] != '-' {
				return true
			}
		}
	}
	if !step("", "220") || !step("EHLO client.test", "250") || !step("STARTTLS", "220") {
		c.Close()
		return nil
	}
	tc := tls.Client(c, e.client)
	br = bufio.NewReader(tc)
	c2 := net.Conn(tc)
	if _, err := c2.Write([]byte("EHLO client.test\r\n")); err != nil {
		c.Close()
		return nil
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "250") {
			c.Close()
			return nil
		}
		if l[3] != '-' {
			break
		}
	}
	return &raw{conn: tc, r: br}
}

// TestNoUnicodeCaseFolding (item 8): ALİCE (U+0130) and Kelvin-sign Kate
// are neither logins of alice and kate nor addresses they may send as;
// non-ASCII local parts are refused (no SMTPUTF8 is offered).
func TestNoUnicodeCaseFolding(t *testing.T) {
	e := newEnv(t, nil)
	testutil.User(t, e.st, "alice@doe.com", "alice-secret-1")
	testutil.User(t, e.st, "kate@doe.com", "Kat-pass-k9W!q")
	for _, c := range [][2]string{{"ALİCE@doe.com", "alice-secret-1"}, {"\u212Aate@doe.com", "Kat-pass-k9W!q"}} {
		if _, got := e.authedFrom(t, "127.0.0.9", c[0], c[1]); !strings.HasPrefix(got, "535") {
			t.Errorf("login %q: %q, want 535", c[0], got)
		}
	}
	r, got := e.authedFrom(t, "127.0.0.9", "kate@doe.com", "Kat-pass-k9W!q")
	if !strings.HasPrefix(got, "235") {
		t.Fatalf("kate: %q", got)
	}
	if ehlo := r.cmd("EHLO client.test", "250"); strings.Contains(ehlo, "SMTPUTF8") {
		t.Fatalf("SMTPUTF8 offered: %q", ehlo)
	}
	r.cmd("MAIL FROM:<\u212Aate@doe.com>", "5")
	r.cmd("RSET", "250")
	r.cmd("MAIL FROM:<kate@doe.com>", "250")
	r.cmd("RCPT TO:<john@doe.com>", "250")
	r.cmd("DATA", "354")
	r.send("From: \u212Aate@doe.com\r\nTo: john@doe.com\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
	r.expect("5")
}
