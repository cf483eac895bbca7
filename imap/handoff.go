package imap

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
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
// from r, with the command filter in front of go-imap.
func newHandoffConn(conn net.Conn, r *bufio.Reader, user, ip, cid string) *handoffConn {
	c := &handoffConn{Conn: conn, r: r, user: user, ip: ip, cid: cid}
	c.filter = newCmdFilter(r, c.writeOwn)
	return c
}

func (c *handoffConn) Read(b []byte) (int, error) {
	if c.filter != nil {
		return c.filter.Read(b)
	}
	return c.r.Read(b)
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
