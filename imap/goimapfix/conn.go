package goimapfix

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
)

// Conn is a logged-in connection given to go-imap: reads continue from
// our buffered reader through the Filter, go-imap's PREAUTH greeting is
// swallowed (the client already had ours), and a revoked login ends the
// connection at its next command.
type Conn struct {
	net.Conn
	r io.Reader
	// filter reads from r and answers what go-imap cannot (filter.go);
	// it learns from Write when go-imap asks for a literal.
	filter  *Filter
	revoked func() bool
	bye     bool // BYE sent: the login was revoked

	// User, IP and CID name the session go-imap starts on the connection
	// (its login, remote address and connection id).
	User, IP, CID string

	mu          sync.Mutex
	greetingOut bool
	// While batching (a FETCH or STORE answering many messages), writes
	// are gathered and sent in large chunks: go-imap flushes after every
	// message, which would cost a TLS record and a system call each.
	batching bool
	// untilTagged keeps gathering after a batch ends, up to the
	// command's tagged answer (go-imap writes it right after the session
	// returns), so a command's whole answer usually goes out in one
	// write. A Read flushes whatever is gathered: nothing waits for the
	// client while holding output.
	untilTagged bool
	buf         []byte
}

const batchFlushSize = 64 << 10

// NewConn wraps a logged-in connection whose further bytes come from r,
// with the Filter in front of go-imap. revoked (nil: never) says whether
// the login stopped working; it is asked as commands arrive.
func NewConn(conn net.Conn, r *bufio.Reader, revoked func() bool) *Conn {
	c := &Conn{Conn: conn, r: r, revoked: revoked}
	c.filter = NewFilter(r, c.writeOwn)
	return c
}

// Read hands go-imap the client's bytes. go-imap reads when it needs the
// next command, so this is where a session whose login was revoked
// (password changed, account removed) ends: the command that arrives
// after the change gets BYE, not an answer. One atomic load when nothing
// was revoked.
func (c *Conn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if c.untilTagged || len(c.buf) > 0 {
		c.untilTagged = false
		if err := c.flushLocked(); err != nil {
			c.mu.Unlock()
			return 0, err
		}
	}
	c.mu.Unlock()
	n, err := c.filter.Read(b)
	if n > 0 && c.Revoked() {
		c.Revoke()
		return 0, net.ErrClosed
	}
	return n, err
}

// Revoked reports whether the login stopped working (an IDLE asks while
// it waits; Read asks at every command).
func (c *Conn) Revoked() bool { return c.revoked != nil && c.revoked() }

// writeOwn writes an answer of the filter's, after anything go-imap left
// in the batch.
func (c *Conn) writeOwn(s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.flushLocked(); err != nil {
		return err
	}
	_, err := c.Conn.Write([]byte(s))
	return err
}

// RevokedBye is the BYE of a session whose login stopped working.
const RevokedBye = "* BYE login no longer valid (password changed or account removed): log in again\r\n"

// Revoke says BYE and closes the connection.
func (c *Conn) Revoke() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bye {
		return
	}
	c.bye = true
	c.batching, c.untilTagged = false, false
	c.flushLocked()
	c.Conn.Write([]byte(RevokedBye))
	c.Conn.Close()
}

func (c *Conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(b) > 0 && b[0] == '+' {
		c.filter.SawContinuation()
	}
	if !c.greetingOut {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return len(b), nil
		}
		c.greetingOut = true
		if rest := b[i+1:]; len(rest) > 0 {
			if _, err := c.Conn.Write(rest); err != nil {
				return 0, err
			}
		}
		return len(b), nil
	}
	if c.untilTagged && len(b) > 0 && b[0] != '*' {
		// The tagged answer (untagged ones start with "*"): send it
		// with what was gathered.
		c.untilTagged = false
		c.buf = append(c.buf, b...)
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	if c.batching || c.untilTagged {
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

// Batch starts or ends gathering writes; ending flushes.
func (c *Conn) Batch(on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = on
	c.untilTagged = false
	if !on {
		return c.flushLocked()
	}
	return nil
}

// EndBatch ends gathering writes at the command's tagged answer (or the
// next Read, whichever comes first), so that answer joins the batch.
func (c *Conn) EndBatch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batching {
		c.batching = false
		c.untilTagged = true
	}
}

func (c *Conn) flushLocked() error {
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

// Listener feeds logged-in connections to go-imap's Serve: we accept
// and log in, go-imap takes over (HandOff).
type Listener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
	// Started is closed at the first Accept: go-imap's Serve is running,
	// so its Close may run (Close racing Serve's start is a data race in
	// go-imap).
	Started     chan struct{}
	startedOnce sync.Once
}

// NewListener returns a listener with nothing handed off yet.
func NewListener() *Listener {
	return &Listener{ch: make(chan net.Conn), done: make(chan struct{}), addr: &net.TCPAddr{}, Started: make(chan struct{})}
}

func (l *Listener) Accept() (net.Conn, error) {
	l.startedOnce.Do(func() { close(l.Started) })
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *Listener) Addr() net.Addr { return l.addr }

// HandOff gives a logged-in connection to go-imap; false if the listener
// is closed.
func (l *Listener) HandOff(c *Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}
