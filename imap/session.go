package imap

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/authsmtp/authsmtp/imap/goimapfix"
	"github.com/authsmtp/authsmtp/store"
)

// session is one IMAP connection. go-imap calls its methods one at a time
// (Idle runs while the connection goroutine only waits for DONE), so it
// needs no lock of its own.
type session struct {
	srv  *Server
	st   Store
	log  *slog.Logger
	conn *imapserver.Conn
	ip   string

	user  string // canonical address, after login
	hc    *goimapfix.Conn
	watch *store.Watcher
	sel   *selected
}

// newSession starts go-imap's part of a connection, after our login (see
// preauth.go): the session begins authenticated.
func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	hc, ok := c.NetConn().(*goimapfix.Conn)
	if !ok {
		return nil, nil, &goimap.Error{Type: goimap.StatusResponseTypeBye, Text: "internal error"}
	}
	sess := &session{srv: s, st: s.cfg.Store, conn: c, ip: hc.IP, user: hc.User, hc: hc,
		log: s.log.With("cid", hc.CID, "ip", hc.IP, "user", hc.User), watch: s.cfg.Events.Watch(hc.User)}
	return sess, &imapserver.GreetingData{PreAuth: true}, nil
}

func (s *session) Close() error {
	if s.watch != nil {
		s.watch.Close()
	}
	if s.srv.onSessionClose != nil {
		s.srv.onSessionClose(s.user)
	}
	return nil
}

// loginTimeout bounds the throttle's wait after a failed login.
const loginTimeout = 30 * time.Second

// Login is never reached: logins happen before go-imap sees the
// connection (preauth.go).
func (s *session) Login(username, password string) error {
	return &goimap.Error{Type: goimap.StatusResponseTypeBad, Text: "already logged in"}
}

func serverBug() error {
	return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeServerBug, Text: "internal error, see the server log"}
}

// fail turns a store error into the IMAP answer the client should see.
// tryCreate selects TRYCREATE (APPEND, COPY, MOVE) over NONEXISTENT.
func (s *session) fail(op string, err error, tryCreate bool) error {
	no := func(code goimap.ResponseCode, text string) error {
		return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: code, Text: text}
	}
	switch {
	case errors.Is(err, store.ErrNoSuchMailbox):
		if tryCreate {
			return no(goimap.ResponseCodeTryCreate, "no such mailbox")
		}
		return no(goimap.ResponseCodeNonExistent, "no such mailbox")
	case errors.Is(err, store.ErrExists):
		return no(goimap.ResponseCodeAlreadyExists, "mailbox already exists")
	case errors.Is(err, store.ErrBadMailboxName), errors.Is(err, store.ErrBadSpecialUse):
		return no(goimap.ResponseCodeCannot, errText(err))
	case errors.Is(err, store.ErrInboxProtected):
		return no(goimap.ResponseCodeCannot, store.ErrInboxProtected.Error())
	case errors.Is(err, store.ErrMailboxHasChildren):
		return no(goimap.ResponseCodeHasChildren, store.ErrMailboxHasChildren.Error())
	case errors.Is(err, store.ErrTooManyMailboxes):
		return no(goimap.ResponseCodeLimit, errText(err))
	case errors.Is(err, store.ErrOverQuota):
		return no(goimap.ResponseCodeOverQuota, "mailbox is over quota")
	case errors.Is(err, store.ErrNotFound):
		return no(goimap.ResponseCodeNonExistent, "no such message")
	}
	s.log.Error("imap: "+op, "err", err)
	return serverBug()
}

// errText is an error's text for a client: one line, bounded.
func errText(err error) string {
	t := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, err.Error())
	if len(t) > 200 {
		t = t[:200]
	}
	return t
}

func (s *session) Namespace() (*goimap.NamespaceData, error) {
	return &goimap.NamespaceData{Personal: []goimap.NamespaceDescriptor{{Prefix: "", Delim: store.MailboxDelim}}}, nil
}

// AppendLimit is the largest APPEND accepted; before login it is zero, so
// a literal announced by an unauthenticated client is refused unread.
func (s *session) AppendLimit() uint32 {
	if s.user == "" {
		return 0
	}
	return uint32(s.srv.cfg.MaxSize)
}

