package mx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/smtp/smtpd"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/store"
)

type mxEnv struct {
	st   *store.Store
	dns  *mailtest.DNS
	addr string
	srv  *Server
	key  ed25519.PrivateKey // DKIM key of sender.test, selector "s1"
}

func newMX(t testing.TB, mod func(*Config)) *mxEnv {
	t.Helper()
	return newMXOn(t, mxStore(t, t.TempDir(), store.Options{}), mod)
}

// mxStore opens the store in dir with a.test, alice and bob.
func mxStore(t testing.TB, dir string, opts store.Options) *store.Store {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.AddDomain("a.test")
	for _, u := range []string{"alice@a.test", "bob@a.test"} {
		if _, err := st.AddUser(u, "password-123"); err != nil && !errors.Is(err, store.ErrExists) {
			t.Fatal(err)
		}
	}
	return st
}

// newMXOn starts an MX over st.
func newMXOn(t testing.TB, st *store.Store, mod func(*Config)) *mxEnv {
	t.Helper()
	d := mailtest.StartDNS(t)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	// sender.test: a well-run outside domain sending from 127.0.0.1.
	d.AddTXT("sender.test", "v=spf1 ip4:127.0.0.1 -all")
	d.AddTXT("s1._domainkey.sender.test", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(pub))
	d.AddTXT("_dmarc.sender.test", "v=DMARC1; p=reject")
	// reject.test / quarantine.test: strict DMARC, and 127.0.0.1 is not theirs.
	for _, p := range []string{"reject", "quarantine"} {
		d.AddTXT(p+".test", "v=spf1 ip4:192.0.2.1 -all")
		d.AddTXT("_dmarc."+p+".test", "v=DMARC1; p="+p)
	}
	res, _ := dnsx.New(d.Addr)
	res.Timeout = 5 * time.Second
	res.CacheTTL = 0 // tests change records between messages
	serverTLS, _ := mailtest.SelfSigned(t, "mx.a.test")
	cfg := Config{Service: smtpd.Service{Hostname: "mx.a.test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		Resolver: res, UnknownDelay: 5 * time.Millisecond, Junk: st.Junk}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg, st, serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &mxEnv{st: st, dns: d, addr: ln.Addr().String(), srv: srv, key: key}
}

// raw is a line-level SMTP client that shows every reply as sent.
type raw struct {
	t  *testing.T
	c  net.Conn
	tp *textproto.Conn
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &raw{t: t, c: c, tp: textproto.NewConn(c)}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if code, _ := r.read(); code != 220 {
		t.Fatalf("greeting %d", code)
	}
	return r
}

func (r *raw) read() (int, string) {
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil {
		return 0, err.Error()
	}
	return code, msg
}

func (r *raw) cmd(line string) (int, string) {
	r.tp.PrintfLine("%s", line)
	return r.read()
}

func (r *raw) expect(line string, want int) string {
	r.t.Helper()
	code, msg := r.cmd(line)
	if code != want {
		r.t.Fatalf("%q → %d %s, want %d", line, code, msg, want)
	}
	return msg
}

func (e *mxEnv) signed(t *testing.T, from, to, subject, extra string) []byte {
	t.Helper()
	m := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@sender.test>\r\n%s\r\nHello.\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), extra)
	var out bytes.Buffer
	if err := msgdkim.Sign(&out, strings.NewReader(m), &msgdkim.SignOptions{Domain: "sender.test", Selector: "s1", Signer: e.key}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// send delivers one message with go-smtp's client over STARTTLS and
// returns the server's error (nil for 250).
func (e *mxEnv) send(t *testing.T, from string, rcpts []string, msg []byte) error {
	t.Helper()
	c, err := gosmtp.DialStartTLS(e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	w.Write(msg)
	return w.Close()
}

func (e *mxEnv) mailbox(t *testing.T, user, box string) []string {
	t.Helper()
	ms, err := e.st.ListMessages(user, box)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		b, _ := e.st.Body(m.BodyID)
		out = append(out, string(b))
	}
	return out
}

func codeOf(err error) int {
	if se, ok := err.(*gosmtp.SMTPError); ok {
		return se.Code
	}
	return 0
}

func TestRelayFormsRefused(t *testing.T) {
	e := newMX(t, nil)
	forms := []string{"user@other.test", "user%other.test@a.test", "@a.test:user@other.test",
		`"user@other.test"@a.test`, "USER@OTHER.TEST", "alice@a.test.", "user@other.test@a.test",
		"user@[127.0.0.1]", "alice!other.test@a.test", "ALICE@OTHER.TEST."}
	for _, sender := range []string{"alice@a.test", ""} {
		r := dialRaw(t, e.addr)
		r.expect("EHLO client.test", 250)
		r.expect("MAIL FROM:<"+sender+">", 250)
		for _, f := range forms {
			code, msg := r.cmd("RCPT TO:<" + f + ">")
			if code != 554 || !strings.Contains(msg, "5.7.1") {
				t.Errorf("sender %q RCPT %s → %d %s, want 554 5.7.1", sender, f, code, msg)
			}
		}
		if code, _ := r.cmd("DATA"); code/100 != 5 {
			t.Errorf("DATA without accepted recipients → %d", code)
		}
	}
	if q, _ := e.st.ListQueue(); len(q) != 0 {
		t.Fatalf("relay attempts queued %d messages", len(q))
	}
}

func TestUnknownUsersSlowedThen421(t *testing.T) {
	e := newMX(t, func(c *Config) { c.UnknownMax = 5 })
	r := dialRaw(t, e.addr)
	r.expect("EHLO client.test", 250)
	r.expect("MAIL FROM:<x@sender.test>", 250)
	r.expect("RCPT TO:<alice@a.test>", 250)
	for i := 1; i < 5; i++ {
		if msg := r.expect(fmt.Sprintf("RCPT TO:<nobody%d@a.test>", i), 550); !strings.Contains(msg, "5.1.1") {
			t.Errorf("unknown user reply %q", msg)
		}
	}
	r.expect("RCPT TO:<nobody5@a.test>", 421)
	if _, err := r.tp.ReadLine(); err == nil {
		t.Error("connection still open after 421")
	}
}

func TestVRFYEXPNAndAUTH(t *testing.T) {
	e := newMX(t, nil)
	r := dialRaw(t, e.addr)
	msg := r.expect("EHLO client.test", 250)
	if !strings.Contains(msg, "STARTTLS") || strings.Contains(msg, "AUTH") {
		t.Errorf("EHLO: %q (want STARTTLS, no AUTH)", msg)
	}
	r.expect("VRFY alice@a.test", 252)
	r.expect("VRFY nobody@a.test", 252)
	r.expect("EXPN staff", 502)
	r.expect("AUTH PLAIN AGFsaWNlQGEudGVzdABwYXNzd29yZC0xMjM=", 503)
}

func TestAuthenticatedMailPasses(t *testing.T) {
	e := newMX(t, nil)
	m := e.signed(t, "news@sender.test", "alice@a.test", "hello", "Authentication-Results: mx.a.test; dkim=pass header.d=evil.test\r\n")
	if err := e.send(t, "news@sender.test", []string{"alice@a.test"}, m); err != nil {
		t.Fatal(err)
	}
	box := e.mailbox(t, "alice@a.test", "INBOX")
	if len(box) != 1 {
		t.Fatalf("INBOX has %d messages", len(box))
	}
	got := box[0]
	for _, want := range []string{"spf=pass", "dkim=pass", "dmarc=pass", "Return-Path: <news@sender.test>", "Received: from", "with ESMTPS"} {
		if !strings.Contains(got, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "evil.test") || strings.Count(got, "Authentication-Results:") != 1 {
		t.Errorf("the outside Authentication-Results survived:\n%s", got)
	}
}

func TestDMARCRejectAndQuarantine(t *testing.T) {
	e := newMX(t, nil)
	plain := func(from string) []byte {
		return []byte("From: <" + from + ">\r\nTo: <alice@a.test>\r\nSubject: x\r\n\r\nbody\r\n")
	}
	err := e.send(t, "ceo@reject.test", []string{"alice@a.test"}, plain("ceo@reject.test"))
	if codeOf(err) != 550 || !strings.Contains(err.Error(), "DMARC") {
		t.Errorf("DMARC reject → %v", err)
	}
	if err := e.send(t, "ceo@quarantine.test", []string{"alice@a.test"}, plain("ceo@quarantine.test")); err != nil {
		t.Fatalf("quarantine → %v", err)
	}
	if n := len(e.mailbox(t, "alice@a.test", "INBOX")); n != 0 {
		t.Errorf("INBOX has %d messages, want 0", n)
	}
	junk := e.mailbox(t, "alice@a.test", "Junk")
	if len(junk) != 1 || !strings.Contains(junk[0], "dmarc=fail") {
		t.Errorf("Junk = %q", junk)
	}
	// A signed message whose From: is at reject.test but signed by
	// sender.test is not aligned: still rejected.
	m := e.signed(t, "ceo@reject.test", "alice@a.test", "spoof", "")
	if err := e.send(t, "news@sender.test", []string{"alice@a.test"}, m); codeOf(err) != 550 {
		t.Errorf("unaligned DKIM → %v, want 550", err)
	}
}

func TestExactDuplicateStoredOnce(t *testing.T) {
	e := newMX(t, nil)
	m := e.signed(t, "news@sender.test", "alice@a.test", "once", "")
	for i := 0; i < 2; i++ {
		if err := e.send(t, "news@sender.test", []string{"alice@a.test"}, m); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if n := len(e.mailbox(t, "alice@a.test", "INBOX")); n != 1 {
		t.Errorf("an identical resend was stored: %d copies", n)
	}
	// The same bytes to another recipient, or from another sender, are new.
	e.send(t, "news@sender.test", []string{"bob@a.test"}, m)
	e.send(t, "other@sender.test", []string{"alice@a.test"}, m)
	if a, b := len(e.mailbox(t, "alice@a.test", "INBOX")), len(e.mailbox(t, "bob@a.test", "INBOX")); a != 2 || b != 1 {
		t.Errorf("alice %d, bob %d; want 2 and 1", a, b)
	}
}

func TestSeveralFromRefused(t *testing.T) {
	e := newMX(t, nil)
	for _, m := range []string{
		"From: <news@sender.test>\r\nFrom: <ceo@reject.test>\r\nSubject: x\r\n\r\nx\r\n",
		"From: <news@sender.test>, <ceo@reject.test>\r\nSubject: x\r\n\r\nx\r\n",
	} {
		if err := e.send(t, "news@sender.test", []string{"alice@a.test"}, []byte(m)); codeOf(err) != 550 {
			t.Errorf("%q → %v, want 550", m, err)
		}
	}
	if n := len(e.mailbox(t, "alice@a.test", "INBOX")); n != 0 {
		t.Errorf("%d stored", n)
	}
}

func TestForgedHostedSenderJudgedOnEvidence(t *testing.T) {
	e := newMX(t, nil)
	forged := []byte("From: <alice@a.test>\r\nTo: <bob@a.test>\r\nSubject: from your boss\r\n\r\npay this\r\n")
	// No SPF/DMARC published for a.test: no evidence either way, accepted.
	if err := e.send(t, "alice@a.test", []string{"bob@a.test"}, forged); err != nil {
		t.Fatalf("without DMARC evidence: %v", err)
	}
	if box := e.mailbox(t, "bob@a.test", "INBOX"); len(box) != 1 || !strings.Contains(box[0], "dmarc=none") {
		t.Fatalf("bob's INBOX = %q", box)
	}
	// With the records `authsmtp domain dns` asks for, the forgery fails.
	e.dns.AddTXT("a.test", "v=spf1 mx -all")
	e.dns.AddTXT("_dmarc.a.test", "v=DMARC1; p=reject")
	forged = append(forged, "again\r\n"...)
	if err := e.send(t, "alice@a.test", []string{"bob@a.test"}, forged); codeOf(err) != 550 {
		t.Fatalf("forged hosted sender with DMARC → %v, want 550", err)
	}
}

func TestLoopsAndSmuggling(t *testing.T) {
	e := newMX(t, nil)
	var hdr strings.Builder
	for i := 0; i < 51; i++ {
		fmt.Fprintf(&hdr, "Received: from hop%d.test by hop%d.test; Fri, 27 Nov 2026 10:00:00 +0000\r\n", i, i+1)
	}
	m := []byte(hdr.String() + "From: <x@sender.test>\r\nSubject: loop\r\n\r\nx\r\n")
	if err := e.send(t, "x@sender.test", []string{"alice@a.test"}, m); codeOf(err) != 554 || err.(*gosmtp.SMTPError).EnhancedCode != (gosmtp.EnhancedCode{5, 4, 6}) {
		t.Errorf("51 Received → %v, want 554 5.4.6", err)
	}
	// Bare LF followed by a smuggled transaction.
	r := dialRaw(t, e.addr)
	r.expect("EHLO client.test", 250)
	r.expect("MAIL FROM:<x@sender.test>", 250)
	r.expect("RCPT TO:<alice@a.test>", 250)
	r.expect("DATA", 354)
	io.WriteString(r.c, "From: <x@sender.test>\r\nSubject: a\r\n\r\nhello\n.\nMAIL FROM:<x@sender.test>\r\nRCPT TO:<bob@a.test>\r\n.\r\n")
	if code, _ := r.read(); code/100 != 5 {
		t.Errorf("bare LF smuggling → %d, want 5xx", code)
	}
	if n := len(e.mailbox(t, "alice@a.test", "INBOX")) + len(e.mailbox(t, "bob@a.test", "INBOX")); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

func TestPerIPMessageRate(t *testing.T) {
	e := newMX(t, func(c *Config) { c.PerIPPerHour = 2 })
	r := dialRaw(t, e.addr)
	r.expect("EHLO client.test", 250)
	for i := 0; i < 2; i++ {
		r.expect("MAIL FROM:<x@sender.test>", 250)
		r.expect("RSET", 250)
	}
	r.expect("MAIL FROM:<x@sender.test>", 450)
}

// TestSPFStartsAtMail: the SPF check runs while the client sends RCPT
// and the data, so a sender whose SPF lookups are slow does not make the
// reply to the data wait for all of them.
func TestSPFStartsAtMail(t *testing.T) {
	e := newMX(t, nil)
	e.dns.AddTXT("slowspf.test", "v=spf1 ip4:127.0.0.1 -all")
	const slow = 2 * time.Second
	e.dns.Delay("slowspf.test", slow)
	c, err := gosmtp.DialStartTLS(e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("news@slowspf.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@a.test", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(slow) // the client takes as long to send its data
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: <news@slowspf.test>\r\nTo: <alice@a.test>\r\nSubject: slow SPF\r\n\r\nhello\r\n")
	start := time.Now()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > slow*3/4 {
		t.Errorf("the reply to the data took %v: the SPF lookups (%v) started only then", took, slow)
	}
	got := e.mailbox(t, "alice@a.test", "INBOX")
	if len(got) != 1 || !strings.Contains(got[0], "spf=pass") {
		t.Fatalf("INBOX = %q; want one message with spf=pass", got)
	}
}
