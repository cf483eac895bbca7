package imap

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// After each bad input the server must still answer a new client.
func stillServes(t *testing.T, ts *testServer) {
	t.Helper()
	c, err := imapclient.DialTLS(ts.tls, &imapclient.Options{TLSConfig: ts.clientTLS})
	if err != nil {
		t.Fatalf("server stopped answering: %v", err)
	}
	defer c.Close()
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatalf("login after bad input: %v", err)
	}
}

func TestHugeLiteralBeforeLogin(t *testing.T) {
	ts := newTestServer(t)
	for _, addr := range []string{ts.plain, ts.tls} {
		var r *rawConn
		if addr == ts.tls {
			r = dialRaw(t, addr, ts.clientTLS)
		} else {
			r = dialRaw(t, addr, nil)
		}
		r.send("a LOGIN {400000000}\r\n")
		l := r.line()
		if strings.HasPrefix(l, "+") || !strings.HasPrefix(l, "a BAD") {
			t.Fatalf("%s: LOGIN {400000000} answered %q", addr, l)
		}
		// APPEND before login: refused before any literal is read.
		r.send("b APPEND INBOX {5000}\r\n")
		if l := r.line(); strings.HasPrefix(l, "+") || !strings.HasPrefix(l, "b BAD") {
			t.Fatalf("APPEND before login answered %q", l)
		}
	}
	stillServes(t, ts)
}

func TestHugeAppendRefusedUnread(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.login()
	r.send(fmt.Sprintf("a APPEND INBOX {%d}\r\n", 100<<20))
	l := r.line()
	if strings.HasPrefix(l, "+") || !strings.HasPrefix(l, "a NO [TOOBIG]") {
		t.Fatalf("100 MiB literal answered %q", l)
	}
	// The connection goes on.
	r.send("n NOOP\r\n")
	if l := r.until("n"); !strings.HasPrefix(l[len(l)-1], "n OK") {
		t.Fatalf("NOOP after TOOBIG: %q", l)
	}
}

func TestDisconnectMidAppend(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.login()
	r.send("a APPEND INBOX {5000}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND answered %q", l)
	}
	r.send(strings.Repeat("x", 2000))
	r.c.Close()
	ts.waitClosed(t) // the session is gone: its APPEND has ended
	mb, err := ts.st.GetMailbox(testUser, "INBOX")
	if err != nil || mb.Messages != 0 || mb.Size != 0 || mb.UIDNext != 1 {
		t.Fatalf("half APPEND stored: %+v %v", mb, err)
	}
	stillServes(t, ts)
}

func TestUnknownAndMalformedCommands(t *testing.T) {
	ts := newTestServer(t)
	// Before login, one unknown command ends the connection.
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.send("GET / HTTP/1.1\r\n")
	if l := r.line(); !strings.Contains(l, "BAD") && !strings.Contains(l, "BYE") {
		t.Fatalf("HTTP request answered %q", l)
	}
	// After login: BAD, and the session goes on.
	r = dialRaw(t, ts.tls, ts.clientTLS)
	r.login()
	for i, cmd := range []string{"FROB", "SELECT", "FETCH 1:* (FLAGS", "STORE x +FLAGS (\\Seen)", "UID FETCH 1:* (NOPE)", "SEARCH (", "LIST", "APPEND", "FETCH 99999999999999 FLAGS", "AUTHENTICATE PLAIN", "SELECT {5}"} {
		tag := fmt.Sprintf("t%d", i)
		r.send(tag + " " + cmd + "\r\n")
		var last string
		for {
			l := r.line()
			if l == "" {
				t.Fatalf("%q closed the connection", cmd)
			}
			if strings.HasPrefix(l, "+") {
				r.send("Nope!\r\n") // the 5 bytes of "SELECT {5}"
				continue
			}
			if strings.HasPrefix(l, tag+" ") {
				last = l
				break
			}
		}
		if !strings.HasPrefix(last, tag+" BAD") && !strings.HasPrefix(last, tag+" NO") {
			t.Errorf("%q answered %q", cmd, last)
		}
	}
	r.send("n NOOP\r\n")
	if l := r.until("n"); !strings.HasPrefix(l[len(l)-1], "n OK") {
		t.Fatalf("NOOP: %q", l)
	}
	// A tag alone, or UID without a command, makes go-imap drop the
	// connection; the server goes on.
	for _, cmd := range []string{"u UID\r\n", "lonely\r\n", "\r\n", "\x00\x01\x02\r\n"} {
		r = dialRaw(t, ts.tls, ts.clientTLS)
		r.login()
		r.send(cmd)
		for l := r.line(); l != ""; l = r.line() {
			if strings.Contains(l, " OK") {
				t.Fatalf("%q answered %q", cmd, l)
			}
		}
	}
	stillServes(t, ts)
}

