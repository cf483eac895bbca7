package smtp

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// startData opens an authenticated transaction up to the 354.
func (e *env) startData(t *testing.T, login, pw string) *raw {
	r := e.authed(t, login, pw)
	r.cmd("MAIL FROM:<john@doe.com>", "250")
	r.cmd("RCPT TO:<jane@doe.com>", "250")
	r.cmd("DATA", "354")
	return r
}

// TestSmuggling: no end of data other than CRLF.CRLF ends a message; a
// message with a bare CR or LF is refused whole; smuggled commands never run.
func TestSmuggling(t *testing.T) {
	e := newEnv(t, nil)
	smuggled := "MAIL FROM:<john@doe.com>\r\nRCPT TO:<jane@doe.com>\r\nDATA\r\nFrom: john@doe.com\r\n\r\nsmuggled\r\n"
	// Each variant is refused with 550 5.5.2, except where go-smtp's DATA
	// reader itself removes the bare CR (a line starting ".\r" loses both
	// bytes) or the byte is no line ending at all (NUL): then it is one
	// message, stored whole, and still nothing smuggled runs.
	whole := map[string]bool{"\r\n.\r": true, "\r\n\x00.\r\n": true}
	for _, end := range []string{"\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r", "\r.\r\n", "\n.\r", "\r\n\x00.\r\n"} {
		t.Run(fmt.Sprintf("%q", end), func(t *testing.T) {
			before := len(e.inbox(t, "jane@doe.com"))
			r := e.authed(t, "john@doe.com", userPW)
			r.cmd("MAIL FROM:<john@doe.com>", "250")
			r.cmd("RCPT TO:<jane@doe.com>", "250")
			r.cmd("DATA", "354")
			r.send("From: john@doe.com\r\nSubject: s\r\n\r\nhello" + end + smuggled + ".\r\n")
			got := r.reply()
			// The next reply is NOOP's: nothing smuggled ran.
			r.cmd("NOOP", "250 2.0.0 OK")
			r.cmd("QUIT", "221")
			in := e.inbox(t, "jane@doe.com")[before:]
			if whole[end] {
				if !strings.HasPrefix(got, "250") || len(in) != 1 || !strings.Contains(in[0], "\r\nDATA\r\n") {
					t.Fatalf("want one whole message; reply %q, stored %q", got, in)
				}
				return
			}
			if !strings.HasPrefix(got, "550 5.5.2") {
				t.Fatalf("want 550 5.5.2, got %q", got)
			}
			if len(in) != 0 {
				t.Fatalf("refused message stored: %q", in)
			}
		})
	}
}

// TestMalformedAuth: every broken AUTH gets a 4xx/5xx reply, never a panic,
// and the server keeps serving.
func TestMalformedAuth(t *testing.T) {
	e := newEnv(t, nil)
	tlsConn := func(t *testing.T) *raw {
		r := dialRaw(t, e.sub)
		r.cmd("EHLO client.test", "250")
		r.startTLS(e.client)
		r.cmd("EHLO client.test", "250")
		return r
	}
	for _, tc := range []struct{ name, line, want string }{
		{"missing NULs", "AUTH PLAIN " + b64("john@doe.com"+userPW), "501 5.5.2"},
		{"one NUL", "AUTH PLAIN " + b64("john@doe.com\x00"+userPW), "501 5.5.2"},
		{"four parts", "AUTH PLAIN " + b64("\x00john@doe.com\x00"+userPW+"\x00x"), "501 5.5.2"},
		{"empty response", "AUTH PLAIN =", "501 5.5.2"},
		// go-smtp v0.25.1 decodes base64 itself and answers 454 4.7.0.
		{"bad base64", "AUTH PLAIN !!!notbase64", "454 4.7.0"},
		{"unknown mechanism", "AUTH CRAM-MD5", "504 5.7.4"},
		{"no mechanism", "AUTH", "502 5.5.4"},
		{"authzid of another user", "AUTH PLAIN " + plain("jane@doe.com", "john@doe.com", userPW), "535 5.7.8"},
		{"authzid of another domain", "AUTH PLAIN " + plain("other.test", "john@doe.com", userPW), "535 5.7.8"},
		{"authzid of the same login", "AUTH PLAIN " + plain("JOHN@doe.com", "john@doe.com", userPW), "235"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tlsConn(t)
			r.cmd(tc.line, tc.want)
		})
	}
	t.Run("cancel with *", func(t *testing.T) {
		r := tlsConn(t)
		r.cmd("AUTH PLAIN", "334")
		r.cmd("*", "501")
		r.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
		r.cmd("*", "501")
		r.cmd("AUTH LOGIN "+b64("john@doe.com"), "334 UGFzc3dvcmQ6")
		r.cmd(b64(userPW), "235")
	})
	t.Run("LOGIN steps", func(t *testing.T) {
		r := tlsConn(t)
		r.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
		r.cmd(b64("doe.com"), "334 UGFzc3dvcmQ6")
		r.cmd(b64(domPW), "235")
		r.cmd("AUTH PLAIN "+plain("", "doe.com", domPW), "503")
		r.cmd("MAIL FROM:<jane@doe.com>", "250")
		r.cmd("AUTH LOGIN", "503")
	})
	t.Run("12 KiB", func(t *testing.T) {
		r := tlsConn(t)
		// The server may close before it has read it all: ignore write errors.
		go r.conn.Write([]byte("AUTH PLAIN " + strings.Repeat("QUFB", 3*1024) + "\r\n"))
		// go-smtp may first run the part of the line it had buffered (a TLS
		// record boundary); that gets a refusal. Then 500 and close.
		for {
			got := r.reply()
			if strings.HasPrefix(got, "500") {
				break
			}
			if got[0] != '4' && got[0] != '5' {
				t.Fatalf("over-long AUTH got %q", got)
			}
		}
		if _, err := r.r.ReadByte(); err == nil {
			t.Fatal("connection still open after an over-long line")
		}
	})
	if _, err := e.dial(t, "john@doe.com", userPW); err != nil {
		t.Fatalf("server did not survive: %v", err)
	}
}

