package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/smtp/smtpd"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
)

// env is a running submission server on loopback over a real store.
type env struct {
	st        *store.Store
	srv       *Server
	pipe      *Pipeline
	sub, subs string // 587-style and 465-style addresses
	client    *tls.Config
}

const (
	domPW  = "domain-secret-1"
	userPW = "Usr-pass-k9W!q"
)

// newEnv starts a server with doe.com (SMTP on; users john, jane),
// off.test (SMTP off; user bob) and other.test (SMTP on).
func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	st := testutil.Store(t)
	testutil.Domain(t, st, "doe.com", domPW, true)
	testutil.User(t, st, "john@doe.com", userPW)
	testutil.User(t, st, "jane@doe.com", "Jan-pass-h3Y!p")
	testutil.Domain(t, st, "off.test", domPW, false)
	testutil.User(t, st, "bob@off.test", userPW)
	testutil.Domain(t, st, "other.test", domPW, true)
	st.Throttle.SetConfig(store.ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	return startEnv(t, st, mod)
}

func startEnv(t testing.TB, st *store.Store, mod func(*Config)) *env {
	t.Helper()
	return startEnvPipeline(t, st, mod, nil)
}

// startEnvPipeline is startEnv with pmod changing the pipeline before
// the server starts.
func startEnvPipeline(t testing.TB, st *store.Store, mod func(*Config), pmod func(*Pipeline)) *env {
	t.Helper()
	srvTLS, cliTLS := testutil.TLS(t)
	cfg := Config{Service: smtpd.Service{Hostname: "mail.test", Logger: testutil.Logger(t)}}
	if mod != nil {
		mod(&cfg)
	}
	pipe := NewPipeline(st, "mail.test", cfg.Logger)
	if pmod != nil {
		pmod(pipe)
	}
	srv := NewServer(cfg, st, pipe, srvTLS)
	ln1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { srv.ServeSubmission(ln1); done <- struct{}{} }()
	go func() { srv.ServeSubmissions(ln2); done <- struct{}{} }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		<-done
	})
	return &env{st: st, srv: srv, pipe: pipe, sub: ln1.Addr().String(), subs: ln2.Addr().String(), client: cliTLS}
}

// dial returns a go-smtp client after STARTTLS and, when login is set, AUTH PLAIN.
func (e *env) dial(t *testing.T, login, pw string) (*gosmtp.Client, error) {
	t.Helper()
	c, err := gosmtp.DialStartTLS(e.sub, e.client)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if login == "" {
		return c, nil
	}
	return c, c.Auth(sasl.NewPlainClient("", login, pw))
}

// send submits one message; it returns the error of the first refused step.
func (e *env) send(t *testing.T, login, pw, from string, to []string, msg string) error {
	t.Helper()
	c, err := e.dial(t, login, pw)
	if err != nil {
		return err
	}
	defer c.Quit()
	return sendOn(c, from, to, msg)
}

func sendOn(c *gosmtp.Client, from string, to []string, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

// msg builds a small CRLF message with the given header lines.
func msg(headers ...string) string {
	return strings.Join(headers, "\r\n") + "\r\nSubject: test\r\n\r\nHello.\r\n"
}

// wantCode checks that err is an SMTP error with code and enhanced code
// (e.g. "553 5.7.1"), and that its text contains each of texts.
func wantCode(t *testing.T, err error, code string, texts ...string) {
	t.Helper()
	se, ok := err.(*gosmtp.SMTPError)
	if !ok {
		t.Fatalf("want SMTP error %s, got %v", code, err)
	}
	got := fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	if got != code {
		t.Fatalf("want %s, got %s %s", code, got, se.Message)
	}
	for _, s := range texts {
		if !strings.Contains(se.Message, s) {
			t.Fatalf("reply %q does not mention %q", se.Message, s)
		}
	}
}

// inbox returns the bodies in a user's INBOX.
func (e *env) inbox(t *testing.T, addr string) []string {
	t.Helper()
	ms, err := e.st.ListMessages(addr, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		b, err := e.st.Body(m.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// raw is a line-level client on a bare connection, for what go-smtp's
// client will not send.
type raw struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := &raw{t: t, conn: c, r: bufio.NewReader(c)}
	r.expect("220")
	return r
}

// reply reads one whole (possibly multi-line) reply.
func (r *raw) reply() string {
	r.t.Helper()
	var all []string
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			r.t.Fatalf("reading reply: %v (so far %q)", err, all)
		}
		all = append(all, strings.TrimRight(line, "\r\n"))
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(all, "\n")
		}
	}
}

// expect reads a reply and checks its start.
func (r *raw) expect(prefix string) string {
	r.t.Helper()
	got := r.reply()
	if !strings.HasPrefix(got, prefix) {
		r.t.Fatalf("want reply %q..., got %q", prefix, got)
	}
	return got
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.conn, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// cmd sends one command line and checks the reply's start.
func (r *raw) cmd(line, prefix string) string {
	r.t.Helper()
	r.send(line + "\r\n")
	return r.expect(prefix)
}

// startTLS upgrades the connection (after EHLO).
func (r *raw) startTLS(cfg *tls.Config) {
	r.t.Helper()
	r.cmd("STARTTLS", "220")
	tc := tls.Client(r.conn, cfg)
	if err := tc.HandshakeContext(context.Background()); err != nil {
		r.t.Fatalf("TLS handshake: %v", err)
	}
	r.conn = tc
	r.r = bufio.NewReader(tc)
}

// authed returns a raw connection after EHLO, STARTTLS, EHLO and AUTH PLAIN.
func (e *env) authed(t *testing.T, login, pw string) *raw {
	r := dialRaw(t, e.sub)
	r.cmd("EHLO client.test", "250")
	r.startTLS(e.client)
	r.cmd("EHLO client.test", "250")
	r.cmd("AUTH PLAIN "+plain("", login, pw), "235")
	return r
}

func plain(authz, login, pw string) string {
	return b64(authz + "\x00" + login + "\x00" + pw)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// storeThrottle is a fast throttle that blocks after n failures.
func storeThrottle(n int) store.ThrottleConfig {
	return store.ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, BlockAfter: n, FreeFailures: 1}
}

// rawNoBanner connects without reading the banner.
func rawNoBanner(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &raw{t: t, conn: c, r: bufio.NewReader(c)}
}
