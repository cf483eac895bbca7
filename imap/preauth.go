package imap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/imap/goimapfix"
	"github.com/authsmtp/authsmtp/internal/listen"
	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/store"
)

// The not-authenticated state is handled here, not by go-imap (why: see
// imap/goimapfix, which holds its strict command reader). It allows only
// CAPABILITY, NOOP, ID, LOGOUT, STARTTLS, LOGIN and AUTHENTICATE PLAIN;
// literals before login are limited to goimapfix.MaxPreauthLiteral bytes
// (a larger one is answered BAD, with no "+"). After a login the
// connection is handed to go-imap (goimapfix.Conn), which starts it as
// PREAUTH.
const (
	maxPreauthErrors  = 5
	preauthCmdTimeout = 30 * time.Second
	preauthTimeout    = 3 * time.Minute
)

// preauth is one connection before login.
type preauth struct {
	srv      *Server
	conn     net.Conn
	br       *bufio.Reader
	ip       string
	cid      string       // connection id on every log line
	log      *slog.Logger // with cid and ip
	isTLS    bool
	canStart bool // a STARTTLS listener, before STARTTLS
	errors   int
	who      store.Principal // after a successful login
}

// servePreauth runs the not-authenticated state of one connection.
func (s *Server) servePreauth(c net.Conn, implicitTLS bool) {
	p := &preauth{srv: s, conn: c, isTLS: implicitTLS, canStart: !implicitTLS}
	if lc := listen.Find(c); lc != nil {
		p.cid, p.ip = lc.ID, lc.IP
	} else {
		p.cid, p.ip = s.cfg.IDs.Next(), listen.HostOf(c.RemoteAddr())
	}
	p.log = s.log.With("cid", p.cid, "ip", p.ip)
	handed := false
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("imap: panic before login", "ip", p.ip, "panic", v, "stack", string(debug.Stack()))
		}
		if !handed {
			p.conn.Close()
			if s.onSessionClose != nil {
				s.onSessionClose("")
			}
		}
		s.untrack(c)
	}()
	deadline := time.Now().Add(preauthTimeout)
	if implicitTLS {
		tc := tls.Server(c, s.cfg.TLS)
		tc.SetDeadline(time.Now().Add(preauthCmdTimeout))
		if err := tc.Handshake(); err != nil {
			s.log.Debug("imap: TLS handshake failed", "ip", p.ip, "err", err)
			return
		}
		p.conn = tc
	}
	p.br = bufio.NewReaderSize(p.conn, 4096)
	p.reply("* OK [CAPABILITY %s] authsmtp IMAP ready", p.caps())
	for {
		p.conn.SetDeadline(minTime(time.Now().Add(preauthCmdTimeout), deadline))
		user, done := p.command()
		if user != "" {
			p.conn.SetDeadline(time.Time{})
			who, st := p.who, s.cfg.Store
			hc := goimapfix.NewConn(p.conn, p.br, func() bool { return st.Revoked(who) })
			hc.User, hc.IP, hc.CID = who.Address, p.ip, p.cid
			handed = s.handoff.HandOff(hc)
			return
		}
		if done {
			return
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (p *preauth) caps() string {
	c := "IMAP4rev1 IMAP4rev2 SASL-IR LITERAL- ID"
	if p.canStart && !p.isTLS {
		c += " STARTTLS"
	}
	if p.isTLS {
		c += " AUTH=PLAIN"
	} else {
		c += " LOGINDISABLED"
	}
	return c
}

func (p *preauth) reply(format string, args ...any) {
	p.conn.Write([]byte(fmt.Sprintf(format, args...) + "\r\n"))
}

// command reads and answers one command. It returns the user on a
// successful login, or done when the connection should end.
func (p *preauth) command() (user string, done bool) {
	tag, name, args, err := p.read()
	if tag == "" && err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, goimapfix.ErrTooLong) {
			p.srv.log.Debug("imap: reading command before login", "ip", p.ip, "err", err)
		}
		if errors.Is(err, goimapfix.ErrTooLong) {
			p.reply("* BYE command line too long")
		}
		return "", true
	}
	bad := func(text string) (string, bool) {
		p.reply("%s BAD %s", tag, text)
		p.errors++
		if p.errors >= maxPreauthErrors {
			p.reply("* BYE too many bad commands")
			return "", true
		}
		return "", false
	}
	if err != nil {
		var lit goimapfix.LiteralError
		if errors.As(err, &lit) {
			if lit.NonSync {
				// The client sends the data anyway: we cannot find the
				// next command, so the connection ends.
				p.reply("%s BAD literal too large before login", tag)
				return "", true
			}
			return bad("literal too large before login (limit " + strconv.Itoa(goimapfix.MaxPreauthLiteral) + " bytes)")
		}
		if errors.Is(err, goimapfix.ErrTooLong) {
			p.reply("* BYE command line too long")
			return "", true
		}
		return bad("syntax error: " + err.Error())
	}
	switch name {
	case "CAPABILITY":
		p.reply("* CAPABILITY %s", p.caps())
		p.reply("%s OK CAPABILITY completed", tag)
	case "NOOP":
		p.reply("%s OK NOOP completed", tag)
	case "ID":
		p.reply(goimapfix.IDResponse)
		p.reply("%s OK ID completed", tag)
	case "LOGOUT":
		p.reply("* BYE logging out")
		p.reply("%s OK LOGOUT completed", tag)
		return "", true
	case "STARTTLS":
		if !p.canStart || p.isTLS || p.srv.cfg.TLS == nil {
			return bad("STARTTLS not available")
		}
		p.reply("%s OK Begin TLS negotiation now", tag)
		// Whatever the client sent after STARTTLS in plaintext is dropped
		// unread: it must never run as a command.
		p.br.Discard(p.br.Buffered())
		tc := tls.Server(p.conn, p.srv.cfg.TLS)
		if err := tc.Handshake(); err != nil {
			p.srv.log.Debug("imap: STARTTLS handshake failed", "ip", p.ip, "err", err)
			return "", true
		}
		p.conn, p.isTLS, p.canStart = tc, true, false
		p.br = bufio.NewReaderSize(tc, 4096)
	case "LOGIN":
		if len(args) != 2 {
			return bad("LOGIN takes a user name and a password")
		}
		return p.login(tag, args[0], args[1])
	case "AUTHENTICATE":
		if len(args) < 1 || len(args) > 2 {
			return bad("AUTHENTICATE takes a mechanism and an optional initial response")
		}
		return p.authenticate(tag, args)
	case "STATUS", "SELECT", "EXAMINE", "LIST", "LSUB", "CREATE", "DELETE", "RENAME", "APPEND", "SUBSCRIBE",
		"UNSUBSCRIBE", "NAMESPACE", "ENABLE", "IDLE", "FETCH", "STORE", "SEARCH", "COPY", "MOVE", "UID",
		"EXPUNGE", "CLOSE", "UNSELECT", "CHECK", "GETQUOTAROOT", "GETQUOTA":
		return bad(name + " is not allowed before login")
	default:
		return bad("unknown command")
	}
	return "", false
}

