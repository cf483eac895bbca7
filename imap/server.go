// Package imap is authsmtp's IMAP4rev1/IMAP4rev2 server: go-imap v2's
// imapserver speaking the protocol, the store's mailboxes behind it.
//
// Sessions are thin: every command becomes one store call. Each session
// keeps its own view of the selected mailbox (the UIDs it has announced,
// in sequence order) and learns of changes made elsewhere (SMTP delivery,
// another client, webmail) from the store's committed-change events, which
// it turns into EXISTS, EXPUNGE and FETCH FLAGS answers on the next
// command or at once while it IDLEs. If events were lost, the session
// compares its view with the store instead.
//
// The not-authenticated state is ours (preauth.go): a small strict parser
// that bounds literals before login, drops plaintext pipelined after
// STARTTLS, and allows login only over TLS (implicit, or after STARTTLS;
// before that it advertises LOGINDISABLED and answers NO
// [PRIVACYREQUIRED]). Only user logins open a mailbox; a domain login can
// send mail but has none, and is told so. A logged-in connection is then
// handed to go-imap as a PREAUTH session (handoff.go).
//
// Envelopes and body structures are parsed once, when a message is
// stored, and cached beside the body (meta.go); SEARCH scans raw bytes
// and decodes only messages with encoded parts (search.go, textscan.go).
package imap

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/metrics"
)

// Config configures a Server. Store and TLS are required.
type Config struct {
	// Store holds the mailboxes and checks logins.
	Store *store.Store
	// TLS is used for STARTTLS and for implicit-TLS listeners. Its
	// NextProtos should be empty or "imap" (never http/1.1: ALPACA).
	TLS *tls.Config
	// MaxSize bounds an APPENDed message (the literal is refused before it
	// is read); 0 means 25 MiB.
	MaxSize int64
	// MaxConnsPerIP bounds simultaneous connections from one address
	// (0: 20).
	MaxConnsPerIP int
	// Logger receives session events; nil means slog.Default().
	Logger *slog.Logger
	// Metrics counts connections, open sessions and logins (nil: off).
	Metrics *metrics.Metrics
}

// Caps are the capabilities advertised; each one that go-imap ties to an
// optional session interface is asserted below, so advertising one the
// session lacks cannot compile (go-imap would panic on every connection).
var caps = goimap.CapSet{
	goimap.CapIMAP4rev1:    {},
	goimap.CapIMAP4rev2:    {},
	goimap.CapNamespace:    {},
	goimap.CapUIDPlus:      {},
	goimap.CapESearch:      {},
	goimap.CapListExtended: {},
	goimap.CapListStatus:   {},
	goimap.CapMove:         {},
	goimap.CapStatusSize:   {},
	goimap.CapChildren:     {},
	goimap.CapSpecialUse:   {},
	goimap.CapBinary:       {},
	// APPENDLIMIT=<n> comes from SessionAppendLimit.
}

var (
	_ imapserver.SessionIMAP4rev2   = (*session)(nil) // IMAP4rev2, NAMESPACE, MOVE
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

// Server is an IMAP server over the store.
type Server struct {
	cfg  Config
	log  *slog.Logger
	imap *imapserver.Server

	mu      sync.Mutex
	perIP   map[string]int
	lns     map[net.Listener]bool
	pending map[net.Conn]bool // connections before login
	closed  bool
	handoff *handoffListener
	served  chan struct{} // closed when go-imap's Serve returns

	// onSessionClose is a test hook: called when a session ends, with its
	// user ("" if it never logged in).
	onSessionClose func(user string)

	// nextID numbers connections: the "cid" on every log line of one.
	nextID atomic.Uint64
}

// New builds a server; start it with Serve or ServeTLS.
func New(cfg Config) *Server {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 25 << 20
	}
	if cfg.MaxSize > 1<<31 {
		cfg.MaxSize = 1 << 31
	}
	if cfg.MaxConnsPerIP <= 0 {
		cfg.MaxConnsPerIP = 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, perIP: map[string]int{}, lns: map[net.Listener]bool{},
		pending: map[net.Conn]bool{}, handoff: newHandoffListener(), served: make(chan struct{})}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps:       caps,
		Logger:     logAdapter{cfg.Logger},
	})
	go func() {
		defer close(s.served)
		s.imap.Serve(s.handoff)
	}()
	return s
}

// Serve accepts plaintext connections that must STARTTLS before login.
func (s *Server) Serve(ln net.Listener) error { return s.accept(ln, false) }

// ServeTLS accepts implicit-TLS connections (IMAPS).
func (s *Server) ServeTLS(ln net.Listener) error { return s.accept(ln, true) }

func (s *Server) accept(ln net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.lns[ln] = true
	s.mu.Unlock()
	ll := &limitListener{Listener: ln, srv: s}
	for {
		c, err := ll.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("accepting IMAP connections: %w", err)
		}
		if !s.track(c) {
			c.Close()
			return nil
		}
		go s.servePreauth(c, implicitTLS)
	}
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.pending[c] = true
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.pending, c)
	s.mu.Unlock()
}

// Close stops the listeners and closes every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var lns []net.Listener
	var conns []net.Conn
	for ln := range s.lns {
		lns = append(lns, ln)
	}
	for c := range s.pending {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// Closing takes s.mu (the per-address count), so outside the lock.
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	<-s.handoff.started
	err := s.imap.Close()
	<-s.served
	return err
}

// logAdapter sends go-imap's messages (mostly connection errors) to slog.
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Printf(format string, args ...any) {
	a.l.Debug("imap: " + store.SanitizeLog(fmt.Sprintf(format, args...)))
}

// limitListener refuses connections beyond MaxConnsPerIP from one address
// (closing them at once, before any greeting).
type limitListener struct {
	net.Listener
	srv *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.srv.mu.Lock()
		n := l.srv.perIP[ip]
		ok := n < l.srv.cfg.MaxConnsPerIP
		if ok {
			l.srv.perIP[ip] = n + 1
		}
		l.srv.mu.Unlock()
		if !ok {
			l.srv.log.Warn("imap connection refused: too many from one address", "ip", ip)
			c.Close()
			continue
		}
		l.srv.cfg.Metrics.Connection(metrics.ProtoIMAP)
		return &countedConn{Conn: c, srv: l.srv, ip: ip, end: l.srv.cfg.Metrics.Session(metrics.ProtoIMAP)}, nil
	}
}

type countedConn struct {
	net.Conn
	srv  *Server
	ip   string
	once sync.Once
	end  func() // ends the open-session count
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.end()
		c.srv.mu.Lock()
		if c.srv.perIP[c.ip]--; c.srv.perIP[c.ip] <= 0 {
			delete(c.srv.perIP, c.ip)
		}
		c.srv.mu.Unlock()
	})
	return c.Conn.Close()
}

func remoteIP(c net.Conn) string {
	if hc, ok := c.(*handoffConn); ok {
		return hc.ip
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if cc, ok := c.(*countedConn); ok {
		return cc.ip
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