func TestLongCommandLine(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.login()
	// 1 MiB without a newline: the server gives up on the connection
	// instead of buffering it.
	go r.c.Write([]byte("a SELECT " + strings.Repeat("x", 1<<20)))
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l := r.line()
		if l == "" {
			break
		}
		if strings.HasPrefix(l, "a OK") {
			t.Fatalf("huge line accepted: %.80q", l)
		}
	}
	stillServes(t, ts)
}

func TestPipelinedCommands(t *testing.T) {
	ts := newTestServer(t)
	for _, loggedIn := range []bool{false, true} {
		r := dialRaw(t, ts.tls, ts.clientTLS)
		if loggedIn {
			r.login()
		}
		const n = 3000
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "p%d NOOP\r\n", i)
		}
		if !loggedIn {
			// ...and the login itself, pipelined behind them.
			fmt.Fprintf(&b, "L LOGIN %s %s\r\nS SELECT INBOX\r\n", testUser, testPassword)
		}
		go r.c.Write([]byte(b.String()))
		for i := 0; i < n; i++ {
			tag := fmt.Sprintf("p%d", i)
			if l := r.until(tag); !strings.HasPrefix(l[len(l)-1], tag+" OK") {
				t.Fatalf("pipelined %s: %q", tag, l)
			}
		}
		if !loggedIn {
			for _, tag := range []string{"L", "S"} {
				if l := r.until(tag); !strings.HasPrefix(l[len(l)-1], tag+" OK") {
					t.Fatalf("pipelined %s: %q", tag, l)
				}
			}
		}
	}
	stillServes(t, ts)
}

func TestBadMailboxNames(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.login()
	deep := strings.Repeat("d/", 40) + "x"
	for i, name := range []string{`"a/../b"`, `"*"`, `"a%"`, `".."`, `"` + deep + `"`, `"` + strings.Repeat("y", 1000) + `"`, `""`, `"a//b"`} {
		tag := fmt.Sprintf("c%d", i)
		r.send(tag + " CREATE " + name + "\r\n")
		if l := r.until(tag); !strings.HasPrefix(l[len(l)-1], tag+" NO") && !strings.HasPrefix(l[len(l)-1], tag+" BAD") {
			t.Errorf("CREATE %.40s: %q", name, l)
		}
	}
	mbs, _ := ts.st.ListMailboxes(testUser)
	if len(mbs) != 6 {
		t.Fatalf("mailboxes after bad creates: %d", len(mbs))
	}
}

func TestConnectionsPerAddress(t *testing.T) {
	ts := newTestServer(t)
	var conns []*rawConn
	for i := 0; i < 20; i++ {
		conns = append(conns, dialRaw(t, ts.tls, ts.clientTLS))
	}
	// The 21st connection from 127.0.0.1 is closed before any greeting.
	c, err := tls.Dial("tcp", ts.tls, ts.clientTLS)
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		c.Close()
		if n > 0 {
			t.Fatalf("21st connection greeted: %q", buf[:n])
		}
	}
	conns[0].c.Close()
	ts.waitClosed(t)
	dialRaw(t, ts.tls, ts.clientTLS) // greeted again
}
