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
// The not-authenticated state is ours (preauth.go, with the strict
// command reader of imap/goimapfix): it bounds literals before login,
// drops plaintext pipelined after STARTTLS, and allows login only over
// TLS (implicit, or after STARTTLS; before that it advertises
// LOGINDISABLED and answers NO [PRIVACYREQUIRED]). Only user logins open
// a mailbox; a domain login can send mail but has none, and is told so. A
// logged-in connection is then handed to go-imap as a PREAUTH session
// (goimapfix.Conn). Every way we work around go-imap lives in
// imap/goimapfix, with the test that notices when an upgrade breaks one.
//
// It sees the store through Store (the methods it uses), and the store's
// events through Config.Events.
//
// Envelopes and body structures are parsed once, when a message is
// stored, and cached beside the body (meta.go); SEARCH scans raw bytes
// and decodes only messages with encoded parts (search.go, textscan.go).
package imap

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/authsmtp/authsmtp/imap/goimapfix"
	"github.com/authsmtp/authsmtp/internal/listen"
	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/store"
)

// Store is what IMAP needs of the store: the one login path and its
// revocations, a user's mailboxes, and the messages in them (state,
// flags, bodies and their cached parse). *store.Store implements it
// (guarded in the tests).
type Store interface {
	// Logins.
	Login(ctx context.Context, protocol, ip, login, password string) (store.Principal, error)
	Revoked(p store.Principal) bool
	RevocationSignal() <-chan struct{}

	// Mailboxes.
	EnsureDefaultMailboxes(address string) error
	ListMailboxes(address string) ([]store.Mailbox, error)
	GetMailbox(address, name string) (*store.Mailbox, error)
	CreateMailbox(address, name, specialUse string) (*store.Mailbox, error)
	DeleteMailbox(address, name string) error
	RenameMailbox(address, oldName, newName string) error
	Subscribe(address, name string, on bool) error
	QuotaLeft(address string, size int64) bool

	// Messages.
	MailboxState(address, mailbox string) (*store.Mailbox, []store.MsgState, error)
	MessagesAfter(address, mailbox string, after uint32) (*store.Mailbox, []store.MsgState, error)
	AppendMeta(address, mailbox string, body []byte, flags []string, date time.Time, meta []byte) (*store.Message, error)
	GetMessage(address, mailbox string, uid uint32) (*store.Message, []byte, error)
	FetchMessages(address, mailbox string, uids []uint32, withBody bool, fn func(*store.FetchItem) error) error
	SearchMessages(address, mailbox string, uids []uint32, withBody bool, match func(*store.SearchItem) bool) ([]uint32, error)
	SetBodyMeta(metas map[uint64][]byte) error
	SetFlags(address, mailbox string, uids []uint32, op store.FlagOp, flags []string) ([]store.Message, error)
	ExpungeDeleted(address, mailbox string, within []uint32) ([]uint32, error)
	Copy(address, mailbox string, uids []uint32, dest string) (*store.CopyResult, error)
	Move(address, mailbox string, uids []uint32, dest string) (*store.CopyResult, error)
}

// Config configures a Server. Store, Events and TLS are required.
type Config struct {
	// Store holds the mailboxes and checks logins.
	Store Store
	// Events tells sessions of committed changes (the store's Events):
	// IDLE and the updates after each command come from it.
	Events *store.Notifier
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
	// IDs numbers connections (the process's one counter); nil: our own.
	IDs *listen.IDs
	// Health learns when a listener stops for good (nil: not reported).
	Health *listen.Health
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

	limit *listen.PerIP // shared by 143 and 993

	mu      sync.Mutex
	lns     map[net.Listener]bool
	pending map[net.Conn]bool // connections before login
	closed  bool
	handoff *goimapfix.Listener
	served  chan struct{} // closed when go-imap's Serve returns

	// onSessionClose is a test hook: called when a session ends, with its
	// user ("" if it never logged in).
	onSessionClose func(user string)
	// goimapFetch is a test hook: every FETCH answer is written by
	// go-imap, to compare with goimapfix.Wire's (fetchwire.go).
	goimapFetch bool
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
	if cfg.IDs == nil {
		cfg.IDs = new(listen.IDs)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("service", "imap"), limit: listen.NewPerIP(cfg.MaxConnsPerIP), lns: map[net.Listener]bool{},
		pending: map[net.Conn]bool{}, handoff: goimapfix.NewListener(), served: make(chan struct{})}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps:       caps,
		Logger:     logAdapter{cfg.Logger.With("service", "imap")},
	})
	go func() {
		defer close(s.served)
		s.imap.Serve(s.handoff)
	}()
	return s
}

// Serve accepts plaintext connections that must STARTTLS before login.
func (s *Server) Serve(ln net.Listener) error { return s.accept(ln, "imap", false) }

// ServeTLS accepts implicit-TLS connections (IMAPS).
func (s *Server) ServeTLS(ln net.Listener) error { return s.accept(ln, "imaps", true) }

// accept serves ln until Close. Connections over the per-address cap are
// closed before any greeting; running out of descriptors makes it wait
// and retry (package listen), never stop.
func (s *Server) accept(raw net.Listener, name string, implicitTLS bool) error {
	ln := listen.New(raw, listen.Options{Name: name, Limit: s.limit, IDs: s.cfg.IDs,
		Health: s.cfg.Health, Logger: s.log})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.lns[ln] = true
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("accepting IMAP connections: %w", err)
		}
		s.cfg.Metrics.Connection(metrics.ProtoIMAP)
		c = &countedConn{Conn: c, end: s.cfg.Metrics.Session(metrics.ProtoIMAP)}
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
	<-s.handoff.Started
	err := s.imap.Close()
	<-s.served
	return err
}

// logAdapter sends go-imap's messages (mostly connection errors) to slog.
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Printf(format string, args ...any) {
	a.l.Debug("imap: " + store.SanitizeLog(fmt.Sprintf(format, args...)))
}

// countedConn ends the open-session count at Close.
type countedConn struct {
	net.Conn
	once sync.Once
	end  func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.end)
	return c.Conn.Close()
}

// NetConn lets listen.Find reach the connection's id and address.
func (c *countedConn) NetConn() net.Conn { return c.Conn }