func (p *preauth) login(tag, login, password string) (string, bool) {
	if !p.isTLS {
		p.reply("%s NO [PRIVACYREQUIRED] TLS is required to log in: use STARTTLS or the IMAPS port", tag)
		return "", false
	}
	who, err := p.srv.checkLogin(p.ip, login, password)
	if err != nil {
		p.log.Warn("imap login failed", "login", store.SanitizeLog(login), "reason", err.Error())
		p.reply("%s NO %s", tag, err.Error())
		return "", false
	}
	p.who = who
	p.log.Info("imap login ok", "user", who.Address)
	p.reply("%s OK Logged in", tag)
	return who.Address, false
}

// authenticate runs AUTHENTICATE PLAIN (RFC 4616), with or without an
// initial response (SASL-IR).
func (p *preauth) authenticate(tag string, args []string) (string, bool) {
	if !strings.EqualFold(args[0], "PLAIN") {
		p.reply("%s NO unsupported mechanism: use PLAIN", tag)
		return "", false
	}
	if !p.isTLS {
		p.reply("%s NO [PRIVACYREQUIRED] TLS is required to log in: use STARTTLS or the IMAPS port", tag)
		return "", false
	}
	resp := ""
	if len(args) == 2 {
		resp = args[1]
		if resp == "=" {
			resp = ""
		}
	} else {
		p.reply("+ ")
		line, err := p.line()
		if err != nil {
			return "", true
		}
		if line == "*" {
			p.reply("%s BAD AUTHENTICATE cancelled", tag)
			return "", false
		}
		resp = line
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		p.reply("%s BAD invalid base64", tag)
		return "", false
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		p.reply("%s BAD malformed PLAIN response", tag)
		return "", false
	}
	authz, authc, pw := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != authc {
		// The identity is always the one that authenticated.
		p.reply("%s NO [AUTHORIZATIONFAILED] logging in as another user is not supported", tag)
		return "", false
	}
	return p.login(tag, authc, pw)
}

// line reads one line of the client's (the AUTHENTICATE response).
func (p *preauth) line() (string, error) { return goimapfix.ReadLine(p.br) }

// read reads one command, answering "+" to a synchronising literal.
func (p *preauth) read() (tag, name string, args []string, err error) {
	return goimapfix.ReadCommand(p.br, func() { p.reply("+ Ready for literal data") })
}

// checkLogin is the one login check of IMAP: the shared throttle and
// password check, for user logins only (a domain login has no mailbox).
// The store refuses other logins before their password is checked, and a
// login without "@" gets the hint whatever its password: no oracle.
func (s *Server) checkLogin(ip, login, password string) (store.Principal, error) {
	ctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
	defer cancel()
	p, err := s.cfg.Store.Login(ctx, store.ProtoIMAP, ip, login, password)
	s.cfg.Metrics.Auth(metrics.ProtoIMAP, err == nil && p.Kind == store.KindUser)
	switch {
	case errors.Is(err, store.ErrThrottled), errors.Is(err, store.ErrUnavailable):
		return p, errors.New("[UNAVAILABLE] " + err.Error())
	case err != nil && !strings.Contains(login, "@"):
		return p, errors.New("[AUTHENTICATIONFAILED] invalid login or password; a domain login has no mailbox, log in with an email address")
	case err != nil:
		return p, errors.New("[AUTHENTICATIONFAILED] invalid login or password")
	case p.Kind != store.KindUser:
		return store.Principal{}, errors.New("[AUTHENTICATIONFAILED] invalid login or password")
	}
	if err := s.cfg.Store.EnsureDefaultMailboxes(p.Address); err != nil {
		s.log.Error("imap: creating default mailboxes", "user", p.Address, "err", err)
		return store.Principal{}, errors.New("[SERVERBUG] internal error, see the server log")
	}
	return p, nil
}
