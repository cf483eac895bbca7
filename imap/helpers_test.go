package imap

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
)

const (
	testDomain   = "imap.test"
	testUser     = "alice@imap.test"
	testPassword = "Alc-pass-k9W!q"
	testDomPW    = "domain-secret"
)

// testServer is a real server on loopback: a STARTTLS and an implicit-TLS
// listener over a real store in a temporary directory.
type testServer struct {
	st        *store.Store
	srv       *Server
	plain     string // STARTTLS listener
	tls       string // implicit TLS listener
	clientTLS *tls.Config
	closed    chan string // session ends (user or "")
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	st := testutil.Store(t)
	st.Throttle.SetConfig(store.ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	testutil.Domain(t, st, testDomain, testDomPW, true)
	testutil.User(t, st, testUser, testPassword)
	return startServer(t, st)
}

func startServer(t *testing.T, st *store.Store) *testServer {
	t.Helper()
	serverTLS, clientTLS := testutil.TLS(t)
	serverTLS = serverTLS.Clone()
	serverTLS.NextProtos = []string{"imap"}
	ts := &testServer{st: st, clientTLS: clientTLS, closed: make(chan string, 1000)}
	ts.srv = New(Config{Store: st, Events: st.Events, TLS: serverTLS, MaxSize: 1 << 20, Logger: testutil.Logger(t)})
	ts.srv.onSessionClose = func(user string) { ts.closed <- user }
	lp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lt, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.plain, ts.tls = lp.Addr().String(), lt.Addr().String()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ts.srv.Serve(lp) }()
	go func() { defer wg.Done(); ts.srv.ServeTLS(lt) }()
	t.Cleanup(func() {
		ts.srv.Close()
		wg.Wait()
	})
	return ts
}

// client logs in over implicit TLS with go-imap's client.
func (ts *testServer) client(t *testing.T, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(ts.tls, &imapclient.Options{TLSConfig: ts.clientTLS, UnilateralDataHandler: h})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

// rawConn is a line-level IMAP connection for bad-input tests.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string, tlsConfig *tls.Config) *rawConn {
	t.Helper()
	var c net.Conn
	var err error
	if tlsConfig != nil {
		c, err = tls.Dial("tcp", addr, tlsConfig)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	if g := r.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return r
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// line reads one line ("" at EOF or error).
func (r *rawConn) line() string {
	l, err := r.br.ReadString('\n')
	if err != nil && l == "" {
		return ""
	}
	return strings.TrimRight(l, "\r\n")
}

// until reads lines up to the tagged answer for tag and returns them all.
func (r *rawConn) until(tag string) []string {
	r.t.Helper()
	var out []string
	for {
		l := r.line()
		if l == "" {
			r.t.Fatalf("connection ended waiting for %s; got %q", tag, out)
		}
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			return out
		}
	}
}

func (r *rawConn) login() {
	r.t.Helper()
	r.send(fmt.Sprintf("L LOGIN %s %s\r\n", testUser, testPassword))
	if l := r.until("L"); !strings.HasPrefix(l[len(l)-1], "L OK") {
		r.t.Fatalf("login: %q", l)
	}
}

// testMessage is a small message with a distinct subject and body word.
func testMessage(i int, word string) []byte {
	return []byte(fmt.Sprintf("From: Bob <bob@example.org>\r\nTo: alice@imap.test\r\nSubject: message %d\r\nDate: Mon, 2 Jan 2023 15:04:05 +0100\r\nMessage-ID: <%d@example.org>\r\n\r\nHello %s number %d.\r\n", i, i, word, i))
}

// appendMsg stores a message through IMAP APPEND.
func appendMsg(t *testing.T, c *imapclient.Client, mailbox string, msg []byte, opts *goimap.AppendOptions) *goimap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(msg)), opts)
	if _, err := cmd.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	return d
}

// waitClosed waits for the server to end a session.
func (ts *testServer) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-ts.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
	}
}

func imapCode(err error) goimap.ResponseCode {
	if e, ok := err.(*goimap.Error); ok {
		return e.Code
	}
	return ""
}