// TestThrottle: failures per IP and per login lead to 454 4.7.0; another
// IP with another login is not affected.
func TestThrottle(t *testing.T) {
	e := newEnv(t, nil)
	e.st.Throttle.SetConfig(storeThrottle(3))
	for i := 0; i < 3; i++ {
		_, err := e.dial(t, "john@doe.com", "wrong")
		wantCode(t, err, "535 5.7.8")
	}
	_, err := e.dial(t, "john@doe.com", userPW)
	wantCode(t, err, "454 4.7.0")
	// From 127.0.0.2: another login works, the blocked login does not.
	other := func(login, pw string) error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", e.sub)
		if err != nil {
			t.Skipf("cannot dial from 127.0.0.2: %v", err)
		}
		r := &raw{t: t, conn: c, r: newReader(c)}
		defer c.Close()
		r.expect("220")
		r.cmd("EHLO x.test", "250")
		r.startTLS(e.client)
		r.cmd("EHLO x.test", "250")
		r.send("AUTH PLAIN " + plain("", login, pw) + "\r\n")
		if got := r.reply(); !strings.HasPrefix(got, "235") {
			return fmt.Errorf("%s", got)
		}
		return nil
	}
	if err := other("jane@doe.com", "Jan-pass-h3Y!p"); err != nil {
		t.Fatalf("other IP, other login: %v", err)
	}
	if err := other("john@doe.com", userPW); err == nil || !strings.HasPrefix(err.Error(), "454 4.7.0") {
		t.Fatalf("other IP, blocked login: %v", err)
	}
}

