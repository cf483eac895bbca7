package mx

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

func TestSizeRecipientAndLineLimits(t *testing.T) {
	e := newMX(t, func(c *Config) { c.MaxSize = 20000; c.MaxRecipients = 5; c.MaxLine = 1000 })
	r := dialRaw(t, e.addr)
	r.expect("EHLO client.test", 250)
	// SIZE= over the limit: refused at once.
	if msg := r.expect("MAIL FROM:<x@sender.test> SIZE=999999", 552); !strings.Contains(msg, "5.3.4") {
		t.Errorf("SIZE over limit: %q", msg)
	}
	r.expect("MAIL FROM:<x@sender.test>", 250)
	for i := 0; i < 5; i++ {
		r.expect("RCPT TO:<alice@a.test>", 250)
	}
	if msg := r.expect("RCPT TO:<bob@a.test>", 452); !strings.Contains(msg, "4.5.3") {
		t.Errorf("too many recipients: %q", msg)
	}
	r.expect("DATA", 354)
	// Over the size, with a smuggled command inside: read to the real end.
	big := "From: <x@sender.test>\r\n\r\n" + strings.Repeat(strings.Repeat("y", 98)+"\r\n", 300) + "MAIL FROM:<evil@sender.test>\r\n.\r\n"
	io.WriteString(r.c, big)
	if code, msg := r.read(); code != 552 {
		t.Errorf("over size → %d %s, want 552", code, msg)
	}
	// The connection is still in sync: the smuggled MAIL never ran.
	r.expect("RSET", 250)
	r.expect("MAIL FROM:<x@sender.test>", 250)
	r.expect("RCPT TO:<alice@a.test>", 250)
	r.expect("DATA", 354)
	io.WriteString(r.c, "From: <x@sender.test>\r\n\r\n"+strings.Repeat("z", 2000)+"\r\n.\r\n")
	if code, _ := r.read(); code != 500 && code != 552 {
		t.Errorf("over-long line → %d, want 500", code)
	}
	if n := len(e.mailbox(t, "alice@a.test", "INBOX")); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

func TestConnectionsPerIP(t *testing.T) {
	e := newMX(t, func(c *Config) { c.MaxConnsPerIP = 2 })
	dialRaw(t, e.addr)
	dialRaw(t, e.addr)
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line := make([]byte, 200)
	n, _ := c.Read(line)
	if !strings.HasPrefix(string(line[:n]), "421 ") {
		t.Errorf("third connection got %q, want 421", line[:n])
	}
}

func TestSTARTTLSInjectionAndState(t *testing.T) {
	e := newMX(t, nil)
	r := dialRaw(t, e.addr)
	r.expect("EHLO client.test", 250)
	r.expect("MAIL FROM:<x@sender.test>", 250)
	// STARTTLS with a pipelined command in the same packet.
	io.WriteString(r.c, "STARTTLS\r\nRSET\r\n")
	if code, _ := r.read(); code != 220 {
		t.Fatalf("STARTTLS → %d", code)
	}
	tc := tls.Client(r.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	r2 := &raw{t: t, c: tc}
	r2.tp = newTP(tc)
	// The plaintext RSET never ran, and the old transaction is gone.
	if code, _ := r2.cmd("RCPT TO:<alice@a.test>"); code/100 != 5 {
		t.Errorf("RCPT after STARTTLS without EHLO/MAIL → %d, want 5xx", code)
	}
	msg := r2.expect("EHLO client.test", 250)
	if strings.Contains(msg, "STARTTLS") {
		t.Errorf("STARTTLS offered again after TLS: %q", msg)
	}
	r2.expect("STARTTLS", 502)
	r2.expect("MAIL FROM:<x@sender.test>", 250)
	r2.expect(fmt.Sprintf("RCPT TO:<%s>", "alice@a.test"), 250)
}

func newTP(c net.Conn) *textproto.Conn { return textproto.NewConn(c) }

func TestEndlessLineClosed(t *testing.T) {
	e := newMX(t, nil)
	r := dialRaw(t, e.addr)
	r.expect("EHLO client.test", 250)
	go func() {
		chunk := strings.Repeat("A", 1<<20)
		for i := 0; i < 100; i++ {
			if _, err := io.WriteString(r.c, chunk); err != nil {
				return // closed by the server: what we want
			}
		}
	}()
	if code, msg := r.read(); code != 500 {
		t.Errorf("100 MB without a newline → %d %s, want 500", code, msg)
	}
	// The server still serves others.
	r2 := dialRaw(t, e.addr)
	r2.expect("EHLO client.test", 250)
}
