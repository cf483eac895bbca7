package imap

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"

	"github.com/authsmtp/authsmtp/store"
)

// handoffConn is a logged-in connection given to go-imap: reads continue
// from our buffered reader, and go-imap's PREAUTH greeting is swallowed.
type handoffConn struct {
	net.Conn
	r io.Reader
	// filter, when set, reads from r and answers what go-imap cannot
	// (cmdfilter.go); it learns from Write when go-imap asks for a literal.
	filter *cmdFilter
	user   string
	ip     string
	cid    string
	who    store.Principal
	st     Store
	bye    bool // BYE sent: the login was revoked

	mu          sync.Mutex
	greetingOut bool
	// While batching (a FETCH or STORE answering many messages), writes
	// are gathered and sent in large chunks: go-imap flushes after every
	// message, which would cost a TLS record and a system call each.
	batching bool
	buf      []byte
}

const batchFlushSize = 64 << 10

// newHandoffConn wraps a logged-in connection whose further bytes come
// from r, with the command filter in front of go-imap. who is the login,
// checked for revocation (st.Revoked) as commands arrive.
func newHandoffConn(conn net.Conn, r *bufio.Reader, who store.Principal, st Store, ip, cid string) *handoffConn {
	c := &handoffConn{Conn: conn, r: r, user: who.Address, who: who, st: st, ip: ip, cid: cid}
	c.filter = newCmdFilter(r, c.writeOwn)
	return c
}

// Read hands go-imap the client's bytes. go-imap reads when it needs the
// next command, so this is where a session whose login was revoked
// (password changed, account removed) ends: the command that arrives
// after the change gets BYE, not an answer. One atomic load when nothing
// was revoked.
func (c *handoffConn) Read(b []byte) (int, error) {
	var n int
	var err error
	if c.filter != nil {
		n, err = c.filter.Read(b)
	} else {
		n, err = c.r.Read(b)
	}
	if n > 0 && c.st != nil && c.st.Revoked(c.who) {
		c.revoke()
		return 0, net.ErrClosed
	}
	return n, err
}

// writeOwn writes an answer of the filter's, after anything go-imap left
// in the batch.
func (c *handoffConn) writeOwn(s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.flushLocked(); err != nil {
		return err
	}
	_, err := c.Conn.Write([]byte(s))
	return err
}

// revokedBye is the BYE of a session whose login stopped working.
const revokedBye = "* BYE login no longer valid (password changed or account removed): log in again\r\n"

// revoke says BYE and closes the connection.
func (c *handoffConn) revoke() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bye {
		return
	}
	c.bye = true
	c.batching = false
	c.flushLocked()
	c.Conn.Write([]byte(revokedBye))
	c.Conn.Close()
}

func (c *handoffConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.filter != nil && len(b) > 0 && b[0] == '+' {
		c.filter.plus.Store(true)
	}
	if !c.greetingOut {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return len(b), nil
		}
		c.greetingOut = true
		if _, err := c.Conn.Write(b[i+1:]); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	if c.batching {
		c.buf = append(c.buf, b...)
		if len(c.buf) >= batchFlushSize {
			if err := c.flushLocked(); err != nil {
				return 0, err
			}
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// batch starts or ends gathering writes; ending flushes.
func (c *handoffConn) batch(on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = on
	if !on {
		return c.flushLocked()
	}
	return nil
}

func (c *handoffConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > 4*batchFlushSize {
		c.buf = nil
	}
	return err
}

// handoffListener feeds logged-in connections to go-imap's Serve.
type handoffListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
	// started is closed at the first Accept: go-imap's Serve is running,
	// so its Close may run (Close racing Serve's start is a data race in
	// go-imap).
	started     chan struct{}
	startedOnce sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: &net.TCPAddr{}, started: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	l.startedOnce.Do(func() { close(l.started) })
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// handOff gives a logged-in connection to go-imap; false if the server
// is closing.
func (s *Server) handOff(c *handoffConn) bool {
	select {
	case s.handoff.ch <- c:
		return true
	case <-s.handoff.done:
		return false
	}
}
