package smtp

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// TestBeforeTLS: on 587 AUTH is not advertised and AUTH/MAIL get 530 5.7.0.
func TestBeforeTLS(t *testing.T) {
	e := newEnv(t, nil)
	r := dialRaw(t, e.sub)
	ehlo := r.cmd("EHLO client.test", "250")
	if strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("EHLO before TLS: %q", ehlo)
	}
	r.cmd("AUTH PLAIN "+plain("", "john@doe.com", userPW), "530 5.7.0")
	r.cmd("AUTH LOGIN", "530 5.7.0")
	r.cmd("MAIL FROM:<john@doe.com>", "530 5.7.0")
	r.cmd("RCPT TO:<john@doe.com>", "502")
	r.cmd("QUIT", "221")
	if n := len(e.inbox(t, "john@doe.com")); n != 0 {
		t.Fatalf("stored %d", n)
	}
}

// TestAfterSTARTTLS: plaintext pipelined after STARTTLS never runs, state
// is gone, the new EHLO offers AUTH and no STARTTLS.
func TestAfterSTARTTLS(t *testing.T) {
	e := newEnv(t, nil)
	for _, smuggled := range []string{"RSET", "NOOP", "AUTH PLAIN " + plain("", "john@doe.com", userPW), "MAIL FROM:<john@doe.com>"} {
		t.Run(strings.Fields(smuggled)[0], func(t *testing.T) {
			r := dialRaw(t, e.sub)
			r.cmd("EHLO client.test", "250")
			// One packet: STARTTLS and a plaintext command.
			r.send("STARTTLS\r\n" + smuggled + "\r\n")
			r.expect("220")
			tc := tls.Client(r.conn, e.client)
			if err := tc.Handshake(); err != nil {
				t.Fatalf("handshake: %v", err)
			}
			r.conn, r.r = tc, newReader(tc)
			// The first reply over TLS must be the one to our MAIL: the
			// smuggled command's reply would come first if it had run.
			r.cmd("MAIL FROM:<john@doe.com>", "502") // no EHLO yet: all state gone
			ehlo := r.cmd("EHLO client.test", "250")
			if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
				t.Fatalf("EHLO after TLS: %q", ehlo)
			}
			r.cmd("MAIL FROM:<john@doe.com>", "530 5.7.0") // not logged in
			r.cmd("STARTTLS", "502")
		})
	}
}

// TestImplicitTLS: 465 works with the go-smtp client; plaintext gets no
// banner; a client offering only http/1.1 ALPN fails the handshake.
func TestImplicitTLS(t *testing.T) {
	e := newEnv(t, nil)
	c, err := gosmtp.DialTLS(e.subs, e.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "john@doe.com", userPW)); err != nil {
		t.Fatal(err)
	}
	if err := sendOn(c, "john@doe.com", []string{"jane@doe.com"}, msg("From: john@doe.com")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS offered on implicit TLS")
	}
	if n := len(e.inbox(t, "jane@doe.com")); n != 1 {
		t.Fatalf("jane has %d", n)
	}

	// Plaintext: no banner, the handshake fails and the server closes.
	pc, err := net.Dial("tcp", e.subs)
	if err != nil {
		t.Fatal(err)
	}
	pc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(pc, "EHLO plain.test\r\n")
	b, _ := io.ReadAll(pc)
	pc.Close()
	if strings.Contains(string(b), "220") {
		t.Fatalf("plaintext got a banner: %q", b)
	}

	// ALPACA: http/1.1 only → handshake fails, on both ports.
	cfg := e.client.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	if tc, err := tls.Dial("tcp", e.subs, cfg); err == nil {
		tc.Close()
		t.Fatal("handshake with ALPN http/1.1 succeeded on 465")
	}
	r := dialRaw(t, e.sub)
	r.cmd("EHLO client.test", "250")
	r.cmd("STARTTLS", "220")
	if err := tls.Client(r.conn, cfg).Handshake(); err == nil {
		t.Fatal("handshake with ALPN http/1.1 succeeded after STARTTLS")
	}
	// And the server still serves the next client.
	if _, err := e.dial(t, "john@doe.com", userPW); err != nil {
		t.Fatal(err)
	}
}