// TestBadInput: huge messages, long lines, many recipients, disconnects
// and garbage; the server answers the next client after each.
func TestBadInput(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSize = 25 << 20 })
	alive := func(t *testing.T) {
		t.Helper()
		if err := e.send(t, "john@doe.com", userPW, "john@doe.com", []string{"john@doe.com"}, msg("From: john@doe.com")); err != nil {
			t.Fatalf("server did not answer the next client: %v", err)
		}
	}

	t.Run("30 MiB message", func(t *testing.T) {
		r := e.startData(t, "john@doe.com", userPW)
		r.conn.SetDeadline(time.Now().Add(3 * time.Minute)) // slow under -race
		line := strings.Repeat("x", 998) + "\r\n"
		go func() {
			var b bytes.Buffer
			b.WriteString("From: john@doe.com\r\n\r\n")
			for b.Len() < 30<<20 {
				b.WriteString(line)
				if b.Len()%(1<<20) < 1000 {
					b.WriteString("MAIL FROM:<john@doe.com>\r\n")
				}
			}
			b.WriteString(".\r\n")
			r.conn.Write(b.Bytes())
		}()
		r.expect("552 5.3.4")
		r.cmd("NOOP", "250")
		r.cmd("MAIL FROM:<john@doe.com> SIZE=31457280", "552 5.3.4")
		alive(t)
	})

	t.Run("2000-byte command", func(t *testing.T) {
		r := e.authed(t, "john@doe.com", userPW)
		r.cmd("MAIL FROM:<"+strings.Repeat("a", 1980)+"@doe.com>", "553 5.7.1")
		r.cmd("NOOP "+strings.Repeat("b", 1995), "250")
		alive(t)
	})

	t.Run("100 MB without newline", func(t *testing.T) {
		r := dialRaw(t, e.sub)
		go func() {
			chunk := bytes.Repeat([]byte("A"), 1<<20)
			for i := 0; i < 100; i++ {
				if _, err := r.conn.Write(chunk); err != nil {
					return // the server closed: what we want
				}
			}
		}()
		r.expect("500")
		alive(t)
	})

	t.Run("1000 RCPTs", func(t *testing.T) {
		r := e.authed(t, "doe.com", domPW)
		r.cmd("MAIL FROM:<john@doe.com>", "250")
		ok := 0
		for i := 0; i < 1000; i++ {
			r.send("RCPT TO:<jane@doe.com>\r\n")
			got := r.reply()
			switch {
			case strings.HasPrefix(got, "250"):
				ok++
			case strings.HasPrefix(got, "452 4.5.3"):
			default:
				t.Fatalf("RCPT %d: %q", i, got)
			}
		}
		if ok != 100 {
			t.Fatalf("%d accepted, want 100", ok)
		}
		before := len(e.inbox(t, "jane@doe.com"))
		r.cmd("DATA", "354")
		r.send("From: john@doe.com\r\n\r\nmany\r\n.\r\n")
		r.expect("250")
		if n := len(e.inbox(t, "jane@doe.com")) - before; n != 1 {
			t.Fatalf("jane got %d copies, want 1", n)
		}
	})

	t.Run("disconnect mid-DATA", func(t *testing.T) {
		before := len(e.inbox(t, "jane@doe.com"))
		r := e.startData(t, "john@doe.com", userPW)
		r.send("From: john@doe.com\r\nSubject: cut\r\n\r\nhalf a message\r\n")
		r.conn.Close()
		alive(t)
		if n := len(e.inbox(t, "jane@doe.com")) - before; n != 0 {
			t.Fatalf("a cut message was stored (%d)", n)
		}
	})

	t.Run("garbage", func(t *testing.T) {
		for _, when := range []string{"before EHLO", "after AUTH"} {
			var r *raw
			if when == "before EHLO" {
				r = dialRaw(t, e.sub)
			} else {
				r = e.authed(t, "john@doe.com", userPW)
			}
			junk := make([]byte, 64<<10)
			rand.Read(junk)
			r.conn.Write(junk)
			r.conn.Write([]byte("\r\n\x00\xff\xfe\r\n"))
			r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, r.conn) // the server answers, then closes
			alive(t)
		}
	})
}

// TestBDAT: CHUNKING (advertised by go-smtp) goes through the same checks.
func TestBDAT(t *testing.T) {
	e := newEnv(t, nil)
	r := e.authed(t, "john@doe.com", userPW)
	body := "From: john@doe.com\r\nSubject: chunked\r\n\r\nhello\r\n"
	r.cmd("MAIL FROM:<john@doe.com>", "250")
	r.cmd("RCPT TO:<jane@doe.com>", "250")
	r.send(fmt.Sprintf("BDAT %d\r\n%s", 20, body[:20]))
	r.expect("250")
	r.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body)-20, body[20:]))
	r.expect("250 2.0.0 OK: accepted")
	bad := "From: john@doe.com\r\n\r\nhello\n.\nMAIL FROM:<x@doe.com>\r\n"
	r.cmd("MAIL FROM:<john@doe.com>", "250")
	r.cmd("RCPT TO:<jane@doe.com>", "250")
	r.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(bad), bad))
	r.expect("550 5.5.2")
	forged := "From: jane@doe.com\r\n\r\nhello\r\n"
	r.cmd("MAIL FROM:<john@doe.com>", "250")
	r.cmd("RCPT TO:<jane@doe.com>", "250")
	r.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(forged), forged))
	r.expect("550 5.7.1")
	r.cmd("NOOP", "250")
	if in := e.inbox(t, "jane@doe.com"); len(in) != 1 || !strings.Contains(in[0], "Subject: chunked") {
		t.Fatalf("INBOX: %q", in)
	}
}