func (s *session) Create(name string, options *goimap.CreateOptions) error {
	name = strings.TrimSuffix(name, string(store.MailboxDelim)) // "a/" announces a parent
	su := ""
	if options != nil && len(options.SpecialUse) > 0 {
		su = string(options.SpecialUse[0])
	}
	if _, err := s.st.CreateMailbox(s.user, name, su); err != nil {
		return s.fail("CREATE", err, false)
	}
	return nil
}

func (s *session) Delete(name string) error {
	if err := s.st.DeleteMailbox(s.user, name); err != nil {
		return s.fail("DELETE", err, false)
	}
	return nil
}

func (s *session) Rename(oldName, newName string, options *goimap.RenameOptions) error {
	if err := s.st.RenameMailbox(s.user, oldName, newName); err != nil {
		return s.fail("RENAME", err, false)
	}
	return nil
}

func (s *session) Subscribe(name string) error {
	if err := s.st.Subscribe(s.user, name, true); err != nil {
		return s.fail("SUBSCRIBE", err, false)
	}
	return nil
}

func (s *session) Unsubscribe(name string) error {
	if err := s.st.Subscribe(s.user, name, false); err != nil {
		return s.fail("UNSUBSCRIBE", err, false)
	}
	return nil
}

func (s *session) Status(name string, options *goimap.StatusOptions) (*goimap.StatusData, error) {
	mb, err := s.st.GetMailbox(s.user, name)
	if err != nil {
		return nil, s.fail("STATUS", err, false)
	}
	return s.status(mb, options)
}

func (s *session) status(mb *store.Mailbox, options *goimap.StatusOptions) (*goimap.StatusData, error) {
	d := &goimap.StatusData{Mailbox: mb.Name}
	u32 := func(n int) *uint32 { v := uint32(max(n, 0)); return &v }
	if options.NumMessages {
		d.NumMessages = u32(mb.Messages)
	}
	if options.NumRecent {
		d.NumRecent = u32(0)
	}
	if options.UIDNext {
		d.UIDNext = goimap.UID(mb.UIDNext)
	}
	if options.UIDValidity {
		d.UIDValidity = mb.UIDValidity
	}
	if options.NumUnseen {
		d.NumUnseen = u32(mb.Unseen)
	}
	if options.Size {
		size := mb.Size
		d.Size = &size
	}
	if options.AppendLimit {
		d.AppendLimit = u32(int(s.srv.cfg.MaxSize))
	}
	if options.NumDeleted {
		uids, err := s.st.SearchMessages(s.user, mb.Name, nil, false, func(it *store.SearchItem) bool {
			return hasFlag(it.Flags(), `\Deleted`)
		})
		if err != nil {
			return nil, s.fail("STATUS", err, false)
		}
		d.NumDeleted = u32(len(uids))
	}
	return d, nil
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// Append stores a message. The literal's size was checked against
// AppendLimit before the client was told to send it; the quota is checked
// here before it is read. A client that disconnects mid-literal stores
// nothing: the message is written only once it has been read whole.
func (s *session) Append(mailbox string, r goimap.LiteralReader, options *goimap.AppendOptions) (*goimap.AppendData, error) {
	size := r.Size()
	if size <= 0 {
		return nil, &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot, Text: "empty message"}
	}
	mb, err := s.st.GetMailbox(s.user, mailbox)
	if err != nil {
		return nil, s.fail("APPEND", err, true)
	}
	if !s.st.QuotaLeft(s.user, size) {
		return nil, s.fail("APPEND", store.ErrOverQuota, true)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("reading APPEND literal: %w", err)
	}
	buf = normalizeCRLF(buf)
	var flags []string
	for _, f := range options.Flags {
		flags = append(flags, string(f))
	}
	m, err := s.st.AppendMeta(s.user, mb.Name, buf, flags, options.Time, encodeMeta(parseMeta(buf)))
	if err != nil {
		return nil, s.fail("APPEND", err, true)
	}
	return &goimap.AppendData{UID: goimap.UID(m.UID), UIDValidity: mb.UIDValidity}, nil
}

// normalizeCRLF turns bare LF line ends into CRLF (stored bodies are CRLF).
func normalizeCRLF(b []byte) []byte {
	bare := 0
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			bare++
		}
	}
	if bare == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+bare)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
